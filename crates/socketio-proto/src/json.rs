//! A compact-JSON `serde::Serializer` writing straight into a `BytesMut`.
//!
//! Its output is byte for byte what `serde_json::to_writer` writes for the same value
//! (`src/tests/json.rs` checks it); what it does differently is the string escaping: texts
//! shorter than 8 bytes are checked as one word and written with one store, longer ones are
//! checked 32 bytes (four words) at a time, and the runs between escapes are copied in bulk.
//!
//! The methods that open, fill and close arrays and objects are inlined into the caller's
//! `Serialize` impl (`#[inline(always)]` for struct fields). A derived impl passes each field
//! name as a literal, so there the name, its quotes, the `,` and the `:` fold into one
//! constant store; called out of line, each field cost a call and a run-time escape check of
//! its name. `collect_seq` (what `Vec` and slices call) is serde's own, restated only to be
//! inlined.

use std::cell::Cell;
use std::fmt::Display;

use bytes::BytesMut;
use serde::ser::{
    Error as _, Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct,
    SerializeStructVariant, SerializeTuple, SerializeTupleStruct, SerializeTupleVariant,
    Serializer,
};
use serde_json::Error;

use crate::ser::Collector;

/// The struct name and field name through which `serde_json::value::RawValue` hands its text
/// to serde_json's serializer.
const RAW_TOKEN: &str = "$serde_json::private::RawValue";

/// The same for `serde_json::Number` when serde_json has its `arbitrary_precision` feature.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// A struct that serialises as the private token struct `name`, holding `"0"`.
struct TokenProbe(&'static str);

impl Serialize for TokenProbe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct(self.0, 1)?;
        st.serialize_field(self.0, "0")?;
        st.end()
    }
}

/// Whether the serde_json linked in treats the token struct `name` as raw text: that depends
/// on its features, which this crate does not choose, so it is asked once.
fn serde_json_takes(name: &'static str) -> bool {
    serde_json::to_vec(&TokenProbe(name)).is_ok_and(|v| v == b"0")
}

thread_local! {
    /// What [`serde_json_takes`] said for the two tokens, asked once per thread (a per-thread
    /// cache rather than a global one: this crate takes no locks).
    static TOKENS: Cell<Option<Tokens>> = const { Cell::new(None) };
}

/// Whether serde_json writes each token struct as raw text.
#[derive(Clone, Copy)]
struct Tokens {
    raw: bool,
    number: bool,
}

fn tokens() -> Tokens {
    TOKENS.with(|cached| {
        cached.get().unwrap_or_else(|| {
            let tokens = Tokens {
                raw: serde_json_takes(RAW_TOKEN),
                number: serde_json_takes(NUMBER_TOKEN),
            };
            cached.set(Some(tokens));
            tokens
        })
    })
}

/// Writes compact JSON at the end of the buffer.
///
/// With a collector, bytes values (`serialize_bytes`, which [`crate::Binary`] calls) are
/// taken out as attachments and written as their `{"_placeholder":true,"num":N}`; without
/// one they are arrays of numbers, as serde_json writes them. The collector rides along in
/// the writer itself rather than in a serializer wrapped around it, so that a value costs
/// one serializer call, not two.
pub(crate) struct JsonWriter<'a>(
    pub(crate) &'a mut BytesMut,
    pub(crate) Option<&'a Collector>,
);

/// The high bit of every byte of `word` that is a control character, `"` or `\`: exact for
/// every byte (no borrow or carry crosses a byte).
#[inline]
fn needs_escape(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let eq = |c: u8| {
        let t = word ^ (ONES * u64::from(c));
        !((((t & LOW7) + LOW7) | t) | LOW7)
    };
    // `(b & 0x7f) + 0x60` reaches 0x80 exactly when `b & 0x7f >= 0x20`; bytes with the high
    // bit set are never control characters.
    let control = !(((word & LOW7) + ONES * 0x60) | word) & HIGH;
    control | eq(b'"') | eq(b'\\')
}

/// Non-zero when some byte of `word` needs an escape: a cheaper test than [`needs_escape`],
/// whose answer is exact only as to whether there is one.
#[inline(always)]
fn any_escape(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    // `x - 1` borrows into a byte's high bit, that byte's high bit being clear, exactly when
    // some byte below is `0` (for `x - 0x20`: below `0x20`).
    ((word.wrapping_sub(ONES * 0x20) & !word)
        | (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash))
        & HIGH
}

