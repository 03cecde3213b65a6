//! Deserialising packet arguments into user types, placeholders resolved to attachments.

use std::cell::Cell;
use std::fmt;

use bytes::Bytes;
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::decoder::string_stop;
use crate::error::ArgsError;
use crate::json_de::{Fast, RESOLVED, exact_placeholder, resolve};
use crate::packet::Payload;
use crate::ser::Binary;

thread_local! {
    /// Set while the arguments of a payload without attachments are deserialised: there, a
    /// [`Binary`] can only be an error (nothing for a placeholder to resolve to), as it is
    /// when the placeholder wrapper is in place.
    static NO_ATTACHMENTS: Cell<bool> = const { Cell::new(false) };
}

/// Marks, for [`Binary`], whether the payload being deserialised has attachments; restores
/// the previous mark when dropped (deserialisations may nest).
struct Scope(bool);

impl Scope {
    #[inline]
    fn enter(attachments: &[Bytes]) -> Self {
        Self(NO_ATTACHMENTS.replace(attachments.is_empty()))
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        NO_ATTACHMENTS.set(self.0);
    }
}

impl<'de> Deserialize<'de> for Binary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if NO_ATTACHMENTS.get() {
            return Err(de::Error::custom(
                "binary data in a payload without attachments",
            ));
        }
        d.deserialize_byte_buf(BinaryVisitor)
    }
}

struct BinaryVisitor;

