//! Serialising user data into packets, binary values split out as attachments.

use std::cell::RefCell;

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

use crate::error::EncodeError;
use crate::namespace::{AckId, Namespace};
use crate::packet::{Encoded, Header, Packet, PacketType, Payload};
use crate::validate::is_reserved_event;

/// A binary value carried as an attachment.
///
/// Serialised by this crate's helpers, it becomes a `{"_placeholder":true,"num":N}` in the
/// JSON and its bytes are sent, unchanged and uncopied, as the N-th binary message.
/// Deserialised from a received payload, the placeholder resolves to the attachment, again
/// without a copy. With any other serde format it reads and writes as plain bytes.
///
/// Other types that serialise as bytes (`serde_bytes::ByteBuf`, for instance) become
/// attachments too, but are copied.
///
/// ```
/// use bytes::Bytes;
/// use socketio_proto::{Binary, Namespace, Packet};
///
/// let p = Packet::event(Namespace::main(), "file", &("a.bin", Binary::from_static(b"\x01")), None)
///     .unwrap();
/// let enc = p.encode();
/// assert_eq!(enc.text(), r#"51-["file","a.bin",{"_placeholder":true,"num":0}]"#);
/// assert_eq!(enc.attachments(), [Bytes::from_static(b"\x01")]);
/// ```
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
#[expect(
    clippy::exhaustive_structs,
    reason = "a transparent marker around Bytes; nothing else will ever be added"
)]
pub struct Binary(pub Bytes);

impl Binary {
    /// Wraps static bytes.
    #[must_use]
    pub const fn from_static(bytes: &'static [u8]) -> Self {
        Self(Bytes::from_static(bytes))
    }

    /// The bytes.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<Bytes> for Binary {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}

impl From<Vec<u8>> for Binary {
    fn from(b: Vec<u8>) -> Self {
        Self(Bytes::from(b))
    }
}

impl std::ops::Deref for Binary {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        &self.0
    }
}

thread_local! {
    /// The `Bytes` behind the slice a `Binary` is passing to `serialize_bytes`, so the
    /// attachment collector can keep it without copying.
    static SERIALIZING: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

impl Serialize for Binary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SERIALIZING.set(Some(self.0.clone()));
        let res = serializer.serialize_bytes(&self.0);
        SERIALIZING.set(None);
        res
    }
}

/// What the JSON is written for.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// `[name, args...]`.
    Event(&'a str),
    /// `[args...]`.
    Args,
    /// The value as it is.
    Value,
}

/// Serialises `args` behind a header in one buffer: `4` + header + JSON.
///
/// Returns the message text (starting with `4`), the offset of the JSON in it, and the
/// attachments.
fn write<T: Serialize + ?Sized>(
    ty: PacketType,
    ns: &Namespace,
    ack: Option<AckId>,
    body: Body<'_>,
    args: &T,
) -> Result<Encoded, EncodeError> {
    if let Body::Event(name) = body
        && is_reserved_event(name)
    {
        return Err(EncodeError::ReservedEventName(name.to_owned()));
    }
    // Room for the longest header this packet can have; the attachment count is only known at
    // the end, so the header is written right-aligned in front of the JSON afterwards.
    let widest = Header {
        ty: binary(ty, true),
        attachments: usize::MAX,
        ns,
        ack,
    };
    let room = 1 + widest.len();
    let mut buf = Vec::with_capacity(room + 128);
    buf.resize(room, b'4');
    let collector = Collector::default();
    match body {
        Body::Event(name) => {
            buf.push(b'[');
            json(&mut buf, &name)?;
            let at = buf.len();
            json(&mut buf, &Wrap(args, &collector))?;
            splice_args(&mut buf, at, true);
        }
        Body::Args => {
            let at = buf.len();
            json(&mut buf, &Wrap(args, &collector))?;
            splice_args(&mut buf, at, false);
        }
        Body::Value => json(&mut buf, &Wrap(args, &collector))?,
    }
    let attachments = collector.0.into_inner();
    let header = Header {
        ty: binary(ty, !attachments.is_empty()),
        attachments: attachments.len(),
        ns,
        ack,
    };
    let mut head = String::with_capacity(room);
    head.push('4');
    header.write(&mut head);
    let start = room - head.len();
    buf[start..room].copy_from_slice(head.as_bytes());
    let text = String::from_utf8(buf).map_err(|e| EncodeError::Serialize(e.to_string()))?;
    let message = Utf8Bytes::from(text).tail(start).unwrap_or_default();
    Ok(Encoded::new(message, attachments))
}

