//! Serialising user data into packets, binary values split out as attachments.

use std::cell::{Cell, RefCell};

use bytes::{Buf, Bytes, BytesMut};
use engineio_proto::Utf8Bytes;
use serde::ser::{Serialize, SerializeSeq, SerializeTuple, SerializeTupleStruct, Serializer};

use crate::attachments::Attachments;
use crate::error::EncodeError;
use crate::json::JsonWriter;
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
        // `with` + `replace` instead of `set`: `set` goes through the slower lazy
        // initialisation path on every call.
        SERIALIZING.with(|s| s.replace(Some(self.0.clone())));
        let res = serializer.serialize_bytes(&self.0);
        // Usually taken by the collector already; another serializer leaves it here.
        drop(SERIALIZING.with(RefCell::take));
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

/// Where [`write()`] puts a message.
#[derive(Clone, Copy)]
enum Dest {
    /// Cut from this thread's output buffer: no allocation of its own, and dropping it is a
    /// reference count decrement. For messages that are sent and dropped (emits, acks).
    Shared,
    /// A buffer of its own, for payloads that may be kept (CONNECT auth kept for reconnects,
    /// packets built to be stored), so that they hold no more memory than they use.
    Own,
}

/// Size of the chunks [`Dest::Shared`] messages are cut from.
const CHUNK: usize = 2048;

/// Room kept in front of a message for the part of the header that depends on the
/// attachments: `4`, the type digit and up to 9 attachments with their `-`.
const LEAD: usize = 4;

/// Below this much room left in the current chunk, a message starts a new one.
const MIN_ROOM: usize = 256;

thread_local! {
    /// The current chunk of [`Dest::Shared`] messages: each message is split off its front
    /// once written, sharing the allocation, which is freed when the last of them is dropped
    /// (or reused in place when it already is).
    static OUT: Cell<Option<BytesMut>> = const { Cell::new(None) };
}

/// Serialises `args` behind `4` + the header, in one buffer.
///
/// The header's lead (`4`, the type digit and the attachment count) is known only once the
/// attachments are counted: it is written last, into room kept in front of the rest, and
/// the unused front of that room is skipped. Nothing moves unless there are ten attachments
/// or more. The UTF-8 check that makes the buffer a text costs less
/// than the allocation it saves: see `docs/benchmarks.md`.
fn write<T: Serialize + ?Sized>(
    ty: PacketType,
    ns: &Namespace,
    ack: Option<AckId>,
    body: Body<'_>,
    args: &T,
    dest: Dest,
) -> Result<Encoded, EncodeError> {
    if let Body::Event(name) = body
        && is_reserved_event(name)
    {
        return Err(EncodeError::ReservedEventName(name.to_owned()));
    }
    let mut buf = match dest {
        Dest::Shared => {
            // Taken out, so that a `Serialize` impl that encodes a packet itself finds no
            // buffer and uses a chunk of its own.
            let mut buf = OUT
                .with(Cell::take)
                .unwrap_or_else(|| BytesMut::with_capacity(CHUNK));
            if buf.capacity() - buf.len() < MIN_ROOM {
                buf.reserve(CHUNK);
            }
            buf
        }
        Dest::Own => BytesMut::with_capacity(128),
    };
    // Room for the lead of the header (`4`, the type digit and, for a binary packet, the
    // attachment count), known once the attachments are counted; then the rest of the header.
    buf.extend_from_slice(&[0; LEAD]);
    Header {
        ty,
        attachments: 0,
        ns,
        ack,
    }
    .write_tail(&mut buf);
    let collector = Collector::default();
    let out = JsonWriter(&mut buf, Some(&collector));
    let written = match body {
        Body::Event(name) => ArgsArray::new(Some(name), args).serialize(out),
        Body::Args => ArgsArray::new(None, args).serialize(out),
        Body::Value => args.serialize(out),
    };
    if let Err(e) = written {
        if let Dest::Shared = dest {
            buf.clear();
            OUT.with(|out| out.set(Some(buf)));
        }
        return Err(EncodeError::Serialize(e.to_string()));
    }
    let attachments = collector.0.into_inner();
    let ty = binary(ty, !attachments.is_empty());
    let header = Header {
        ty,
        attachments: attachments.len(),
        ns,
        ack,
    };
    // How much of the room in front stays unused.
    let unused = match header.lead() {
        Some((lead, len)) => {
            buf[..LEAD].copy_from_slice(&lead);
            LEAD - len
        }
        None => {
            // Ten attachments or more: the lead is longer than its room, the rest moves.
            let lead = format!("4{}{}-", char::from(ty.digit()), attachments.len());
            let (len, extra) = (buf.len(), lead.len() - LEAD);
            buf.resize(len + extra, 0);
            buf.copy_within(LEAD..len, LEAD + extra);
            buf[..lead.len()].copy_from_slice(lead.as_bytes());
            0
        }
    };
    let mut message = match dest {
        Dest::Shared => {
            let message = buf.split().freeze();
            // A message larger than a chunk has a buffer of its own (the chunk it outgrew was
            // left to the messages cut from it): keep nothing of it for the next message.
            if message.len() <= CHUNK {
                OUT.with(|out| out.set(Some(buf)));
            }
            message
        }
        Dest::Own => buf.freeze(),
    };
    message.advance(unused);
    // The JSON writer writes UTF-8 and the header is ASCII: the check cannot fail.
    let message =
        Utf8Bytes::try_from_bytes(message).map_err(|e| EncodeError::Serialize(e.to_string()))?;
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

/// How an argument list maps onto the elements of the packet's array.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Spread {
    /// A sequence or tuple: one element per item.
    Items,
    /// `()` or `None`: no elements.
    Nothing,
    /// Anything else: one element.
    One,
}

