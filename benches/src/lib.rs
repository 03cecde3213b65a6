//! Criterion benchmarks for the socketio-rs crates, run side by side with other Rust
//! implementations. The benchmarks live in `benches/`; this library holds
//! the payloads the codec benches and the profiling example share.

use serde::{Deserialize, Serialize};

pub mod typed;

/// One record of the large event payloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// A number.
    pub id: u64,
    /// A short string.
    pub name: String,
    /// A small array of strings.
    pub tags: Vec<String>,
    /// A float.
    pub score: f64,
    /// A boolean.
    pub online: bool,
}

/// A large event argument: records until its JSON reaches the wanted size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// A string field before the records.
    pub room: String,
    /// The records.
    pub items: Vec<Item>,
}

/// A [`Batch`] whose JSON is at least `min_json_len` bytes long.
#[must_use]
pub fn batch(min_json_len: usize) -> Batch {
    let mut b = Batch {
        room: "lobby".to_owned(),
        items: Vec::new(),
    };
    let mut len = 0;
    let mut i = 0u32;
    while len < min_json_len {
        let item = Item {
            id: u64::from(i) * 7919,
            name: format!("user-{i:05}"),
            tags: vec![format!("t{}", i % 13), "member".to_owned()],
            score: f64::from(i) * 0.25,
            online: !i.is_multiple_of(3),
        };
        len += serde_json::to_string(&item).map_or(0, |s| s.len() + 1);
        b.items.push(item);
        i += 1;
    }
    b
}