/// Appends the escape sequence of `byte`, one of the bytes [`needs_escape`] finds.
#[cold]
#[inline(never)]
fn write_escape(out: &mut BytesMut, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// The bytes of `b` (shorter than 8) as a little-endian word, zero above them.
#[inline]
fn load_short(b: &[u8]) -> u64 {
    let n = b.len();
    if let (Some(lo), Some(hi)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        // The two halves overlap when `n < 8`; where they do, they hold the same bytes.
        u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4))
    } else if let (Some(&first), Some(&last)) = (b.first(), b.last()) {
        u64::from(first) | u64::from(b[n / 2]) << (8 * (n / 2)) | u64::from(last) << (8 * (n - 1))
    } else {
        0
    }
}

/// Appends the escapes found in `hits` (of the word at `b[base..]`), each after the clean run
/// in front of it; `start` is where that run begins, moved past each escape.
#[inline]
fn write_hits(out: &mut BytesMut, b: &[u8], base: usize, mut hits: u64, start: &mut usize) {
    while hits != 0 {
        let i = base + (hits.trailing_zeros() / 8) as usize;
        out.extend_from_slice(&b[*start..i]);
        write_escape(out, b[i]);
        *start = i + 1;
        hits &= hits - 1;
    }
}

/// Whether the first `n` bytes of `word` (`n < 8`, zero above them, as [`load_short`]
/// gives them) hold nothing to escape. Exact: a false hit of [`any_escape`] is always above
/// a true one, and the zero bytes above `n` are masked off.
#[inline(always)]
fn short_is_clean(word: u64, n: usize) -> bool {
    any_escape(word) & ((1_u64 << (8 * n)) - 1) == 0
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it: `"`, `\` and the control
/// characters, nothing else.
#[inline(always)]
fn write_str(out: &mut BytesMut, s: &str) {
    let b = s.as_bytes();
    let n = b.len();
    if n < 8 {
        let word = load_short(b);
        if short_is_clean(word, n) {
            // One 16-byte store of the quotes and the text, cut back to their length: cheaper
            // than a copy of a variable length.
            let quoted = u128::from(word | u64::from(b'"') << (8 * n)) << 8 | u128::from(b'"');
            let len = out.len();
            out.extend_from_slice(&quoted.to_le_bytes());
            out.truncate(len + n + 2);
            return;
        }
    } else if n <= 16
        && let Some(buf) = quoted_mid(b, 0)
    {
        let len = out.len();
        out.extend_from_slice(&buf[..24]);
        out.truncate(len + n + 2);
        return;
    }
    write_str_long(out, b);
}

/// `b` (8 to 16 bytes, nothing to escape) quoted, at `at` of a buffer (`at` is 0 or 1).
#[inline(always)]
fn quoted_mid(b: &[u8], at: usize) -> Option<[u8; 32]> {
    let (lo, hi) = (b.first_chunk::<8>()?, b.last_chunk::<8>()?);
    if any_escape(u64::from_le_bytes(*lo)) | any_escape(u64::from_le_bytes(*hi)) != 0 {
        return None;
    }
    let n = b.len();
    let mut buf = [0_u8; 32];
    buf[at] = b'"';
    buf[at + 1..at + 9].copy_from_slice(lo);
    buf[at + n - 7..at + n + 1].copy_from_slice(hi);
    buf[at + n + 1] = b'"';
    Some(buf)
}

/// Appends a struct field's key with its `:`, and a `,` in front unless it is the first.
/// Keys up to 16 bytes with nothing to escape are put together on the stack and written
/// with one fixed-size store, cut back to their length: cheaper than the three appends of
/// the general way, one of them a copy of a variable length.
#[inline(always)]
fn write_key(out: &mut BytesMut, key: &str, first: bool) {
    let b = key.as_bytes();
    let n = b.len();
    let skip = usize::from(first);
    let len = out.len();
    if n < 8 {
        let word = load_short(b);
        if short_is_clean(word, n) {
            let mut buf = [0_u8; 24];
            buf[0] = b',';
            buf[1] = b'"';
            buf[2..10].copy_from_slice(&word.to_le_bytes());
            buf[n + 2] = b'"';
            buf[n + 3] = b':';
            out.extend_from_slice(&buf[skip..skip + 16]);
            out.truncate(len + n + 4 - skip);
            return;
        }
    } else if n <= 16
        && let Some(mut buf) = quoted_mid(b, 1)
    {
        buf[0] = b',';
        buf[n + 3] = b':';
        out.extend_from_slice(&buf[skip..skip + 24]);
        out.truncate(len + n + 4 - skip);
        return;
    }
    if !first {
        out.extend_from_slice(b",");
    }
    write_str_long(out, b);
    out.extend_from_slice(b":");
}

/// [`write_str`] for texts longer than 16 bytes, or with something to escape.
fn write_str_long(out: &mut BytesMut, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.extend_from_slice(b"\"");
    // `b[start..]` is not written yet.
    let mut start = 0;
    let mut at = 0;
    // 32 bytes at a time while there are: one branch for four words.
    while let Some(block) = b.get(at..).and_then(<[u8]>::first_chunk::<32>) {
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&block[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let words = [word(0), word(1), word(2), word(3)];
        if words.iter().fold(0, |any, &w| any | any_escape(w)) != 0 {
            for (i, &w) in words.iter().enumerate() {
                write_hits(out, b, at + i * 8, needs_escape(w), &mut start);
            }
        }
        at += 32;
    }
    while let Some(word) = b.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let hits = needs_escape(u64::from_le_bytes(*word));
        write_hits(out, b, at, hits, &mut start);
        at += 8;
    }
    let rest = b.len() - at;
    if rest > 0 {
        match b.last_chunk::<8>() {
            // The last 8 bytes, without the lanes already looked at.
            Some(word) => {
                let hits = needs_escape(u64::from_le_bytes(*word)) & (!0 << (8 * (8 - rest)));
                write_hits(out, b, b.len() - 8, hits, &mut start);
            }
            None => {
                let hits = needs_escape(load_short(b)) & ((1_u64 << (8 * rest)) - 1);
                write_hits(out, b, 0, hits, &mut start);
            }
        }
    }
    out.extend_from_slice(&b[start..]);
    out.extend_from_slice(b"\"");
}

#[inline]
fn write_int<T: itoa::Integer + TryInto<u8> + Copy>(out: &mut BytesMut, v: T) {
    match v.try_into() {
        // One digit: one byte.
        Ok(d @ 0..=9) => out.extend_from_slice(&[b'0' + d]),
        _ => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
    }
}

#[inline]
fn write_float(out: &mut BytesMut, v: impl zmij::Float) {
    out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
}

/// Where a sequence or map is: serde_json's states, plus the two raw-text structs.
#[derive(Clone, Copy, Eq, PartialEq)]
enum State {
    /// Opened and closed at once (a length of 0 was given).
    Empty,
    /// Opened, nothing in it yet.
    First,
    /// Opened, something in it.
    Rest,
    /// Inside the `Number` token struct.
    Number,
    /// Inside the `RawValue` token struct.
    Raw,
}

/// The compound serializers of [`JsonWriter`].
pub(crate) struct Compound<'a> {
    out: &'a mut BytesMut,
    state: State,
    atts: Option<&'a Collector>,
}

impl<'a> Compound<'a> {
    /// Opens an array (`[`, `]`) or an object (`{`, `}`).
    #[inline]
    fn open(
        out: &'a mut BytesMut,
        atts: Option<&'a Collector>,
        len: Option<usize>,
        brackets: &[u8; 2],
    ) -> Self {
        if len == Some(0) {
            out.extend_from_slice(brackets);
            Self {
                out,
                state: State::Empty,
                atts,
            }
        } else {
            out.extend_from_slice(&brackets[..1]);
            Self {
                out,
                state: State::First,
                atts,
            }
        }
    }

    #[inline]
    fn comma(&mut self) {
        if self.state != State::First {
            self.out.extend_from_slice(b",");
        }
        self.state = State::Rest;
    }

    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.comma();
        v.serialize(JsonWriter(self.out, self.atts))
    }

    #[inline]
    fn close(&mut self, bracket: u8) {
        if self.state != State::Empty {
            self.out.extend_from_slice(&[bracket]);
        }
    }
}

/// Writes `{"variant":` in front of a variant's content.
fn open_variant(out: &mut BytesMut, variant: &str) {
    out.extend_from_slice(b"{");
    write_str(out, variant);
    out.extend_from_slice(b":");
}

impl<'a> Serializer for JsonWriter<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        // Two stores of a fixed length, not one of a chosen one.
        if v {
            self.0.extend_from_slice(b"true");
        } else {
            self.0.extend_from_slice(b"false");
        }
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        write_int(self.0, v);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if v.is_finite() {
            write_float(self.0, v);
        } else {
            self.0.extend_from_slice(b"null");
        }
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if v.is_finite() {
            write_float(self.0, v);
        } else {
            self.0.extend_from_slice(b"null");
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.0, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.0, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        if let Some(atts) = self.1 {
            let num = atts.push(v);
            self.0.extend_from_slice(br#"{"_placeholder":true,"num":"#);
            write_int(self.0, num);
            self.0.extend_from_slice(b"}");
            return Ok(());
        }
        let mut seq = Compound::open(self.0, None, Some(v.len()), b"[]");
        for &b in v {
            seq.comma();
            write_int(seq.out, b);
        }
        seq.close(b']');
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.0, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        open_variant(self.0, variant);
        v.serialize(JsonWriter(&mut *self.0, self.1))?;
        self.0.extend_from_slice(b"}");
        Ok(())
    }

    /// serde's own `collect_seq` (which `Vec` and slices call) with `#[inline]`: out of line,
    /// a short list cost a call and the loop's set-up around every element.
    #[inline]
    fn collect_seq<I>(self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        let iter = iter.into_iter();
        let len = match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        let mut seq = Compound::open(self.0, self.1, len, b"[]");
        for v in iter {
            seq.element(&v)?;
        }
        seq.close(b']');
        Ok(())
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, self.1, len, b"[]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, self.1, Some(len), b"[]"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, self.1, Some(len), b"[]"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        open_variant(self.0, variant);
        Ok(Compound::open(self.0, self.1, Some(len), b"[]"))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, self.1, len, b"{}"))
    }

    #[inline]
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        // Only serde_json's own types use these names.
        if name.starts_with('$') {
            if name == RAW_TOKEN && tokens().raw {
                return Ok(Compound {
                    out: self.0,
                    state: State::Raw,
                    atts: None,
                });
            }
            if name == NUMBER_TOKEN && tokens().number {
                return Ok(Compound {
                    out: self.0,
                    state: State::Number,
                    atts: None,
                });
            }
        }
        Ok(Compound::open(self.0, self.1, Some(len), b"{}"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        open_variant(self.0, variant);
        Ok(Compound::open(self.0, self.1, Some(len), b"{}"))
    }
}

