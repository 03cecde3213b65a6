//! A JSON reader for the shapes payloads are mostly made of, tried before serde_json.
//!
//! It reads objects, arrays, strings without escapes, integers of up to 18 digits, `true`,
//! `false` and `null`, and it makes exactly the visitor calls serde_json makes for them
//! (`visit_borrowed_str`, `visit_u64`/`visit_i64`, `visit_map`/`visit_seq`, `visit_some`,
//! ...), so a `Deserialize` impl cannot tell the two apart. A string with escapes and any
//! other number (a fraction, an exponent, a longer integer, `-0`, which serde_json reads as a
//! float) are handed to serde_json itself, that token alone, with the method the visitor asked
//! for. A request for bytes on a placeholder written exactly as encoders write it resolves to
//! its attachment. Everything else (deep nesting, a map key read as a number, an enum, other
//! bytes, 128-bit integers, serde_json's private raw-value type) and every error make it give
//! up: the caller then reads the same text again with serde_json, whose result (value or
//! error) is the one returned. So this reader never decides that a text is wrong, and where it
//! succeeds, its result is serde_json's.
//!
//! It exists because serde_json spends most of a small payload's read in per-call set-up and
//! byte-at-a-time string scanning; see `docs/ARCHITECTURE.md`, Decisions.

use std::cell::RefCell;

use bytes::Bytes;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Error;
use serde_json::de::StrRead;

use crate::decoder::{PLACEHOLDER_HEAD, string_stop};

