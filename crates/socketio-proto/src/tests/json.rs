//! The packet JSON writer against `serde_json::to_vec`: byte-identical output, and errors in
//! the same cases with the same messages.

use std::collections::BTreeMap;
use std::fmt;

use bytes::BytesMut;
use proptest::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::json::JsonWriter;

fn ours<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    let mut out = BytesMut::new();
    v.serialize(JsonWriter(&mut out, None))
        .map(|()| out.to_vec())
        .map_err(|e| e.to_string())
}

#[track_caller]
fn same<T: Serialize + ?Sized>(v: &T) {
    let theirs = serde_json::to_vec(v).map_err(|e| e.to_string());
    let mine = ours(v);
    assert_eq!(
        mine.as_ref().map(|b| String::from_utf8_lossy(b)),
        theirs.as_ref().map(|b| String::from_utf8_lossy(b))
    );
    assert_eq!(mine, theirs);
}

/// Strings with what JSON escapes, long clean runs and multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => any::<char>(),
        2 => (0_u8..0x20).prop_map(char::from),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{7f}'),
        1 => Just('😀'),
        4 => proptest::char::range('a', 'z'),
    ];
    prop_oneof![
        prop::collection::vec(ch, 0..40).prop_map(String::from_iter),
        ("[a-z]{0,30}", any::<char>(), "[a-z ]{0,30}").prop_map(|(a, c, b)| format!("{a}{c}{b}")),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(1e21),
        Just(1e-7),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)].prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        float().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    A,
    #[serde(rename = "b\"\n")]
    B,
}

#[derive(Clone, Debug, Serialize)]
enum Shape {
    Unit,
    New(String),
    Tuple(i8, Option<f64>, char),
    EmptyTuple(),
    Struct { a: u128, b: Vec<char>, c: f32 },
    EmptyStruct {},
    NewUnit(()),
}

#[derive(Clone, Debug, Serialize)]
struct UnitStruct;

#[derive(Clone, Debug, Serialize)]
struct TupleStruct(i16, u16, Option<String>);

#[derive(Clone, Debug, Serialize)]
struct Newtype(i128);

#[derive(Clone, Debug, Serialize)]
struct Typed {
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
    i128: i128,
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    u128: u128,
    f32: f32,
    f64: f64,
    ch: char,
    s: String,
    opt: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    unit: (),
    unit_struct: UnitStruct,
    tuple: (u8, String, bool),
    tuple_struct: TupleStruct,
    newtype: Newtype,
    shapes: Vec<Shape>,
    bytes: PlainBytes,
    by_string: BTreeMap<String, i32>,
    by_i32: BTreeMap<i32, bool>,
    by_u64: BTreeMap<u64, ()>,
    by_i128: BTreeMap<i128, u8>,
    by_bool: BTreeMap<bool, u8>,
    by_char: BTreeMap<char, u8>,
    by_key: BTreeMap<Key, u8>,
    by_float: FloatKeys,
    #[serde(rename = "quote\"d\u{1}")]
    renamed: Option<Box<Shape>>,
}

/// Bytes that go through `serialize_bytes`.
#[derive(Clone, Debug)]
struct PlainBytes(Vec<u8>);

impl Serialize for PlainBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

/// A map with float keys (finite or not).
#[derive(Clone, Debug)]
struct FloatKeys(Vec<(f64, f32)>);

impl Serialize for FloatKeys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, k32) in &self.0 {
            m.serialize_entry(k, &1)?;
            m.serialize_entry(k32, &2)?;
        }
        m.end()
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Unit),
        text().prop_map(Shape::New),
        (any::<i8>(), proptest::option::of(float()), any::<char>())
            .prop_map(|(a, b, c)| Shape::Tuple(a, b, c)),
        Just(Shape::EmptyTuple()),
        (
            any::<u128>(),
            prop::collection::vec(any::<char>(), 0..4),
            any::<f32>()
        )
            .prop_map(|(a, b, c)| Shape::Struct { a, b, c }),
        Just(Shape::EmptyStruct {}),
        Just(Shape::NewUnit(())),
    ]
}