impl SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }

    #[inline]
    fn end(mut self) -> Result<(), Error> {
        self.close(b']');
        Ok(())
    }
}

impl SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }

    #[inline]
    fn end(mut self) -> Result<(), Error> {
        self.close(b']');
        Ok(())
    }
}

impl SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }

    #[inline]
    fn end(mut self) -> Result<(), Error> {
        self.close(b']');
        Ok(())
    }
}

impl SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }

    fn end(mut self) -> Result<(), Error> {
        self.close(b']');
        self.out.extend_from_slice(b"}");
        Ok(())
    }
}

impl SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.comma();
        k.serialize(MapKey(self.out))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.out.extend_from_slice(b":");
        v.serialize(JsonWriter(self.out, self.atts))
    }

    fn end(mut self) -> Result<(), Error> {
        self.close(b'}');
        Ok(())
    }
}

impl Compound<'_> {
    /// A struct field: a map entry, or the text of a token struct.
    #[inline(always)]
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        match self.state {
            State::Raw if key == RAW_TOKEN => v.serialize(RawText(self.out)),
            State::Raw => Err(Error::custom("expected value")),
            State::Number if key == NUMBER_TOKEN => v.serialize(NumberText(self.out)),
            State::Number => Err(Error::custom("invalid number")),
            State::Empty | State::First | State::Rest => {
                let first = self.state == State::First;
                self.state = State::Rest;
                write_key(self.out, key, first);
                v.serialize(JsonWriter(self.out, self.atts))
            }
        }
    }
}