thread_local! {
    /// The attachment a placeholder just resolved to, so that a `Binary` can take its
    /// `Bytes` instead of copying the slice it is handed.
    pub(crate) static RESOLVED: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Hands attachment `num` to `visitor` as borrowed bytes (a `Binary` takes the `Bytes`
/// itself, see [`RESOLVED`]).
pub(crate) fn resolve<'de, V: Visitor<'de>, E: serde::de::Error>(
    atts: &'de [Bytes],
    num: u64,
    visitor: V,
) -> Result<V::Value, E> {
    let att = usize::try_from(num)
        .ok()
        .and_then(|n| atts.get(n))
        .ok_or_else(|| E::custom(format_args!("placeholder {num} has no attachment")))?;
    // `with` + `replace`, not `set`: `set` takes the slower lazy initialisation path on every
    // call.
    RESOLVED.with(|r| r.replace(Some(att.clone())));
    let v = visitor.visit_borrowed_bytes(att);
    drop(RESOLVED.with(RefCell::take));
    v
}

/// The index and the length of a placeholder written exactly as encoders write it,
/// `{"_placeholder":true,"num":N}` (digits without a leading zero), at the start of `text`.
pub(crate) fn exact_placeholder(text: &str) -> Option<(u64, usize)> {
    let digits = text.as_bytes().strip_prefix(PLACEHOLDER_HEAD)?;
    let len = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    let plain = matches!(len, 1..=19) && (len == 1 || digits[0] != b'0');
    if !plain || digits.get(len) != Some(&b'}') {
        return None;
    }
    let num = digits[..len]
        .iter()
        .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
    Some((num, PLACEHOLDER_HEAD.len() + len + 1))
}

/// The struct name through which serde_json's `RawValue` asks for its text.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Nesting this reader goes to before it leaves the text to serde_json (whose limit is 128).
const MAX_DEPTH: u32 = 100;

/// The error that sends the text to serde_json: never seen by a caller of the crate.
fn give_up() -> Error {
    Error::custom("left to serde_json")
}

/// `read` run by serde_json on `text`, which it must read to its end.
#[inline]
fn by_serde_json<'de, T>(
    text: &'de str,
    read: impl FnOnce(&mut serde_json::Deserializer<StrRead<'de>>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = read(&mut de).map_err(|_| give_up())?;
    de.end().map_err(|_| give_up())?;
    Ok(v)
}

/// Reads one JSON value from the start of `text` (after whitespace); [`Fast::offset`] is then
/// just past it.
pub(crate) struct Fast<'de> {
    text: &'de str,
    pos: usize,
    depth: u32,
    /// The payload's attachments, for placeholders read as bytes.
    atts: &'de [Bytes],
}

impl<'de> Fast<'de> {
    /// A reader for a payload without attachments.
    pub(crate) fn new(text: &'de str) -> Self {
        Self::with_attachments(text, &[])
    }

    /// A reader for a payload with attachments: a request for bytes on a placeholder written
    /// exactly as encoders write it hands over its attachment (any other spelling is left to
    /// serde_json and the placeholder wrapper).
    pub(crate) fn with_attachments(text: &'de str, atts: &'de [Bytes]) -> Self {
        Self {
            text,
            pos: 0,
            depth: 0,
            atts,
        }
    }

    /// Bytes: an exact placeholder's attachment.
    fn bytes<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        if self.atts.is_empty() || self.peek() != Some(b'{') {
            return Err(give_up());
        }
        let (num, len) = self
            .text
            .get(self.pos..)
            .and_then(exact_placeholder)
            .ok_or_else(give_up)?;
        let v = resolve(self.atts, num, visitor)?;
        self.pos += len;
        Ok(v)
    }

    /// Where reading stopped: just past the last value read.
    #[cfg(feature = "serde")]
    pub(crate) const fn offset(&self) -> usize {
        self.pos
    }

    /// Whether only whitespace follows the value read, as serde_json's `end` requires of a
    /// whole text.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// The next byte that is not whitespace, moved to.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        match self.text.as_bytes().get(self.pos) {
            Some(&c) if c > b' ' => Some(c),
            _ => self.peek_past_whitespace(),
        }
    }

    fn peek_past_whitespace(&mut self) -> Option<u8> {
        let b = self.text.as_bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    /// Whether the text goes on with `word` here (after a first byte already matched).
    #[inline]
    fn eat(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.text.as_bytes().get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(give_up())
        }
    }

    /// The string starting at the current `"` handed to `visitor` as serde_json hands it:
    /// borrowed when it has no escape; with escapes, serde_json itself reads it (from its
    /// opening to its closing quote).
    #[inline]
    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos + 1;
        // `strip_prefix` slices past the quote without a second boundary test.
        let body = self
            .text
            .get(self.pos..)
            .and_then(|t| t.strip_prefix('"'))
            .unwrap_or_default();
        match string_stop(body.as_bytes(), true) {
            Some(len) if body.as_bytes()[len] == b'"' => {
                // `"` is ASCII: a char boundary.
                let s = body.get(..len).ok_or_else(give_up)?;
                self.pos = start + len + 1;
                visitor.visit_borrowed_str(s)
            }
            Some(len) if body.as_bytes()[len] == b'\\' => self.escaped_string(start + len, visitor),
            _ => Err(give_up()),
        }
    }

    /// [`string`](Self::string) past its first `\`, at `at`.
    fn escaped_string<V: Visitor<'de>>(
        &mut self,
        mut at: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let b = self.text.as_bytes();
        let end = loop {
            // `at` is a `\`: the byte after it is escaped (a `\u`'s hex digits are neither
            // quotes nor backslashes).
            let rest = b.get(at + 2..).ok_or_else(give_up)?;
            match string_stop(rest, true) {
                Some(len) if rest[len] == b'"' => break at + 2 + len,
                Some(len) if rest[len] == b'\\' => at += 2 + len,
                _ => return Err(give_up()),
            }
        };
        let quoted = self.text.get(self.pos..=end).ok_or_else(give_up)?;
        let v = by_serde_json(quoted, |de| de.deserialize_str(visitor))?;
        self.pos = end + 1;
        Ok(v)
    }

    /// An integer of up to 18 digits that serde_json reads as one (not `-0`, no fraction or
    /// exponent, no leading zero).
    #[inline]
    fn integer(&mut self) -> Option<Int> {
        let b = self.text.as_bytes();
        let negative = b.get(self.pos) == Some(&b'-');
        let start = self.pos + usize::from(negative);
        let first = b.get(start).map_or(10, |c| c.wrapping_sub(b'0'));
        if first > 9 {
            return None;
        }
        let mut n = u64::from(first);
        let mut i = start + 1;
        if first != 0 {
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0'))
                && d <= 9
            {
                // Wraps only past 19 digits, which are refused below.
                n = n.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
        }
        // A digit after a leading `0`, a fraction, an exponent: serde_json's to read (or
        // refuse); so is a longer integer, and `-0` (a float for serde_json).
        if i - start > 18 || matches!(b.get(i), Some(b'.' | b'e' | b'E' | b'0'..=b'9')) {
            return None;
        }
        if negative && n == 0 {
            return None;
        }
        self.pos = i;
        if negative {
            #[expect(clippy::cast_possible_wrap, reason = "n < 10^18 < 2^63")]
            Some(Int::Negative(-(n as i64)))
        } else {
            Some(Int::Positive(n))
        }
    }

    #[inline]
    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(give_up());
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads the closing `close` after the visitor is done (anything else: give up).
    #[inline]
    fn leave(&mut self, close: u8) -> Result<(), Error> {
        if self.peek() != Some(close) {
            return Err(give_up());
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        self.enter()?;
        let v = visitor.visit_seq(Seq {
            de: self,
            first: true,
        })?;
        self.leave(b']')?;
        Ok(v)
    }

    fn map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        self.enter()?;
        let v = visitor.visit_map(Map {
            de: self,
            first: true,
        })?;
        self.leave(b'}')?;
        Ok(v)
    }

    /// A number: an integer that fits here, anything else (a fraction, an exponent, a longer
    /// integer, `-0`) read by serde_json with `method`, the method serde_json would have been
    /// called with.
    #[inline]
    fn number<V, M>(&mut self, visitor: V, method: M) -> Result<V::Value, Error>
    where
        V: Visitor<'de>,
        M: FnOnce(&mut serde_json::Deserializer<StrRead<'de>>, V) -> Result<V::Value, Error>,
    {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(give_up());
        }
        match self.integer() {
            Some(Int::Positive(n)) => visitor.visit_u64(n),
            Some(Int::Negative(n)) => visitor.visit_i64(n),
            None => {
                let b = self.text.as_bytes();
                let mut end = self.pos;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = b.get(end) {
                    end += 1;
                }
                // All ASCII: char boundaries.
                let text = self.text.get(self.pos..end).ok_or_else(give_up)?;
                let v = by_serde_json(text, |de| method(de, visitor))?;
                self.pos = end;
                Ok(v)
            }
        }
    }
}

