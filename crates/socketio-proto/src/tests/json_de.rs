//! The crate's own JSON reader (`json_de`) against serde_json: every read it completes gives
//! serde_json's value, and it is the one doing the reading for common payloads.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Payload;
use crate::de::{FIND_NAME, NO_NAME, read_args, read_whole};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    A,
    B(u8),
    C { z: bool },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Wrapper(u32);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Unit;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    x: i16,
    s: String,
}

/// A record with a field of every kind the reader handles or leaves to serde_json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Rec {
    a: u8,
    b: i64,
    c: f64,
    d: String,
    e: Option<String>,
    f: Vec<u16>,
    g: bool,
    h: char,
    i: BTreeMap<String, i32>,
    j: (u32, Option<bool>),
    k: Vec<Inner>,
    l: Kind,
    m: f32,
    n: i128,
    o: BTreeMap<u8, u8>,
    p: (),
    q: Wrapper,
    r: Unit,
    #[serde(default)]
    s: Option<Option<u64>>,
    t: Value,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]{0,12}",
        1 => ".{0,8}",
        1 => prop::sample::select(vec!["\"", "\\", "\u{1}", "é", "\u{2028}", "😀"]).prop_map(str::to_owned),
    ]
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000_i32..1000).prop_map(f64::from),
        (-100_000_i32..100_000).prop_map(|n| f64::from(n) / 100.0),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        double().prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn rec()(
        a in any::<u8>(), b in any::<i64>(), c in double(), d in text(), e in proptest::option::of(text()),
        f in prop::collection::vec(any::<u16>(), 0..4), g in any::<bool>(), h in any::<char>(),
        i in prop::collection::btree_map(text(), any::<i32>(), 0..3),
        j in (any::<u32>(), proptest::option::of(any::<bool>())),
        k in prop::collection::vec((any::<i16>(), text()).prop_map(|(x, s)| Inner { x, s }), 0..3),
        l in prop_oneof![Just(Kind::A), any::<u8>().prop_map(Kind::B), any::<bool>().prop_map(|z| Kind::C { z })],
        m in any::<f32>().prop_filter("finite", |v| v.is_finite()), n in any::<i128>(),
        o in prop::collection::btree_map(any::<u8>(), any::<u8>(), 0..3),
        s in proptest::option::of(proptest::option::of(any::<u64>())), t in json(),
    ) -> Rec {
        Rec { a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p: (), q: Wrapper(a.into()), r: Unit, s, t }
    }
}

/// `json` with whitespace put in, a token put in, or a byte taken out, somewhere.
fn mangle(json: String, at: prop::sample::Index, how: u8, token: &str) -> String {
    let cuts: Vec<usize> = (0..=json.len())
        .filter(|&i| json.is_char_boundary(i))
        .collect();
    let i = cuts[at.index(cuts.len())];
    match how {
        0 => json,
        1 => format!("{} \n\t{}", &json[..i], &json[i..]),
        2 => format!("{}{token}{}", &json[..i], &json[i..]),
        _ => {
            let j = cuts.iter().copied().find(|&j| j > i).unwrap_or(i);
            format!("{}{}", &json[..i], &json[j..])
        }
    }
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\"",
        "0",
        "-",
        "-0",
        ".5",
        "e5",
        "01",
        "true",
        "nul",
        "\\",
        "\\u00e9",
        "\u{1}",
        "18446744073709551616",
        "1e400",
    ])
}