fn binary(ty: PacketType, with_attachments: bool) -> PacketType {
    match ty {
        PacketType::Event | PacketType::BinaryEvent if with_attachments => PacketType::BinaryEvent,
        PacketType::Ack | PacketType::BinaryAck if with_attachments => PacketType::BinaryAck,
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        other => other,
    }
}

fn json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), EncodeError> {
    value
        .serialize(&mut serde_json::Serializer::new(buf))
        .map_err(|e| EncodeError::Serialize(e.to_string()))
}

/// Turns the JSON of `args` written at `at` into arguments: a tuple or sequence gives one
/// argument per element, `()` (JSON `null`) none, anything else one argument.
///
/// For an event, `buf` holds `["name` before `at`; otherwise nothing of the array yet.
fn splice_args(buf: &mut Vec<u8>, at: usize, after_name: bool) {
    let written = &buf[at..];
    if written == b"null" || written == b"[]" {
        buf.truncate(at);
        buf.extend_from_slice(if after_name { b"]" } else { b"[]" });
    } else if written.first() == Some(&b'[') {
        // `["name"[a,b]` → `["name",a,b]`; `[a,b]` is already the arguments array.
        if after_name {
            buf[at] = b',';
        }
    } else {
        // A single argument: one byte must go in front of it (rare: a memmove).
        buf.insert(at, if after_name { b',' } else { b'[' });
        buf.push(b']');
    }
}

/// Serialises `value` as it is (a CONNECT auth object, CONNECT_ERROR data), binary values
/// split out as attachments.
///
/// # Errors
///
/// [`EncodeError::Serialize`] when the value cannot be written as JSON.
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Payload, EncodeError> {
    let enc = write(
        PacketType::Connect,
        &Namespace::main(),
        None,
        Body::Value,
        value,
    )?;
    Ok(enc.into_payload())
}

impl Encoded {
    /// Serialises an EVENT straight into its encoded form: `args` is the argument list (a
    /// tuple or sequence gives one argument per element, `()` none, any other value one
    /// argument; wrap a single sequence argument in a 1-tuple). Binary values ([`Binary`])
    /// become attachments.
    ///
    /// This is the fastest way to emit: header and JSON are written into one buffer, ready
    /// for every recipient of a broadcast.
    ///
    /// # Errors
    ///
    /// [`EncodeError::ReservedEventName`] for a reserved name, [`EncodeError::Serialize`]
    /// when the arguments cannot be written as JSON.
    pub fn event<T: Serialize + ?Sized>(
        ns: &Namespace,
        event: &str,
        args: &T,
        ack: Option<AckId>,
    ) -> Result<Self, EncodeError> {
        write(PacketType::Event, ns, ack, Body::Event(event), args)
    }

    /// Serialises an ACK straight into its encoded form; `args` as in [`Encoded::event`].
    ///
    /// # Errors
    ///
    /// [`EncodeError::Serialize`] when the arguments cannot be written as JSON.
    pub fn ack<T: Serialize + ?Sized>(
        ns: &Namespace,
        id: AckId,
        args: &T,
    ) -> Result<Self, EncodeError> {
        write(PacketType::Ack, ns, Some(id), Body::Args, args)
    }

    /// The payload part (JSON slice and attachments), sharing the buffers.
    fn into_payload(self) -> Payload {
        let text = self.text();
        let header_len = header_len(&text);
        let json = text.tail(header_len).unwrap_or_default();
        Payload::new(json, self.attachments().to_vec())
    }
}

/// Length of the header at the start of a Socket.IO text this crate wrote.
fn header_len(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = 1;
    if b.first().is_some_and(|&t| t == b'5' || t == b'6') {
        i += b[i..].iter().position(|&c| c == b'-').map_or(0, |p| p + 1);
    }
    if b.get(i) == Some(&b'/') {
        i += b[i..].iter().position(|&c| c == b',').map_or(0, |p| p + 1);
    }
    i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count()
}