prop_compose! {
    fn ints()(
        i8 in any::<i8>(), i16 in any::<i16>(), i32 in any::<i32>(), i64 in any::<i64>(),
        i128 in any::<i128>(), u8 in any::<u8>(), u16 in any::<u16>(), u32 in any::<u32>(),
        u64 in any::<u64>(), u128 in any::<u128>(),
    ) -> (i8, i16, i32, i64, i128, u8, u16, u32, u64, u128) {
        (i8, i16, i32, i64, i128, u8, u16, u32, u64, u128)
    }
}

prop_compose! {
    fn maps()(
        by_string in prop::collection::btree_map(text(), any::<i32>(), 0..4),
        by_i32 in prop::collection::btree_map(any::<i32>(), any::<bool>(), 0..4),
        by_u64 in prop::collection::btree_map(any::<u64>(), Just(()), 0..4),
        by_i128 in prop::collection::btree_map(any::<i128>(), any::<u8>(), 0..4),
        by_bool in prop::collection::btree_map(any::<bool>(), any::<u8>(), 0..3),
        by_char in prop::collection::btree_map(any::<char>(), any::<u8>(), 0..4),
        by_key in prop::collection::btree_map(prop_oneof![Just(Key::A), Just(Key::B)], any::<u8>(), 0..3),
        by_float in prop::collection::vec((float(), any::<f32>()), 0..3),
    ) -> (
        BTreeMap<String, i32>, BTreeMap<i32, bool>, BTreeMap<u64, ()>, BTreeMap<i128, u8>,
        BTreeMap<bool, u8>, BTreeMap<char, u8>, BTreeMap<Key, u8>, FloatKeys,
    ) {
        (by_string, by_i32, by_u64, by_i128, by_bool, by_char, by_key, FloatKeys(by_float))
    }
}