impl<'de> Visitor<'de> for BinaryVisitor {
    type Value = Binary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("binary data")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Binary, E> {
        let shared = RESOLVED
            .take()
            .filter(|a| a.as_ptr() == v.as_ptr() && a.len() == v.len());
        Ok(Binary(shared.unwrap_or_else(|| Bytes::copy_from_slice(v))))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Binary, E> {
        Ok(Binary(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Binary, E> {
        Ok(Binary(Bytes::from(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Binary, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(Binary(Bytes::from(v)))
    }
}

impl Payload {
    /// Deserialises the arguments of an EVENT: the elements after the event name.
    ///
    /// `T` is the argument list, mirroring [`Encoded::event`](crate::Encoded::event): a tuple
    /// or a sequence takes one argument per element (extra arguments are ignored, as JS does),
    /// `()` takes none, any other type takes the first argument. Placeholders deserialise into
    /// [`Binary`] (or any type that reads bytes) as their attachment.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use socketio_proto::{Binary, Payload};
    ///
    /// let p = Payload::new(
    ///     r#"["upload","a.bin",{"_placeholder":true,"num":0}]"#.into(),
    ///     vec![Bytes::from_static(b"\x01\x02")],
    /// );
    /// let (name, data): (String, Binary) = p.event_args().unwrap();
    /// assert_eq!(name, "a.bin");
    /// assert_eq!(&data[..], b"\x01\x02");
    /// let first: String = p.event_args().unwrap();
    /// assert_eq!(first, "a.bin");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArgsError::Deserialize`] when the arguments do not match `T`.
    pub fn event_args<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        // `args_at` is `FIND_NAME` (0) when the decoder did not find the name's end.
        args(self.json(), self.attachments(), self.args_at())
    }

    /// Deserialises the arguments of an ACK: all the elements of the array (see
    /// [`Payload::event_args`] for how they map onto `T`).
    ///
    /// # Errors
    ///
    /// [`ArgsError::Deserialize`] when the arguments do not match `T`.
    pub fn ack_args<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        args(self.json(), self.attachments(), NO_NAME)
    }

    /// Deserialises the whole JSON value (a CONNECT auth object, CONNECT_ERROR data), with
    /// placeholders resolved to attachments.
    ///
    /// # Errors
    ///
    /// [`ArgsError::Deserialize`] when the JSON does not match `T` (or is empty).
    pub fn deserialize<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        deserialize(self.json(), self.attachments())
    }
}

/// [`Payload::deserialize`] of the JSON text `json` with its attachments `atts`.
pub(crate) fn deserialize<'de, T: Deserialize<'de>>(
    json: &'de str,
    atts: &'de [Bytes],
) -> Result<T, ArgsError> {
    let _scope = Scope::enter(atts);
    if atts.is_empty()
        && let Ok(v) = read_whole(json)
    {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let v = if atts.is_empty() {
        T::deserialize(&mut de)
    } else {
        T::deserialize(Wrap {
            inner: &mut de,
            atts,
        })
    };
    let v = v.and_then(|v| de.end().map(|()| v)).map_err(err)?;
    Ok(v)
}

/// `json` read whole by [`Fast`]: as serde_json reads it, or an error where it gives up.
pub(crate) fn read_whole<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, serde_json::Error> {
    let mut fast = Fast::new(json);
    let v = T::deserialize(&mut fast)?;
    if fast.at_end() {
        Ok(v)
    } else {
        Err(de::Error::custom("trailing characters"))
    }
}

/// [`args`]'s `name` for an ACK: no event name.
pub(crate) const NO_NAME: usize = usize::MAX;
/// [`args`]'s `name` for an EVENT whose name is still to be read.
pub(crate) const FIND_NAME: usize = 0;

/// [`Payload::event_args`] or [`Payload::ack_args`] of the JSON text `json` (empty: no
/// payload) with its attachments `atts`. `name` is [`NO_NAME`] for an ACK, and for an EVENT
/// [`FIND_NAME`] or where the arguments start, right after a plain event name (as
/// `decoder::check_payload` found it). One word for the three: the ACK's call passes no more
/// than before.
pub(crate) fn args<'de, T: Deserialize<'de>>(
    json: &'de str,
    atts: &'de [Bytes],
    name: usize,
) -> Result<T, ArgsError> {
    let _scope = Scope::enter(atts);
    // The elements are first read by the crate's own reader; where it gives up (anything
    // unusual, any error), serde_json reads the arguments again and its result is the one
    // returned (see `json_de`).
    if let Ok(v) = read_args(json, atts, name, true) {
        return Ok(v);
    }
    read_args(json, atts, name, false).map_err(err)
}

/// [`args`] with the elements read by [`Fast`] (`fast`) or by serde_json.
#[inline]
pub(crate) fn read_args<'de, T: Deserialize<'de>>(
    json: &'de str,
    atts: &'de [Bytes],
    name: usize,
    fast: bool,
) -> Result<T, serde_json::Error> {
    // No payload means no arguments.
    let empty = json.is_empty();
    let json = if empty { "[]" } else { json };
    let mut seq = ArgSeq::open(json, atts, fast)?;
    if name != NO_NAME && !empty {
        if name != FIND_NAME {
            // The name was read with the header: the arguments follow it.
            seq.name_read(name);
        } else {
            seq.skip_name()?;
        }
    }
    // Placeholders are resolved element by element (see `ElementDe`), not by the
    // argument layer.
    let v = T::deserialize(Args {
        seq: &mut seq,
        atts: &[],
    })?;
    seq.finish()?;
    Ok(v)
}

fn err(e: serde_json::Error) -> ArgsError {
    ArgsError::Deserialize(e.to_string())
}

/// The packet's array of arguments, read element by element: the brackets, the commas and
/// the whitespace here, each element by serde_json on the text that starts with it.
///
/// The result is what serde_json reading the whole array would give (the same text is
/// accepted and refused), without its sequence layer on top of the argument layer. An
/// element may nest one level deeper than inside serde_json's own array (its recursion limit
/// counts from the element); a deferred binary packet deep enough for that to matter is
/// checked in full at receipt.
struct ArgSeq<'de> {
    json: &'de str,
    atts: &'de [Bytes],
    /// Offset of the next byte to read.
    pos: usize,
    /// Whether an element was read, so a `,` comes before the next one.
    started: bool,
    /// Whether the closing `]` was read.
    closed: bool,
    /// Whether elements are read by [`Fast`] rather than serde_json.
    fast: bool,
}

impl<'de> ArgSeq<'de> {
    /// Reads the opening `[`.
    #[inline]
    fn open(json: &'de str, atts: &'de [Bytes], fast: bool) -> Result<Self, serde_json::Error> {
        let i = skip_ws(json.as_bytes(), 0);
        if json.as_bytes().get(i) != Some(&b'[') {
            return Err(de::Error::custom("expected an array of arguments"));
        }
        Ok(Self {
            json,
            atts,
            pos: i + 1,
            started: false,
            closed: false,
            fast,
        })
    }

    /// Takes the event name, a plain string ending at `at`, as read (the work of
    /// [`skip_name`](Self::skip_name) done by the header's check).
    #[inline]
    fn name_read(&mut self, at: usize) {
        self.pos = at;
        self.started = true;
    }

    /// Moves to the start of the next element; `false` once the closing `]` is read.
    #[inline]
    fn advance(&mut self) -> Result<bool, serde_json::Error> {
        if self.closed {
            return Ok(false);
        }
        let b = self.json.as_bytes();
        let mut i = skip_ws(b, self.pos);
        match b.get(i) {
            Some(b']') => {
                self.pos = i + 1;
                self.closed = true;
                return Ok(false);
            }
            // A `]` right after the comma is then refused by the element's parse.
            Some(b',') if self.started => i = skip_ws(b, i + 1),
            None => return Err(de::Error::custom("EOF while parsing a list")),
            _ if !self.started => {}
            Some(_) => return Err(de::Error::custom("expected `,` or `]`")),
        }
        self.pos = i;
        self.started = true;
        Ok(true)
    }

    /// Reads the element at the current position.
    #[inline]
    fn element<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, serde_json::Error> {
        // Positions are after ASCII bytes or at the end of a value: char boundaries.
        let rest = self
            .json
            .get(self.pos..)
            .ok_or_else(|| de::Error::custom("argument outside the text"))?;
        if self.fast {
            let mut de = Fast::with_attachments(rest, self.atts);
            let v = seed.deserialize(&mut de)?;
            self.pos += de.offset();
            return Ok(v);
        }
        if self.atts.is_empty() {
            // Nothing to resolve: serde_json as it is.
            let mut de = serde_json::Deserializer::from_str(rest);
            let v = seed.deserialize(&mut de)?;
            self.pos += de.into_iter::<IgnoredAny>().byte_offset();
            return Ok(v);
        }
        let mut consumed = 0;
        let v = seed.deserialize(ElementDe {
            rest,
            atts: self.atts,
            consumed: &mut consumed,
        })?;
        self.pos += consumed;
        Ok(v)
    }

    /// Skips the event name, if any: a string without escapes or control characters is
    /// skipped here; anything else is read as the full check reads it.
    fn skip_name(&mut self) -> Result<(), serde_json::Error> {
        if !self.advance()? {
            return Ok(());
        }
        let b = self.json.as_bytes();
        if b.get(self.pos) == Some(&b'"') {
            let body = b.get(self.pos + 1..).unwrap_or_default();
            if let Some(end) = string_stop(body, true)
                && body[end] == b'"'
            {
                self.pos += end + 2;
                return Ok(());
            }
        }
        self.element(std::marker::PhantomData::<EventName>)
            .map(drop)
    }

    /// Reads the arguments left over (extra arguments are ignored, as JS does, but must be
    /// well-formed), the closing `]`, and nothing but whitespace after it.
    #[inline]
    fn finish(&mut self) -> Result<(), serde_json::Error> {
        // The common end: the closing `]` right after the last element read, ending the text.
        if !self.closed && self.pos + 1 == self.json.len() && self.json.ends_with(']') {
            self.closed = true;
            self.pos += 1;
            return Ok(());
        }
        self.finish_slow()
    }

    fn finish_slow(&mut self) -> Result<(), serde_json::Error> {
        while self.advance()? {
            self.element(std::marker::PhantomData::<IgnoredAny>)?;
        }
        if skip_ws(self.json.as_bytes(), self.pos) != self.json.len() {
            return Err(de::Error::custom("trailing characters"));
        }
        Ok(())
    }
}

impl<'de> SeqAccess<'de> for ArgSeq<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, serde_json::Error> {
        if !self.advance()? {
            return Ok(None);
        }
        self.element(seed).map(Some)
    }
}

/// Index of the first byte at or after `i` that is not JSON whitespace.
#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Most bytes are above the space: one comparison for them.
    while let Some(&c) = b.get(i)
        && c <= b' '
        && matches!(c, b' ' | b'\t' | b'\n' | b'\r')
    {
        i += 1;
    }
    i
}

/// The event name, read as the full check reads it (a number is parsed, so one out of range
/// is refused here as it is there) and dropped.
struct EventName;

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Self)
    }
}

