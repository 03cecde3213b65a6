//! [`PacketBuf`]: a received packet kept as it arrived, its header read in place.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
#[cfg(feature = "serde")]
use serde::Deserialize;

use crate::attachments::Attachments;
use crate::decoder::{Head, build};
#[cfg(feature = "serde")]
use crate::error::ArgsError;
use crate::error::DecodeError;
use crate::namespace::{AckId, Namespace};
use crate::packet::{Packet, PacketType, Payload, event_name};
#[cfg(doc)]
use crate::{Decoder, PacketRef};

/// A packet as a [`Decoder`] received it: the text message, the header read from it, and the
/// binary messages that followed it. The owned counterpart of [`PacketRef`], which reads a
/// text it borrows.
///
/// [`Decoder::read_text`] and [`Decoder::read_binary`] return one where
/// [`Decoder::decode_text`] and [`Decoder::decode_binary`] return a [`Packet`]: the same
/// packets, accepted and refused alike, with less work per packet. Nothing is built beyond the
/// header's positions in the text: the namespace is read in place ([`ns`](Self::ns) is a
/// `&str`, a [`Namespace`] is built only on request), and moving or dropping a `PacketBuf` is
/// moving or dropping the text and the attachments. A consumer that looks the namespace up,
/// dispatches on the type and hands the payload on (a server) needs no more; one that wants to
/// match on the variants converts it with [`into_packet`](Self::into_packet), which gives the
/// packet the decoder's `decode_*` methods would have.
///
/// ```
/// use socketio_proto::{AckId, DecodeLimits, Decoder, Packet, PacketType};
///
/// let mut decoder = Decoder::new(DecodeLimits::default());
/// let text = r#"2/chat,7["message",{"text":"hi"}]"#;
/// let p = decoder.read_text(text.into()).unwrap().unwrap();
/// assert_eq!(p.packet_type(), PacketType::Event);
/// assert_eq!((p.ns(), p.ack_id()), ("/chat", Some(AckId(7))));
/// assert_eq!(p.event_name().as_deref(), Some("message"));
/// assert_eq!(p.json(), r#"["message",{"text":"hi"}]"#);
/// # #[cfg(feature = "serde")] {
/// #[derive(serde::Deserialize)]
/// struct Message {
///     text: String,
/// }
/// let (m,): (Message,) = p.event_args().unwrap();
/// assert_eq!(m.text, "hi");
/// # }
/// // The packet `decode_text` gives for the same text.
/// assert_eq!(p.into_packet(), decoder.decode_text(text.into()).unwrap().unwrap());
/// ```
#[derive(Clone)]
pub struct PacketBuf {
    /// The packet's text, as received.
    text: Utf8Bytes,
    /// The type as written (`5`/`6` for binary packets).
    ty: PacketType,
    /// Start and end of the namespace in `text` (ASCII positions); equal for the main
    /// namespace.
    ns: (usize, usize),
    ack: Option<AckId>,
    /// Where the JSON starts in `text` (a char boundary; the text's length when there is none).
    json_at: usize,
    /// Where an EVENT's arguments start in the JSON, right after a plain event name (0: not
    /// known).
    args_at: usize,
    attachments: Attachments,
}

impl PacketBuf {
    /// A packet whose header `head` was read from `text` and whose JSON starts at `json_at`,
    /// with no attachments yet.
    #[inline(always)]
    pub(crate) fn new(text: Utf8Bytes, head: &Head, json_at: usize, args_at: usize) -> Self {
        Self {
            text,
            ty: head.ty,
            ns: head.ns,
            ack: head.ack,
            json_at,
            args_at,
            attachments: Attachments::new(),
        }
    }

    /// A packet that owns nothing (`1`: a DISCONNECT of `/`), left behind where one is
    /// taken out of the decoder.
    pub(crate) const fn taken() -> Self {
        Self {
            text: Utf8Bytes::from_static(""),
            ty: PacketType::Disconnect,
            ns: (0, 0),
            ack: None,
            json_at: 0,
            args_at: 0,
            attachments: Attachments::new(),
        }
    }

    /// The attachments, to be filled by the decoder.
    pub(crate) fn attachments_mut(&mut self) -> &mut Attachments {
        &mut self.attachments
    }

    /// The type digit the packet was written with (`5`/`6` for binary packets, which
    /// [`into_packet`](Self::into_packet) folds into [`Packet::Event`] and [`Packet::Ack`]).
    #[must_use]
    pub const fn packet_type(&self) -> PacketType {
        self.ty
    }

    /// The namespace (`/` when the header names none), read in place.
    #[must_use]
    #[inline]
    pub fn ns(&self) -> &str {
        let (start, end) = self.ns;
        if start < end {
            // ASCII positions from the header parse: char boundaries.
            self.text.get(start..end).unwrap_or("/")
        } else {
            "/"
        }
    }