impl Packet {
    /// An EVENT with serialised arguments (see [`Encoded::event`] for how `args` maps to
    /// arguments). When the packet is only going to be sent, [`Encoded::event`] saves a copy.
    ///
    /// ```
    /// use socketio_proto::{AckId, Namespace, Packet};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Msg { text: &'static str }
    ///
    /// let p = Packet::event(Namespace::main(), "chat", &("hello", 1, Msg { text: "hi" }), Some(AckId(3)))
    ///     .unwrap();
    /// assert_eq!(p.encode().text(), r#"23["chat","hello",1,{"text":"hi"}]"#);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Encoded::event`].
    pub fn event<T: Serialize + ?Sized>(
        ns: Namespace,
        event: &str,
        args: &T,
        ack: Option<AckId>,
    ) -> Result<Self, EncodeError> {
        let data = Encoded::event(&ns, event, args, ack)?.into_payload();
        Ok(Self::Event { ns, data, ack })
    }

    /// An ACK with serialised arguments (see [`Encoded::event`] for how `args` maps to
    /// arguments).
    ///
    /// ```
    /// use socketio_proto::{AckId, Namespace, Packet};
    ///
    /// let p = Packet::ack(Namespace::main(), AckId(456), &(1, "2")).unwrap();
    /// assert_eq!(p.encode().text(), r#"3456[1,"2"]"#);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Encoded::ack`].
    pub fn ack<T: Serialize + ?Sized>(
        ns: Namespace,
        id: AckId,
        args: &T,
    ) -> Result<Self, EncodeError> {
        let data = Encoded::ack(&ns, id, args)?.into_payload();
        Ok(Self::Ack { ns, data, id })
    }

    /// A CONNECT_ERROR `{"message":…,"data":…}`, as the reference writes for a middleware
    /// error carrying `data`.
    ///
    /// # Errors
    ///
    /// [`EncodeError::Serialize`] when `data` cannot be written as JSON.
    pub fn connect_error_with_data<T: Serialize + ?Sized>(
        ns: Namespace,
        message: &str,
        data: &T,
    ) -> Result<Self, EncodeError> {
        #[derive(serde::Serialize)]
        struct ErrorObject<'a, T: ?Sized> {
            message: &'a str,
            data: &'a T,
        }
        let data = to_payload(&ErrorObject { message, data })?;
        Ok(Self::ConnectError { ns, data })
    }
}

/// Collects attachments while serialising.
#[derive(Default)]
struct Collector(RefCell<Vec<Bytes>>);

impl Collector {
    fn push(&self, v: &[u8]) -> usize {
        let bytes = SERIALIZING
            .take()
            .filter(|b| b.as_ptr() == v.as_ptr() && b.len() == v.len())
            .unwrap_or_else(|| Bytes::copy_from_slice(v));
        let mut atts = self.0.borrow_mut();
        atts.push(bytes);
        atts.len() - 1
    }
}

/// A value serialised through [`Intercept`].
struct Wrap<'a, T: ?Sized>(&'a T, &'a Collector);

impl<T: Serialize + ?Sized> Serialize for Wrap<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Intercept {
            inner: s,
            c: self.1,
        })
    }
}

/// A serializer that forwards everything to `inner` except bytes, which become placeholders.
struct Intercept<'a, S> {
    inner: S,
    c: &'a Collector,
}

/// The wrapped compound serializers.
struct Compound<'a, C> {
    inner: C,
    c: &'a Collector,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<'a, S: Serializer> Serializer for Intercept<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        let num = self.c.push(v);
        let mut ph = self.inner.serialize_struct("Placeholder", 2)?;
        ph.serialize_field("_placeholder", &true)?;
        ph.serialize_field("num", &num)?;
        ph.end()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&Wrap(v, self.c))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, &Wrap(v, self.c))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, &Wrap(v, self.c))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let inner = self.inner.serialize_seq(len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let inner = self.inner.serialize_tuple(len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let inner = self.inner.serialize_map(len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let inner = self.inner.serialize_struct(name, len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Compound { inner, c: self.c })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C: SerializeSeq> SerializeSeq for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(&Wrap(v, self.c))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(&Wrap(v, self.c))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_field(&Wrap(v, self.c))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleVariant> SerializeTupleVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_field(&Wrap(v, self.c))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeMap> SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(&Wrap(k, self.c))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_value(&Wrap(v, self.c))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStruct> SerializeStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), C::Error> {
        self.inner.serialize_field(key, &Wrap(v, self.c))
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStructVariant> SerializeStructVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), C::Error> {
        self.inner.serialize_field(key, &Wrap(v, self.c))
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}