/// An integer as serde_json hands it to a visitor.
enum Int {
    Positive(u64),
    Negative(i64),
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(#[inline]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.number(visitor, |de, v| de.$method(v))
        })*
    };
}

/// Deserializer methods that leave the text to serde_json, each written
/// `method(argument types)`.
macro_rules! give_up {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $(_: $ty,)* _visitor: V) -> Result<V::Value, Error> {
            Err(give_up())
        })*
    };
}

impl<'de> Deserializer<'de> for &mut Fast<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek() {
            Some(b'"') => self.string(visitor),
            Some(b'{') => self.map(visitor),
            Some(b'[') => self.seq(visitor),
            Some(b't') => {
                self.eat(b"true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.eat(b"false")?;
                visitor.visit_bool(false)
            }
            Some(b'n') => {
                self.eat(b"null")?;
                visitor.visit_unit()
            }
            _ => self.number(visitor, |de, v| de.deserialize_any(v)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek() {
            Some(b't') => {
                self.eat(b"true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.eat(b"false")?;
                visitor.visit_bool(false)
            }
            _ => Err(give_up()),
        }
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_f32 deserialize_f64
    }

    // serde_json reads 128-bit integers with a parser of their own.
    give_up! {
        deserialize_i128();
        deserialize_u128();
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.bytes(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.bytes(visitor)
    }

    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek() {
            Some(b'"') => self.string(visitor),
            _ => Err(give_up()),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    #[inline]
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    #[inline]
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek() == Some(b'n') {
            self.eat(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek() == Some(b'n') {
            self.eat(b"null")?;
            visitor.visit_unit()
        } else {
            Err(give_up())
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_VALUE_TOKEN {
            return Err(give_up());
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek() {
            Some(b'[') => self.seq(visitor),
            _ => Err(give_up()),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek() {
            Some(b'{') => self.map(visitor),
            _ => Err(give_up()),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // serde_json takes a struct as an object or as an array of its fields.
        match self.peek() {
            Some(b'{') => self.map(visitor),
            Some(b'[') => self.seq(visitor),
            _ => Err(give_up()),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(give_up())
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // serde_json checks a skipped value as it reads it; reading it here does the same.
        self.deserialize_any(IgnoredAny)?;
        visitor.visit_unit()
    }
}

/// The elements of an array, with serde_json's rules for commas.
struct Seq<'a, 'de> {
    de: &'a mut Fast<'de>,
    first: bool,
}

/// Moves past the separator before the next entry: `false` at the closing `close`.
#[inline]
fn next_entry(de: &mut Fast<'_>, first: &mut bool, close: u8) -> Result<bool, Error> {
    match de.peek() {
        Some(c) if c == close => Ok(false),
        Some(_) if *first => {
            *first = false;
            Ok(true)
        }
        Some(b',') => {
            de.pos += 1;
            match de.peek() {
                // A trailing comma: an error for serde_json.
                Some(c) if c == close => Err(give_up()),
                Some(_) => Ok(true),
                None => Err(give_up()),
            }
        }
        _ => Err(give_up()),
    }
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if next_entry(self.de, &mut self.first, b']')? {
            seed.deserialize(&mut *self.de).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The entries of an object, with serde_json's rules for commas and colons.
struct Map<'a, 'de> {
    de: &'a mut Fast<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !next_entry(self.de, &mut self.first, b'}')? {
            return Ok(None);
        }
        if self.de.peek() != Some(b'"') {
            return Err(give_up());
        }
        seed.deserialize(Key(&mut *self.de)).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        if self.de.peek() != Some(b':') {
            return Err(give_up());
        }
        self.de.pos += 1;
        seed.deserialize(&mut *self.de)
    }
}

/// An object's key: a string handed over as it is. serde_json also reads numbers and
/// booleans out of keys for the visitors that ask for them; those are left to it.
struct Key<'a, 'de>(&'a mut Fast<'de>);

macro_rules! key_as_str {
    ($($method:ident)*) => {
        $(#[inline]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.0.string(visitor)
        })*
    };
}

impl<'de> Deserializer<'de> for Key<'_, 'de> {
    type Error = Error;

    key_as_str! {
        deserialize_any deserialize_str deserialize_string deserialize_identifier
        deserialize_ignored_any deserialize_char
    }

    give_up! {
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_seq();
        deserialize_map();
        deserialize_unit_struct(&'static str);
        deserialize_newtype_struct(&'static str);
        deserialize_tuple(usize);
        deserialize_tuple_struct(&'static str, usize);
        deserialize_struct(&'static str, &'static [&'static str]);
        deserialize_enum(&'static str, &'static [&'static str]);
    }
}