prop_compose! {
    fn typed()(
        (i8, i16, i32, i64, i128, u8, u16, u32, u64, u128) in ints(),
        f32 in any::<f32>(),
        f64 in float(),
        ch in any::<char>(),
        s in text(),
        opt in proptest::option::of(any::<u8>()),
        skipped in proptest::option::of(text()),
        tuple in (any::<u8>(), text(), any::<bool>()),
        tuple_struct in (any::<i16>(), any::<u16>(), proptest::option::of(text())),
        newtype in any::<i128>(),
        shapes in prop::collection::vec(shape(), 0..4),
        bytes in prop::collection::vec(any::<u8>(), 0..12),
        (by_string, by_i32, by_u64, by_i128, by_bool, by_char, by_key, by_float) in maps(),
        renamed in proptest::option::of(shape()),
    ) -> Typed {
        Typed {
            i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, f32, f64, ch, s, opt, skipped,
            unit: (),
            unit_struct: UnitStruct,
            tuple,
            tuple_struct: TupleStruct(tuple_struct.0, tuple_struct.1, tuple_struct.2),
            newtype: Newtype(newtype),
            shapes,
            bytes: PlainBytes(bytes),
            by_string, by_i32, by_u64, by_i128, by_bool, by_char, by_key, by_float,
            renamed: renamed.map(Box::new),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn values_are_written_as_serde_json_writes_them(v in value()) {
        same(&v);
        // Also as a packet writes them: an event's array around the value.
        same(&("event", &v));
    }

    #[test]
    fn typed_values_are_written_as_serde_json_writes_them(t in typed()) {
        same(&t);
        same(&t.shapes);
        same(&(&t.f32, &t.f64, &t.ch, &t.bytes));
    }

    #[test]
    fn raw_values_are_written_as_they_are(v in value()) {
        let raw = RawValue::from_string(serde_json::to_string(&v).unwrap()).unwrap();
        same(&raw);
        same(&vec![raw.clone(), raw]);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them(s in text(), c in any::<char>()) {
        same(&s);
        same(&c);
        same(&std::iter::repeat_n(s.as_str(), 5).collect::<String>());
    }
}

/// Integers at every change of digit count, and the ends of every integer type, as values
/// and as map keys.
#[test]
fn integers_at_every_digit_count_are_written_as_serde_json_writes_them() {
    let mut edges = vec![0_u64, 1, 9, u64::MAX, u64::MAX - 1];
    let mut p = 1_u64;
    while let Some(next) = p.checked_mul(10) {
        edges.extend([next - 1, next, next + 1]);
        p = next;
    }
    for &v in &edges {
        same(&v);
        same(&BTreeMap::from([(v, v)]));
        if let Ok(i) = i64::try_from(v) {
            same(&i);
            same(&-i);
            same(&BTreeMap::from([(-i, -i)]));
        }
        same(&(v as u32, v as i32, v as u16, v as i16, v as u8, v as i8));
        same(&(
            v as usize,
            v as isize,
            u128::from(v) * 1000,
            -i128::from(v) * 1000,
        ));
    }
    same(&(i64::MIN, i32::MIN, i16::MIN, i8::MIN, i128::MIN, u128::MAX));
    same(&BTreeMap::from([(i64::MIN, i8::MIN)]));
}

/// Sequences collected from iterators whose length is known, and not known, up front.
#[test]
fn collected_sequences_are_written_as_serde_json_writes_them() {
    /// The numbers below `.0` that are even, collected without a known length.
    struct Evens(u8);
    impl Serialize for Evens {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq((0..self.0).filter(|n| n % 2 == 0))
        }
    }
    for n in [0, 1, 2, 7] {
        same(&Evens(n));
        same(&vec![Evens(n), Evens(n + 1)]);
        same(&vec![vec!["a"; usize::from(n)]; usize::from(n)]);
        same(
            &(0..n)
                .map(|i| format!("{i}"))
                .collect::<std::collections::VecDeque<_>>(),
        );
    }
}

#[test]
fn map_keys_that_are_not_strings_fail_as_in_serde_json() {
    #[derive(Serialize)]
    enum Variants {
        New(u8),
        Tup(u8, u8),
        Str { a: u8 },
    }
    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    struct Wrapped(String);

    /// A one-entry map with key `K`.
    struct One<K>(K);
    impl<K: Serialize> Serialize for One<K> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            m.serialize_entry(&self.0, &0)?;
            m.end()
        }
    }
    same(&One(()));
    same(&One(UnitStruct));
    same(&One(None::<u8>));
    same(&One(Some(7_u8)));
    same(&One(Some("x")));
    same(&One((1, 2)));
    same(&One(vec![1]));
    same(&One(PlainBytes(vec![1])));
    same(&One(Variants::New(1)));
    same(&One(Variants::Tup(1, 2)));
    same(&One(Variants::Str { a: 1 }));
    same(&One(BTreeMap::<u8, u8>::new()));
    same(&One(Wrapped("w\"".into())));
    same(&One(Newtype(-5)));
    same(&One(f64::NAN));
    same(&One(f32::INFINITY));
    same(&One(f64::NEG_INFINITY));
    same(&One(-0.0_f64));
    same(&One(1e300_f64));
    same(&One(Key::B));
    same(&One('\u{0}'));
    same(&One(Display("a\"b\n")));
    same(&One(u128::MAX));
    same(&One(i128::MIN));
    same(&One(true));
}