impl<'de> Visitor<'de> for EventName {
    type Value = Self;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event name")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self, E> {
        Ok(Self)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self, E> {
        Ok(Self)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self, E> {
        Ok(Self)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self, E> {
        Ok(Self)
    }
}

/// The argument list as a deserializer: a sequence for sequence-like requests, the first
/// argument for anything else.
struct Args<'a, 'de, A> {
    seq: &'a mut A,
    atts: &'de [Bytes],
}

/// A deserializer method to call on the first argument.
enum Call {
    Bool,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Char,
    Str,
    String,
    Bytes,
    ByteBuf,
    Map,
    Identifier,
    NewtypeStruct(&'static str),
    Struct(&'static str, &'static [&'static str]),
    Enum(&'static str, &'static [&'static str]),
}

struct CallSeed<'de, V> {
    call: Call,
    visitor: V,
    atts: &'de [Bytes],
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for CallSeed<'de, V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        if self.atts.is_empty() {
            // No attachments: nothing to substitute, so no wrapper in the way.
            return call(self.call, d, self.visitor);
        }
        let d = Wrap {
            inner: d,
            atts: self.atts,
        };
        call(self.call, d, self.visitor)
    }
}

fn call<'de, D: Deserializer<'de>, V: Visitor<'de>>(
    call: Call,
    d: D,
    v: V,
) -> Result<V::Value, D::Error> {
    match call {
        Call::Bool => d.deserialize_bool(v),
        Call::I8 => d.deserialize_i8(v),
        Call::I16 => d.deserialize_i16(v),
        Call::I32 => d.deserialize_i32(v),
        Call::I64 => d.deserialize_i64(v),
        Call::I128 => d.deserialize_i128(v),
        Call::U8 => d.deserialize_u8(v),
        Call::U16 => d.deserialize_u16(v),
        Call::U32 => d.deserialize_u32(v),
        Call::U64 => d.deserialize_u64(v),
        Call::U128 => d.deserialize_u128(v),
        Call::F32 => d.deserialize_f32(v),
        Call::F64 => d.deserialize_f64(v),
        Call::Char => d.deserialize_char(v),
        Call::Str => d.deserialize_str(v),
        Call::String => d.deserialize_string(v),
        Call::Bytes => d.deserialize_bytes(v),
        Call::ByteBuf => d.deserialize_byte_buf(v),
        Call::Map => d.deserialize_map(v),
        Call::Identifier => d.deserialize_identifier(v),
        Call::NewtypeStruct(name) => d.deserialize_newtype_struct(name, v),
        Call::Struct(name, fields) => d.deserialize_struct(name, fields, v),
        Call::Enum(name, variants) => d.deserialize_enum(name, variants, v),
    }
}

impl<'de, A: SeqAccess<'de>> Args<'_, 'de, A> {
    fn first<V: Visitor<'de>>(self, call: Call, visitor: V) -> Result<V::Value, A::Error> {
        let seed = CallSeed {
            call,
            visitor,
            atts: self.atts,
        };
        self.seq
            .next_element_seed(seed)?
            .ok_or_else(|| de::Error::invalid_length(0, &"at least one argument"))
    }

    fn all<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        if self.atts.is_empty() {
            return visitor.visit_seq(self.seq);
        }
        visitor.visit_seq(WrapSeq {
            inner: self.seq,
            atts: self.atts,
        })
    }
}

macro_rules! first_arg {
    ($($method:ident => $call:ident;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
            self.first(Call::$call, visitor)
        })*
    };
}