impl SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    #[inline(always)]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.field(key, v)
    }

    #[inline]
    fn end(mut self) -> Result<(), Error> {
        if let State::Empty | State::First | State::Rest = self.state {
            self.close(b'}');
        }
        Ok(())
    }
}

impl SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.field(key, v)
    }

    fn end(mut self) -> Result<(), Error> {
        self.close(b'}');
        self.out.extend_from_slice(b"}");
        Ok(())
    }
}

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

/// Writes map keys: strings as they are, numbers, booleans and chars quoted; anything else
/// is an error, as in serde_json.
struct MapKey<'a>(&'a mut BytesMut);

impl MapKey<'_> {
    fn quoted(self, write: impl FnOnce(&mut BytesMut)) -> Result<(), Error> {
        self.0.extend_from_slice(b"\"");
        write(self.0);
        self.0.extend_from_slice(b"\"");
        Ok(())
    }
}

impl Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.0, v);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.0, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|out| out.extend_from_slice(if v { b"true" as &[u8] } else { b"false" }))
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(|out| write_int(out, v))
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|out| write_float(out, v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|out| write_float(out, v))
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.0, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _v: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }

    fn collect_str<T: Display + ?Sized>(self, v: &T) -> Result<(), Error> {
        JsonWriter(self.0, None).collect_str(v)
    }
}