    /// The namespace as a [`Namespace`] value (built here: a short name is copied, a long one
    /// shares the text).
    #[must_use]
    #[inline]
    pub fn namespace(&self) -> Namespace {
        match self.ns {
            (start, end) if start < end => Namespace::checked(&self.text, start..end),
            _ => Namespace::main(),
        }
    }

    /// The ack id: present on an EVENT waiting for an acknowledgement, and on every ACK.
    #[must_use]
    pub const fn ack_id(&self) -> Option<AckId> {
        self.ack
    }

    /// The JSON text (placeholders included), empty when the packet had no payload.
    #[must_use]
    #[inline]
    pub fn json(&self) -> &str {
        self.text.get(self.json_at..).unwrap_or_default()
    }

    /// The binary attachments, in placeholder `num` order.
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        self.attachments.as_slice()
    }

    /// The event name of an EVENT (see [`Payload::event_name`]); `None` for other packets.
    #[must_use]
    pub fn event_name(&self) -> Option<Cow<'_, str>> {
        match self.ty {
            PacketType::Event | PacketType::BinaryEvent => event_name(self.json()),
            _ => None,
        }
    }

    /// Checks the payload in full, as [`Packet::validate`] does on the packet
    /// [`into_packet`](Self::into_packet) gives: a consumer of a decoder that
    /// [defers the JSON check](Decoder::defer_json_check) runs it before passing the raw JSON
    /// on.
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] the default decoder (full check) returns for the same messages.
    pub fn validate(&self) -> Result<(), DecodeError> {
        // An empty payload with attachments declared was refused by the decoder.
        let json = self.json();
        if json.is_empty() {
            return Ok(());
        }
        crate::validate::validate(self.ty, json, self.attachments.len())
    }

    /// The payload, as [`Packet::payload`] has it: `None` for a DISCONNECT and for a CONNECT
    /// without one. The text and the attachments move into it; nothing is copied.
    #[must_use]
    pub fn into_payload(self) -> Option<Payload> {
        match self.ty {
            PacketType::Disconnect => None,
            PacketType::Connect if self.json_at >= self.text.len() => None,
            _ => Some(Payload::with_args_at(
                self.text,
                self.json_at,
                self.attachments,
                self.args_at,
            )),
        }
    }

    /// The packet as a [`Packet`]: what [`Decoder::decode_text`] or
    /// [`Decoder::decode_binary`] returns for the same messages.
    #[must_use]
    pub fn into_packet(self) -> Packet {
        let ns = self.namespace();
        build(
            self.ty,
            ns,
            self.ack,
            (self.text, self.json_at),
            self.args_at,
            self.attachments,
        )
    }

    /// The packet, its text and attachments taken out (for the decoder's `decode_binary`,
    /// which drops what is left).
    #[inline(always)]
    pub(crate) fn take_packet(&mut self) -> Packet {
        let ns = self.namespace();
        build(
            self.ty,
            ns,
            self.ack,
            (std::mem::take(&mut self.text), self.json_at),
            self.args_at,
            std::mem::take(&mut self.attachments),
        )
    }
}

impl From<PacketBuf> for Packet {
    fn from(p: PacketBuf) -> Self {
        p.into_packet()
    }
}

#[cfg(feature = "serde")]
impl PacketBuf {
    /// Deserialises the arguments of an EVENT, as [`Payload::event_args`] does.
    ///
    /// # Errors
    ///
    /// [`ArgsError::Deserialize`] when the arguments do not match `T` or the JSON is
    /// malformed.
    #[inline]
    pub fn event_args<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        crate::de::args(self.json(), self.attachments(), self.args_at)
    }

    /// Deserialises the arguments of an ACK, as [`Payload::ack_args`] does.
    ///
    /// # Errors
    ///
    /// As [`event_args`](Self::event_args).
    #[inline]
    pub fn ack_args<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        crate::de::args(self.json(), self.attachments(), crate::de::NO_NAME)
    }

    /// Deserialises the whole JSON value (a CONNECT auth object, CONNECT_ERROR data), as
    /// [`Payload::deserialize`] does.
    ///
    /// # Errors
    ///
    /// As [`event_args`](Self::event_args) (and for an empty payload).
    #[inline]
    pub fn deserialize<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        crate::de::deserialize(self.json(), self.attachments())
    }
}

impl PartialEq for PacketBuf {
    /// The same type, namespace, ack id, JSON and attachments (however the header was
    /// spelled).
    fn eq(&self, other: &Self) -> bool {
        self.ty == other.ty
            && self.ack == other.ack
            && self.ns() == other.ns()
            && self.json() == other.json()
            && self.attachments == other.attachments
    }
}

impl Eq for PacketBuf {}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBuf")
            .field("ty", &self.ty)
            .field("ns", &self.ns())
            .field("ack", &self.ack)
            .field("json", &self.json())
            .field("attachments", &self.attachments)
            .finish()
    }
}