/// The fast reader, when it completes, and serde_json agree.
fn agree<T: DeserializeOwned + PartialEq + std::fmt::Debug>(
    json: &str,
) -> Result<(), TestCaseError> {
    if let Ok(fast) = read_whole::<T>(json) {
        let theirs = serde_json::from_str::<T>(json);
        prop_assert_eq!(Some(fast), theirs.ok(), "{}", json);
    }
    let args = format!("[\"ev\", {json}, 1]");
    for name in [FIND_NAME, NO_NAME] {
        if let Ok(fast) = read_args::<(Value, T)>(&args, &[], name, true) {
            let theirs = read_args::<(Value, T)>(&args, &[], name, false);
            prop_assert_eq!(Some(fast), theirs.ok(), "{}", args);
        }
    }
    // Through the public reads: whatever the fast reader did, the result is serde_json's.
    let p = Payload::from_json(args.as_str());
    prop_assert_eq!(
        p.event_args::<(T,)>().ok(),
        crate::de::args_reference::<(T,)>(&p, true).ok()
    );
    prop_assert_eq!(
        p.deserialize::<Value>().ok(),
        serde_json::from_str::<Value>(&args).ok()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn typed_reads_agree_with_serde_json(
        r in rec(), at in any::<prop::sample::Index>(), how in 0_u8..4, token in token(),
    ) {
        let json = mangle(serde_json::to_string(&r).unwrap_or_default(), at, how, token);
        agree::<Rec>(&json)?;
        agree::<Value>(&json)?;
        agree::<BTreeMap<String, Value>>(&json)?;
        // The record as an array of its fields: serde_json reads structs from arrays too.
        let fields: Vec<Value> = match serde_json::to_value(&r) {
            Ok(Value::Object(m)) => m.into_iter().map(|(_, v)| v).collect(),
            _ => Vec::new(),
        };
        let as_array = mangle(serde_json::to_string(&fields).unwrap_or_default(), at, how, token);
        agree::<Rec>(&as_array)?;
    }

    #[test]
    fn value_reads_agree_with_serde_json(
        v in json(), at in any::<prop::sample::Index>(), how in 0_u8..4, token in token(),
    ) {
        let json = mangle(serde_json::to_string(&v).unwrap_or_default(), at, how, token);
        agree::<Value>(&json)?;
        agree::<Vec<Value>>(&json)?;
        agree::<(Option<i64>, String)>(&json)?;
        agree::<Option<Vec<u8>>>(&json)?;
        agree::<BTreeMap<String, (bool,)>>(&json)?;
        agree::<f64>(&json)?;
        agree::<i64>(&json)?;
        agree::<u64>(&json)?;
        agree::<char>(&json)?;
        agree::<String>(&json)?;
        agree::<()>(&json)?;
        agree::<serde::de::IgnoredAny>(&json)?;
    }
}

/// Common payloads are read by the crate's reader itself, not handed to serde_json.
#[test]
fn common_payloads_are_read_without_serde_json() {
    let rec = r#"{"id":42,"name":"user-00042","tags":["t3","member"],"score":10.5,"online":true,"extra":null,"nested":{"a":[1,-2,{"b":"c"}]}}"#;
    assert!(read_whole::<Value>(rec).is_ok());
    let args = format!(r#"["chat",{rec},"hi",-17,0,true]"#);
    assert!(read_args::<Vec<Value>>(&args, &[], FIND_NAME, true).is_ok());
    assert!(read_args::<(Value, String, i64, u8, bool)>(&args, &[], FIND_NAME, true).is_ok());
    // Escapes and fractions are handed to serde_json for that string or number only.
    assert_eq!(
        read_whole::<(String, f64, String)>(r#"["a\"b\u00e9", 1.5e3, "x"]"#).ok(),
        Some(("a\"b\u{e9}".to_owned(), 1500.0, "x".to_owned()))
    );
}

/// What serde_json refuses, the reader does not take; what it leaves to serde_json
/// (numbers it does not read itself) comes out as serde_json reads it.
#[test]
fn the_reader_gives_up_where_serde_json_decides() {
    for json in [
        "01",
        "1.",
        "[1,]",
        "{\"a\":1,}",
        "[1 2]",
        "{\"a\" 1}",
        "\"\u{1}\"",
        "tru",
        "nulll",
        "\"\\x\"",
        "\"\\ud800\"",
        "[",
        "{",
        "\"abc",
        "",
        " ",
        "1e400",
        "-",
        "--1",
        "1e",
        "[01]",
    ] {
        assert!(read_whole::<Value>(json).is_err(), "{json:?}");
        assert!(serde_json::from_str::<Value>(json).is_err(), "{json:?}");
    }
    for json in [
        "-0",
        "18446744073709551616",
        "-9223372036854775809",
        "1.5e-3",
        "[-0.0, 1E2]",
    ] {
        let ours = read_whole::<Value>(json).map(|v| v.to_string());
        let theirs = serde_json::from_str::<Value>(json).map(|v| v.to_string());
        assert_eq!(ours.ok(), theirs.ok(), "{json:?}");
    }
    // Enums, 128-bit integers and numeric keys: serde_json's own ways.
    assert!(read_whole::<Kind>("\"A\"").is_err());
    assert!(read_whole::<i128>("1").is_err());
    assert!(read_whole::<BTreeMap<u8, u8>>("{\"1\":2}").is_err());
    // Nesting past the reader's depth.
    let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    assert!(read_whole::<Value>(&deep).is_err());
    assert!(serde_json::from_str::<Value>(&deep).is_ok());
    let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(read_whole::<Value>(&shallow).is_ok());
}

/// A payload the deferring decoder built (it knows where the arguments start) equals and
/// hashes as the same payload built by hand, and reads the same arguments.
#[test]
fn decoded_payloads_equal_hand_built_ones() {
    use std::hash::{BuildHasher, RandomState};

    use crate::{DecodeLimits, Decoder, Packet};

    let text = r#"2["chat" , {"a":1}, "x"]"#;
    let decoded = Decoder::new(DecodeLimits::default())
        .defer_json_check(true)
        .decode_text(text.into());
    let Ok(Some(Packet::Event { data, .. })) = decoded else {
        panic!("decodes: {decoded:?}");
    };
    let by_hand = Payload::from_json(&text[1..]);
    assert_eq!(data, by_hand);
    assert_eq!(data.json(), &text[1..]);
    assert_eq!(data.json_text(), by_hand.json_text());
    assert_eq!(data.clone().into_parts(), by_hand.clone().into_parts());
    assert_eq!(data.len(), by_hand.len());
    let hasher = RandomState::new();
    assert_eq!(hasher.hash_one(&data), hasher.hash_one(&by_hand));
    assert_eq!(format!("{data:?}"), format!("{by_hand:?}"));
    let ours = data.event_args::<(Value, String)>().ok();
    assert_eq!(ours, by_hand.event_args::<(Value, String)>().ok());
    assert_eq!(ours.map(|a| a.1), Some("x".to_owned()));
}

/// Binary payloads with one to three attachments, built by the decoder (with the JSON check
/// in full and deferred), equal, hash and print as the same payloads built by hand, read the
/// same arguments, and give their attachments back in order.
#[test]
fn decoded_binary_payloads_equal_hand_built_ones() {
    use std::hash::{BuildHasher, RandomState};

    use bytes::Bytes;

    use crate::{Binary, DecodeLimits, Decoder, Packet};

    let hasher = RandomState::new();
    for n in 1..=3_u8 {
        let atts: Vec<Bytes> = (0..n).map(|i| Bytes::from(vec![i; 3])).collect();
        let places: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
            .collect();
        let json = format!(r#"["bin",{}]"#, places.join(","));
        for defer in [false, true] {
            let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(defer);
            assert_eq!(d.decode_text(format!("5{n}-{json}").into()), Ok(None));
            let mut last = None;
            for a in &atts {
                assert!(last.is_none(), "complete before its last attachment");
                last = d.decode_binary(a.clone()).expect("decodes");
            }
            let Some(Packet::Event { data, .. }) = last else {
                panic!("no event: {last:?}");
            };
            let by_hand = Payload::new(json.clone().into(), atts.clone());
            assert_eq!(data, by_hand);
            assert_eq!(hasher.hash_one(&data), hasher.hash_one(&by_hand));
            assert_eq!(format!("{data:?}"), format!("{by_hand:?}"));
            assert_eq!(data.attachments(), &atts[..]);
            let read = data.event_args::<Vec<Binary>>().expect("reads");
            assert_eq!(read, by_hand.event_args::<Vec<Binary>>().expect("reads"));
            assert_eq!(read.iter().map(|b| b.0.clone()).collect::<Vec<_>>(), atts);
            assert_eq!(
                data.clone().into_parts(),
                (json.clone().into(), atts.clone())
            );
            assert_eq!(data.json_text(), json.as_str());
            assert_eq!(data.len(), by_hand.len());
        }
    }
}
