//! The crate's own JSON reader against serde_json: any text read as a payload (whole, and as
//! an event's arguments) must give exactly what serde_json gives, value or error message.
//! The reader hands whatever it does not take itself to serde_json, so any difference is a
//! value it read wrongly or a text it accepted that serde_json refuses.
#![no_main]

use std::fmt;

use libfuzzer_sys::fuzz_target;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use socketio_proto::{ArgsError, Payload};

/// serde_json's verdict on `text` as a `T`, in the crate's error type.
macro_rules! theirs {
    ($t:ty, $text:expr) => {
        serde_json::from_str::<$t>($text).map_err(|e| ArgsError::Deserialize(e.to_string()))
    };
}

/// The second element of an array whose first is a string and that has at least two; the
/// others skipped (`IgnoredAny`).
struct SecondElement(Value);

impl<'de> Deserialize<'de> for SecondElement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecondElement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event's arguments")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecondElement, A::Error> {
                let missing = || de::Error::custom("missing");
                seq.next_element::<String>()?.ok_or_else(missing)?;
                let v = seq.next_element::<Value>()?.ok_or_else(missing)?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SecondElement(v))
            }
        }
        d.deserialize_seq(V)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Payload::from_json(text);
    assert_eq!(p.deserialize::<Value>(), theirs!(Value, text), "{text:?}");
    assert_eq!(
        p.deserialize::<(String, Option<i64>, Vec<f64>)>(),
        theirs!((String, Option<i64>, Vec<f64>), text),
        "{text:?}"
    );
    // As arguments: `["e", <text>]`, the first argument read must be what serde_json reads
    // as the second element, the elements after it skipped as serde_json skips a value.
    let args = format!(r#"["e",{text}]"#);
    let p = Payload::from_json(args.as_str());
    let ours = p.event_args::<(Value,)>().ok().map(|t| t.0);
    let reference = serde_json::from_str::<SecondElement>(&args)
        .ok()
        .map(|s| s.0);
    assert_eq!(ours, reference, "{args:?}");
});