fn float_key_must_be_finite() -> Error {
    Error::custom("float key must be finite (got NaN or +/-inf)")
}

/// A serializer that accepts only a string, written as it is; anything else is the error
/// `err()`. The text of the token structs.
macro_rules! text_only {
    ($name:ident, $err:expr) => {
        struct $name<'a>(&'a mut BytesMut);

        impl Serializer for $name<'_> {
            type Ok = ();
            type Error = Error;
            type SerializeSeq = Impossible<(), Error>;
            type SerializeTuple = Impossible<(), Error>;
            type SerializeTupleStruct = Impossible<(), Error>;
            type SerializeTupleVariant = Impossible<(), Error>;
            type SerializeMap = Impossible<(), Error>;
            type SerializeStruct = Impossible<(), Error>;
            type SerializeStructVariant = Impossible<(), Error>;

            fn serialize_str(self, v: &str) -> Result<(), Error> {
                self.0.extend_from_slice(v.as_bytes());
                Ok(())
            }

            fn serialize_bool(self, _: bool) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_i8(self, _: i8) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_i16(self, _: i16) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_i32(self, _: i32) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_i64(self, _: i64) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_i128(self, _: i128) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_u8(self, _: u8) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_u16(self, _: u16) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_u32(self, _: u32) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_u64(self, _: u64) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_u128(self, _: u128) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_f32(self, _: f32) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_f64(self, _: f64) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_char(self, _: char) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_none(self) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_unit(self) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_unit_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
            ) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_newtype_struct<T: Serialize + ?Sized>(
                self,
                _: &'static str,
                _: &T,
            ) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_newtype_variant<T: Serialize + ?Sized>(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: &T,
            ) -> Result<(), Error> {
                Err($err)
            }
            fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
                Err($err)
            }
            fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
                Err($err)
            }
            fn serialize_tuple_struct(
                self,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeTupleStruct, Error> {
                Err($err)
            }
            fn serialize_tuple_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeTupleVariant, Error> {
                Err($err)
            }
            fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
                Err($err)
            }
            fn serialize_struct(
                self,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeStruct, Error> {
                Err($err)
            }
            fn serialize_struct_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeStructVariant, Error> {
                Err($err)
            }
        }
    };
}

text_only!(RawText, Error::custom("expected RawValue"));
text_only!(NumberText, Error::custom("invalid number"));

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_str(&mut out, s);
        out.to_vec()
    }

    #[test]
    fn every_byte_value_at_every_offset_is_escaped_as_serde_json_does() {
        for c in (0..=0x7f_u8)
            .map(char::from)
            .chain(['é', '€', '😀', '\u{7ff}'])
        {
            // Every lane of the 32-byte blocks, the 8-byte words and the tails.
            for before in 0..=40 {
                for after in 0..=16 {
                    let s = format!("{}{c}{}", "a".repeat(before), "b".repeat(after));
                    assert_eq!(
                        escaped(&s),
                        serde_json::to_vec(&s).unwrap(),
                        "{c:?} {before} {after}"
                    );
                }
            }
        }
    }

    #[test]
    fn runs_of_escapes_are_escaped() {
        for n in 0..80 {
            for c in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
                let s: String = std::iter::repeat_n(c, n).collect();
                assert_eq!(escaped(&s), serde_json::to_vec(&s).unwrap());
                let s: String = (0..n).map(|i| if i % 3 == 0 { c } else { 'x' }).collect();
                assert_eq!(escaped(&s), serde_json::to_vec(&s).unwrap());
            }
        }
    }

    #[test]
    fn needs_escape_is_exact_for_every_byte_in_every_lane() {
        for lane in 0..8 {
            for b in 0..=255_u8 {
                for fill in [0_u8, b' ', b'"', 0x7f, 0xff, 0x1f, 0x20] {
                    let mut w = [fill; 8];
                    w[lane] = b;
                    let m = needs_escape(u64::from_le_bytes(w));
                    assert_eq!(any_escape(u64::from_le_bytes(w)) != 0, m != 0, "{w:?}");
                    for (i, &x) in w.iter().enumerate() {
                        let want = x < 0x20 || x == b'"' || x == b'\\';
                        assert_eq!(m >> (i * 8 + 7) & 1 == 1, want, "{w:?} {i}");
                    }
                }
            }
        }
    }
}