/// Takes the visitor out when the seed runs, so `deserialize_option` can still call
/// `visit_none` when there is no argument.
struct OptionSeed<'a, 'de, V> {
    visitor: &'a mut Option<V>,
    atts: &'de [Bytes],
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for OptionSeed<'_, 'de, V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let visitor = self
            .visitor
            .take()
            .ok_or_else(|| de::Error::custom("option visitor used twice"))?;
        if self.atts.is_empty() {
            return d.deserialize_option(visitor);
        }
        Wrap {
            inner: d,
            atts: self.atts,
        }
        .deserialize_option(visitor)
    }
}

impl<'de, A: SeqAccess<'de>> Deserializer<'de> for Args<'_, 'de, A> {
    type Error = A::Error;

    first_arg! {
        deserialize_bool => Bool;
        deserialize_i8 => I8;
        deserialize_i16 => I16;
        deserialize_i32 => I32;
        deserialize_i64 => I64;
        deserialize_i128 => I128;
        deserialize_u8 => U8;
        deserialize_u16 => U16;
        deserialize_u32 => U32;
        deserialize_u64 => U64;
        deserialize_u128 => U128;
        deserialize_f32 => F32;
        deserialize_f64 => F64;
        deserialize_char => Char;
        deserialize_str => Str;
        deserialize_string => String;
        deserialize_bytes => Bytes;
        deserialize_byte_buf => ByteBuf;
        deserialize_map => Map;
        deserialize_identifier => Identifier;
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.all(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.all(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.all(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.all(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        let mut slot = Some(visitor);
        let seed = OptionSeed {
            visitor: &mut slot,
            atts: self.atts,
        };
        match self.seq.next_element_seed(seed)? {
            Some(v) => Ok(v),
            None => match slot {
                Some(visitor) => visitor.visit_none(),
                None => Err(de::Error::custom("option visitor used twice")),
            },
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.first(Call::NewtypeStruct(name), visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.first(Call::Struct(name, fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.first(Call::Enum(name, variants), visitor)
    }
}

/// A deserializer that forwards to `inner`, except that a request for bytes reads a
/// placeholder and hands over its attachment.
struct Wrap<'de, D> {
    inner: D,
    atts: &'de [Bytes],
}

impl<'de, D: Deserializer<'de>> Wrap<'de, D> {
    fn attachment<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let num = self.inner.deserialize_map(PlaceholderVisitor)?;
        resolve(self.atts, num, visitor)
    }

    fn visitor<V>(&self, visitor: V) -> WrapVisitor<'de, V> {
        WrapVisitor {
            inner: visitor,
            atts: self.atts,
        }
    }
}

macro_rules! forward_de {
    ($($method:ident;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let v = self.visitor(visitor);
            self.inner.$method(v)
        })*
    };
}

/// Requests whose visitor never sees a nested value (a scalar, or an error for anything
/// else): the visitor goes to `inner` as it is, no wrapper needed.
macro_rules! forward_plain {
    ($($method:ident;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method(visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Wrap<'de, D> {
    type Error = D::Error;

    forward_de! {
        deserialize_any;
        deserialize_option;
        deserialize_seq;
        deserialize_map;
    }

    forward_plain! {
        deserialize_bool;
        deserialize_i8;
        deserialize_i16;
        deserialize_i32;
        deserialize_i64;
        deserialize_i128;
        deserialize_u8;
        deserialize_u16;
        deserialize_u32;
        deserialize_u64;
        deserialize_u128;
        deserialize_f32;
        deserialize_f64;
        deserialize_char;
        deserialize_str;
        deserialize_string;
        deserialize_unit;
        deserialize_identifier;
        deserialize_ignored_any;
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.attachment(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.attachment(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.visitor(visitor);
        self.inner.deserialize_unit_struct(name, v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.visitor(visitor);
        self.inner.deserialize_newtype_struct(name, v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.visitor(visitor);
        self.inner.deserialize_tuple(len, v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.visitor(visitor);
        self.inner.deserialize_tuple_struct(name, len, v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.visitor(visitor);
        self.inner.deserialize_struct(name, fields, v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.visitor(visitor);
        self.inner.deserialize_enum(name, variants, v)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// One argument of the packet's array, as a deserializer: serde_json on the text from the
/// argument on (through [`Wrap`] when the payload has attachments), except that a request
/// for bytes on a placeholder written exactly as encoders write it,
/// `{"_placeholder":true,"num":N}`, resolves it without a parse. Reports how much of the
/// text the argument took.
struct ElementDe<'a, 'de> {
    rest: &'de str,
    atts: &'de [Bytes],
    consumed: &'a mut usize,
}

impl<'de> ElementDe<'_, 'de> {
    /// The index and the length of the placeholder written exactly as encoders write it at
    /// the start of the text (digits without a leading zero, then `}`), if there is one.
    fn exact_placeholder(&self) -> Option<(u64, usize)> {
        if self.atts.is_empty() {
            return None;
        }
        exact_placeholder(self.rest)
    }
}

/// Hands the argument to serde_json (through [`Wrap`] when there are attachments) with the
/// deserializer method `$method`, and records how much of the text it took.
macro_rules! element_full {
    ($self:ident, $method:ident($($arg:expr),*)) => {{
        let mut de = serde_json::Deserializer::from_str($self.rest);
        let v = if $self.atts.is_empty() {
            (&mut de).$method($($arg),*)
        } else {
            Wrap {
                inner: &mut de,
                atts: $self.atts,
            }
            .$method($($arg),*)
        }?;
        *$self.consumed = de.into_iter::<IgnoredAny>().byte_offset();
        Ok(v)
    }};
}

macro_rules! element_de {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(
            self,
            $($arg: $ty,)*
            visitor: V,
        ) -> Result<V::Value, serde_json::Error> {
            element_full!(self, $method($($arg,)* visitor))
        })*
    };
}

impl<'de> Deserializer<'de> for ElementDe<'_, 'de> {
    type Error = serde_json::Error;

    element_de! {
        deserialize_any();
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
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if let Some((num, len)) = self.exact_placeholder() {
            *self.consumed = len;
            return resolve(self.atts, num, visitor);
        }
        element_full!(self, deserialize_bytes(visitor))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if let Some((num, len)) = self.exact_placeholder() {
            *self.consumed = len;
            return resolve(self.atts, num, visitor);
        }
        element_full!(self, deserialize_byte_buf(visitor))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        // A placeholder is not `null`: `Some` of the same argument, so that an
        // `Option<Binary>` takes the short path too.
        if self.exact_placeholder().is_some() {
            return visitor.visit_some(self);
        }
        element_full!(self, deserialize_option(visitor))
    }
}

/// Reads `{"_placeholder":true,"num":N}` and returns N.
struct PlaceholderVisitor;

impl<'de> Visitor<'de> for PlaceholderVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a binary placeholder")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut marker = false;
        let mut num = None;
        while let Some(key) = map.next_key::<PlaceholderKey>()? {
            match key {
                PlaceholderKey::Marker => marker = map.next_value::<bool>()?,
                PlaceholderKey::Num => num = Some(map.next_value::<u64>()?),
                PlaceholderKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match num {
            Some(n) if marker => Ok(n),
            _ => Err(de::Error::custom("not a binary placeholder")),
        }
    }
}

/// A key of a placeholder object, read without allocating (escaped keys are decoded by the
/// deserializer and compared the same way).
enum PlaceholderKey {
    Marker,
    Num,
    Other,
}

impl<'de> Deserialize<'de> for PlaceholderKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(PlaceholderKeyVisitor)
    }
}

struct PlaceholderKeyVisitor;

impl Visitor<'_> for PlaceholderKeyVisitor {
    type Value = PlaceholderKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a placeholder key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<PlaceholderKey, E> {
        Ok(match key {
            "_placeholder" => PlaceholderKey::Marker,
            "num" => PlaceholderKey::Num,
            _ => PlaceholderKey::Other,
        })
    }
}

/// A visitor whose nested accesses are wrapped in turn.
struct WrapVisitor<'de, V> {
    inner: V,
    atts: &'de [Bytes],
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for WrapVisitor<'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Wrap {
            inner: d,
            atts: self.atts,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Wrap {
            inner: d,
            atts: self.atts,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(WrapSeq {
            inner: seq,
            atts: self.atts,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(WrapSeq {
            inner: map,
            atts: self.atts,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(WrapSeq {
            inner: data,
            atts: self.atts,
        })
    }
}

/// A seed whose deserializer is wrapped.
struct WrapSeed<'de, S> {
    inner: S,
    atts: &'de [Bytes],
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for WrapSeed<'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Wrap {
            inner: d,
            atts: self.atts,
        })
    }
}

/// Wrapped sequence, map, enum and variant accesses.
struct WrapSeq<'de, A> {
    inner: A,
    atts: &'de [Bytes],
}

impl<'de, A> WrapSeq<'de, A> {
    fn seed<S>(&self, seed: S) -> WrapSeed<'de, S> {
        WrapSeed {
            inner: seed,
            atts: self.atts,
        }
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for WrapSeq<'de, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WrapSeq<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for WrapSeq<'de, A> {
    type Error = A::Error;
    type Variant = WrapSeq<'de, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let atts = self.atts;
        let (v, variant) = self.inner.variant_seed(WrapSeed { inner: seed, atts })?;
        Ok((
            v,
            WrapSeq {
                inner: variant,
                atts,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for WrapSeq<'de, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let v = WrapVisitor {
            inner: visitor,
            atts: self.atts,
        };
        self.inner.tuple_variant(len, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let v = WrapVisitor {
            inner: visitor,
            atts: self.atts,
        };
        self.inner.struct_variant(fields, v)
    }
}

/// The argument reader before [`ArgSeq`]: serde_json reads the whole array, the argument
/// layer on top. Kept for the equivalence tests.
#[cfg(test)]
pub(crate) fn args_reference<'de, T: Deserialize<'de>>(
    payload: &'de Payload,
    skip_name: bool,
) -> Result<T, ArgsError> {
    struct ArgsVisitor<'de, T> {
        skip_name: bool,
        atts: &'de [Bytes],
        marker: std::marker::PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ArgsVisitor<'de, T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of arguments")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
            if self.skip_name {
                seq.next_element::<EventName>()?;
            }
            let v = T::deserialize(Args {
                seq: &mut seq,
                atts: self.atts,
            })?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(v)
        }
    }

    let _scope = Scope::enter(payload.attachments());
    let json = if payload.is_empty() {
        "[]"
    } else {
        payload.json()
    };
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_seq(ArgsVisitor {
        skip_name: skip_name && !payload.is_empty(),
        atts: payload.attachments(),
        marker: std::marker::PhantomData::<T>,
    })
    .and_then(|v| de.end().map(|()| v))
    .map_err(err)
}