/// Written through `collect_str`.
struct Display(&'static str);

impl Serialize for Display {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Display {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In pieces, as `Display` impls often write.
        for c in self.0.chars() {
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Sequences and maps that declare a length and then do not keep to it.
struct Odd(Option<usize>, usize, bool);

impl Serialize for Odd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.2 {
            let mut m = s.serialize_map(self.0)?;
            for i in 0..self.1 {
                m.serialize_entry(&i, &i)?;
            }
            m.end()
        } else {
            let mut q = s.serialize_seq(self.0)?;
            for i in 0..self.1 {
                q.serialize_element(&i)?;
            }
            q.end()
        }
    }
}

#[test]
fn declared_lengths_are_handled_as_in_serde_json() {
    for len in [None, Some(0), Some(1), Some(3)] {
        for n in 0..4 {
            same(&Odd(len, n, false));
            same(&Odd(len, n, true));
        }
    }
}

#[test]
fn edge_values_are_written_as_serde_json_writes_them() {
    same(&Display("plain"));
    same(&Display("\u{1}\"\\é😀"));
    same(&PlainBytes(vec![]));
    same(&PlainBytes((0..=255).collect()));
    same(&(
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0_f32,
        f32::MIN_POSITIVE,
    ));
    same(&(
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0_f64,
        5e-324_f64,
    ));
    same(&(
        1e15_f64,
        1e16_f64,
        1e17_f64,
        0.1_f32,
        16_777_216_f32,
        1e-5_f64,
    ));
    same(&(
        i128::MIN,
        i128::MAX,
        u128::MAX,
        u128::MIN,
        i64::MIN,
        u64::MAX,
    ));
    same(&(i8::MIN, i16::MIN, i32::MIN, u8::MAX, u16::MAX, u32::MAX));
    same(&Shape::EmptyTuple());
    same(&Shape::EmptyStruct {});
    same(&Shape::NewUnit(()));
    same(&Shape::Tuple(1, None, '\t'));
    same(&vec![Some(UnitStruct), None]);
    same(&());
    same(&"");
    same(&'"');
    same(&Value::Object(serde_json::Map::new()));
    same(&Value::Array(vec![]));
    same(&BTreeMap::<String, u8>::new());
}

/// The private token structs of serde_json, also when misused.
struct Token(&'static str, &'static str, Value);

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct(self.0, 1)?;
        st.serialize_field(self.1, &self.2)?;
        st.end()
    }
}

#[test]
fn token_structs_are_handled_as_in_serde_json() {
    const RAW: &str = "$serde_json::private::RawValue";
    const NUMBER: &str = "$serde_json::private::Number";
    for name in [RAW, NUMBER, "$other"] {
        for key in [RAW, NUMBER, "x"] {
            for v in [
                Value::from("[1, 2]"),
                Value::from(1.5),
                Value::Null,
                Value::from(vec![1]),
            ] {
                same(&Token(name, key, v.clone()));
                same(&vec![Token(name, key, v)]);
            }
        }
    }
    let raw = RawValue::from_string(" {\"a\" : 1} ".into()).unwrap();
    same(&raw);
    same(&BTreeMap::from([("k", raw)]));
}

/// An error from a `Serialize` impl partway through.
struct Fails;

impl Serialize for Fails {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(None)?;
        q.serialize_element(&1)?;
        Err(serde::ser::Error::custom("fails at line 3 column 4"))
    }
}

#[test]
fn custom_errors_come_through_as_in_serde_json() {
    same(&Fails);
    same(&(1, Fails));
    same(&BTreeMap::from([("k", Fails)]));
}

/// A struct with the given field names, each holding its index; `len` is the declared length.
struct Fields(Vec<&'static str>, usize);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Fields", self.1)?;
        for (i, &key) in self.0.iter().enumerate() {
            st.serialize_field(key, &i)?;
        }
        st.end()
    }
}

/// Field names are written on their own paths (up to 7 bytes, 8 to 16, longer): every length
/// around those bounds, clean and with an escape or a multi-byte character at every place.
#[test]
fn field_names_are_written_as_serde_json_writes_them() {
    let mut keys: Vec<&'static str> = Vec::new();
    for n in 0..=20 {
        keys.push(String::leak("k".repeat(n)));
        for at in 0..n {
            for c in ["\"", "\\", "\u{1}", "\u{1f}", "é", "\u{7f}"] {
                let mut key = "k".repeat(n);
                key.replace_range(at..=at, c);
                keys.push(String::leak(key));
            }
        }
    }
    for window in keys.chunks(3) {
        same(&Fields(window.to_vec(), window.len()));
        // A declared length of 0 that is not kept: serde_json writes a comma before each
        // field, the first one included.
        same(&Fields(window.to_vec(), 0));
    }
    same(&Fields(keys, 1));
}