/// The packet's JSON array: the event name (if any), then the arguments spread as
/// [`Spread`] says.
struct ArgsArray<'a, T: ?Sized> {
    name: Option<&'a str>,
    args: &'a T,
    spread: Spread,
}

impl<'a, T: Serialize + ?Sized> ArgsArray<'a, T> {
    fn new(name: Option<&'a str>, args: &'a T) -> Self {
        let spread = match args.serialize(Probe) {
            Ok(spread) | Err(Probed(Some(spread))) => spread,
            // The value's own error: the real pass reports it.
            Err(Probed(None)) => Spread::One,
        };
        Self { name, args, spread }
    }
}

impl<T: Serialize + ?Sized> Serialize for ArgsArray<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let named = usize::from(self.name.is_some());
        match self.spread {
            Spread::Items => self.args.serialize(Spreader {
                inner: s,
                name: self.name,
            }),
            Spread::Nothing => {
                let mut seq = s.serialize_seq(Some(named))?;
                if let Some(name) = self.name {
                    seq.serialize_element(name)?;
                }
                seq.end()
            }
            Spread::One => {
                let mut seq = s.serialize_seq(Some(named + 1))?;
                if let Some(name) = self.name {
                    seq.serialize_element(name)?;
                }
                seq.serialize_element(self.args)?;
                seq.end()
            }
        }
    }
}

/// Finds out how a value spreads into arguments: it stops at the first serializer call.
struct Probe;

/// The answer of [`Probe`] when it had to stop a compound value, or the value's own error.
#[derive(Debug)]
struct Probed(Option<Spread>);

impl std::fmt::Display for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("probed")
    }
}

impl std::error::Error for Probed {}

impl serde::ser::Error for Probed {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Self(None)
    }
}

macro_rules! probe_one {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<Spread, Probed> {
            Ok(Spread::One)
        })*
    };
}

impl Serializer for Probe {
    type Ok = Spread;
    type Error = Probed;
    type SerializeSeq = serde::ser::Impossible<Spread, Probed>;
    type SerializeTuple = serde::ser::Impossible<Spread, Probed>;
    type SerializeTupleStruct = serde::ser::Impossible<Spread, Probed>;
    type SerializeTupleVariant = serde::ser::Impossible<Spread, Probed>;
    type SerializeMap = serde::ser::Impossible<Spread, Probed>;
    type SerializeStruct = serde::ser::Impossible<Spread, Probed>;
    type SerializeStructVariant = serde::ser::Impossible<Spread, Probed>;

    probe_one! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_none(self) -> Result<Spread, Probed> {
        Ok(Spread::Nothing)
    }

    fn serialize_unit(self) -> Result<Spread, Probed> {
        Ok(Spread::Nothing)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<Spread, Probed> {
        Ok(Spread::Nothing)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Spread, Probed> {
        v.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Spread, Probed> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Spread, Probed> {
        Ok(Spread::One)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Probed> {
        Err(Probed(Some(Spread::Items)))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Probed> {
        Err(Probed(Some(Spread::Items)))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Probed> {
        Err(Probed(Some(Spread::Items)))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Probed> {
        Err(Probed(Some(Spread::One)))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Probed> {
        Err(Probed(Some(Spread::One)))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Probed> {
        Err(Probed(Some(Spread::One)))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Probed> {
        Err(Probed(Some(Spread::One)))
    }
}

/// Serialises a sequence-like argument list as the packet's array, the event name first.
/// Only the shapes [`Probe`] answered [`Spread::Items`] for reach it.
struct Spreader<'a, S> {
    inner: S,
    name: Option<&'a str>,
}

impl<S: Serializer> Spreader<'_, S> {
    fn open(self, len: Option<usize>) -> Result<SpreadSeq<S::SerializeSeq>, S::Error> {
        let named = usize::from(self.name.is_some());
        let mut inner = self.inner.serialize_seq(len.map(|n| n + named))?;
        if let Some(name) = self.name {
            inner.serialize_element(name)?;
        }
        Ok(SpreadSeq { inner })
    }

    fn changed<T>() -> Result<T, S::Error> {
        Err(serde::ser::Error::custom(
            "the arguments serialised differently on the second pass",
        ))
    }
}

macro_rules! spreader_changed {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<S::Ok, S::Error> {
            Self::changed()
        })*
    };
}

impl<'a, S: Serializer> Serializer for Spreader<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = SpreadSeq<S::SerializeSeq>;
    type SerializeTuple = SpreadSeq<S::SerializeSeq>;
    type SerializeTupleStruct = SpreadSeq<S::SerializeSeq>;
    type SerializeTupleVariant = serde::ser::Impossible<S::Ok, S::Error>;
    type SerializeMap = serde::ser::Impossible<S::Ok, S::Error>;
    type SerializeStruct = serde::ser::Impossible<S::Ok, S::Error>;
    type SerializeStructVariant = serde::ser::Impossible<S::Ok, S::Error>;

    spreader_changed! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        v.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Self::changed()
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.open(len)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.open(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.open(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Self::changed()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Self::changed()
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Self::changed()
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Self::changed()
    }
}

/// The packet's array, written by [`Spreader`]: every item of the argument list is one
/// element.
struct SpreadSeq<C> {
    inner: C,
}

impl<C: SerializeSeq> SerializeSeq for SpreadSeq<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(v)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeSeq> SerializeTuple for SpreadSeq<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(v)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeSeq> SerializeTupleStruct for SpreadSeq<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_element(v)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
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
        Dest::Own,
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
    /// for every recipient of a broadcast. The buffer is cut from a chunk this thread shares
    /// among the messages it encodes (nothing is allocated per message, and dropping one is a
    /// reference count decrement), so a message kept for long keeps up to 2 KiB alive;
    /// [`Packet::event`] writes into a buffer of its own, for packets that are stored.
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
        write(
            PacketType::Event,
            ns,
            ack,
            Body::Event(event),
            args,
            Dest::Shared,
        )
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
        write(
            PacketType::Ack,
            ns,
            Some(id),
            Body::Args,
            args,
            Dest::Shared,
        )
    }

    /// The payload part (JSON slice and attachments), sharing the buffers.
    fn into_payload(self) -> Payload {
        let (text, attachments) = self.into_text_and_attachments();
        let header_len = header_len(&text);
        let json = text.tail(header_len).unwrap_or_default();
        Payload::with_args_at(json, 0, attachments, 0)
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
        let data = write(
            PacketType::Event,
            &ns,
            ack,
            Body::Event(event),
            args,
            Dest::Own,
        )?
        .into_payload();
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
        let data =
            write(PacketType::Ack, &ns, Some(id), Body::Args, args, Dest::Own)?.into_payload();
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
pub(crate) struct Collector(RefCell<Attachments>);

impl Collector {
    /// Keeps `v` as the next attachment and returns its number: the `Bytes` of the
    /// [`Binary`] passing it, or a copy when another type serialises bytes.
    pub(crate) fn push(&self, v: &[u8]) -> usize {
        let bytes = SERIALIZING
            .with(RefCell::take)
            .filter(|b| b.as_ptr() == v.as_ptr() && b.len() == v.len())
            .unwrap_or_else(|| Bytes::copy_from_slice(v));
        let mut atts = self.0.borrow_mut();
        atts.push(bytes);
        atts.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Unit;

    #[derive(serde::Serialize)]
    struct Pair(u8, &'static str);

    #[derive(serde::Serialize)]
    struct List(Vec<u8>);

    #[derive(serde::Serialize)]
    struct Obj {
        a: u8,
    }

    fn event<T: Serialize + ?Sized>(args: &T) -> String {
        Encoded::event(&Namespace::main(), "e", args, None)
            .unwrap()
            .text()
            .to_string()
    }

    fn ack<T: Serialize + ?Sized>(args: &T) -> String {
        let ns = Namespace::new("/n").unwrap();
        Encoded::ack(&ns, AckId(7), args)
            .unwrap()
            .text()
            .to_string()
    }

    #[test]
    fn argument_lists_spread_into_the_array() {
        assert_eq!(event(&()), r#"2["e"]"#);
        assert_eq!(event(&None::<u8>), r#"2["e"]"#);
        assert_eq!(event(&Unit), r#"2["e"]"#);
        assert_eq!(event(&Vec::<u8>::new()), r#"2["e"]"#);
        assert_eq!(event(&(1, "a")), r#"2["e",1,"a"]"#);
        assert_eq!(event(&Some((1, 2))), r#"2["e",1,2]"#);
        assert_eq!(event(&vec![1, 2]), r#"2["e",1,2]"#);
        assert_eq!(event(&Pair(1, "b")), r#"2["e",1,"b"]"#);
        assert_eq!(event(&List(vec![3])), r#"2["e",3]"#);
        assert_eq!(event(&((1, 2),)), r#"2["e",[1,2]]"#);
        assert_eq!(event(&"x"), r#"2["e","x"]"#);
        assert_eq!(event(&Some(5)), r#"2["e",5]"#);
        assert_eq!(event(&Obj { a: 1 }), r#"2["e",{"a":1}]"#);
        assert_eq!(
            event(&Binary::from_static(b"z")),
            r#"51-["e",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            event(&(Binary::from_static(b"z"), [Binary::from_static(b"y")])),
            r#"52-["e",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]"#
        );
        assert_eq!(ack(&()), "3/n,7[]");
        assert_eq!(ack(&(1,)), "3/n,7[1]");
        assert_eq!(ack(&5), "3/n,7[5]");
        assert_eq!(
            ack(&vec![Binary::from_static(b"z")]),
            r#"61-/n,7[{"_placeholder":true,"num":0}]"#
        );
    }

    /// What `Encoded::event` must write for `args`, put together by hand.
    fn expected(ns: &Namespace, ack: Option<AckId>, args: &[serde_json::Value]) -> String {
        let header = Header {
            ty: PacketType::Event,
            attachments: 0,
            ns,
            ack,
        };
        let mut text = String::from("4");
        header.write(&mut text);
        let mut array = vec![serde_json::Value::from("e")];
        array.extend_from_slice(args);
        text.push_str(&serde_json::to_string(&array).unwrap());
        text
    }

    #[test]
    fn messages_cut_from_the_shared_buffer_stay_intact() {
        // Messages of every size, kept alive across many chunks, some larger than a chunk,
        // interleaved with drops, packets with their own buffers and failed encodes.
        let nsp = Namespace::new("/chat").unwrap();
        let mut kept = Vec::new();
        for i in 0..600_usize {
            let ns = if i % 3 == 0 { &nsp } else { &Namespace::main() };
            let ack = (i % 5 == 0).then_some(AckId(i as u64 * 1_000_003));
            let text = "x".repeat((i * 37) % (3 * CHUNK));
            let args = [serde_json::Value::from(i), serde_json::Value::from(text)];
            let enc = Encoded::event(ns, "e", &args, ack).unwrap();
            assert_eq!(enc.engineio_text().as_str(), expected(ns, ack, &args));
            match i % 4 {
                0 => drop(enc),
                1 => {
                    let own = Packet::event(ns.clone(), "e", &args, ack).unwrap();
                    assert_eq!(own.encode(), enc);
                    kept.push((enc, expected(ns, ack, &args)));
                }
                2 => {
                    struct Fails;
                    impl Serialize for Fails {
                        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                            let mut seq = s.serialize_seq(None)?;
                            seq.serialize_element("written, then dropped")?;
                            Err(serde::ser::Error::custom("no"))
                        }
                    }
                    assert!(Encoded::event(ns, "e", &(1, Fails), ack).is_err());
                    kept.push((enc, expected(ns, ack, &args)));
                }
                _ => kept.push((enc, expected(ns, ack, &args))),
            }
        }
        for (enc, text) in &kept {
            assert_eq!(enc.engineio_text().as_str(), text);
        }
    }

    #[test]
    fn a_serialize_impl_may_encode_packets_itself() {
        struct Nested;
        impl Serialize for Nested {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let inner = Encoded::event(&Namespace::main(), "inner", &("deep",), None)
                    .map_err(serde::ser::Error::custom)?;
                s.serialize_str(inner.engineio_text())
            }
        }
        let enc = Encoded::event(&Namespace::main(), "outer", &(1, Nested, 2), None).unwrap();
        assert_eq!(
            enc.engineio_text().as_str(),
            r#"42["outer",1,"42[\"inner\",\"deep\"]",2]"#
        );
    }

    #[test]
    fn ten_attachments_or_more_move_the_json_behind_a_longer_header() {
        for n in [9_usize, 10, 11, 123] {
            let atts: Vec<Binary> = (0..n).map(|i| Binary::from(vec![i as u8])).collect();
            let enc = Encoded::event(&Namespace::main(), "e", &(1, &atts), Some(AckId(4))).unwrap();
            let places: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
                .collect();
            assert_eq!(
                enc.engineio_text().as_str(),
                format!(r#"45{n}-4["e",1,[{}]]"#, places.join(","))
            );
            assert_eq!(enc.attachments().len(), n);
            let ack = Encoded::ack(&Namespace::new("/a").unwrap(), AckId(0), &(&atts,)).unwrap();
            assert!(ack.engineio_text().starts_with(&format!("46{n}-/a,0[[")));
        }
    }

    #[test]
    fn long_headers_are_written_too() {
        let long = format!("/{}", "n".repeat(100));
        let ns = Namespace::new(long.as_str()).unwrap();
        let enc = Encoded::event(
            &ns,
            "e",
            &(Binary::from_static(b"z"),),
            Some(AckId(u64::MAX)),
        )
        .unwrap();
        assert_eq!(
            enc.engineio_text().as_str(),
            format!(
                r#"451-{long},{}["e",{{"_placeholder":true,"num":0}}]"#,
                u64::MAX
            )
        );
    }

    #[test]
    fn serialisation_errors_are_reported() {
        let mut bad = std::collections::HashMap::new();
        bad.insert((1, 2), 3);
        assert!(matches!(
            Encoded::event(&Namespace::main(), "e", &(bad,), None),
            Err(EncodeError::Serialize(_))
        ));
    }
}
