//! [`PacketRef`]: a Socket.IO text packet read in place, without building a [`Packet`].

use std::borrow::Cow;

#[cfg(feature = "serde")]
use bytes::Bytes;
#[cfg(feature = "serde")]
use serde::Deserialize;

use crate::decoder::{DecodeLimits, check_payload, check_text};
#[cfg(feature = "serde")]
use crate::error::ArgsError;
use crate::error::DecodeError;
use crate::namespace::AckId;
use crate::packet::{PacketType, event_name};
#[cfg(doc)]
use crate::{Decoder, Packet, Payload};

/// A Socket.IO text packet read in place: the header fields and a slice of the JSON, all
/// borrowed from the text, nothing allocated.
///
/// [`parse`](Self::parse) accepts and refuses exactly the texts a [`Decoder`] with the
/// [JSON check deferred](Decoder::defer_json_check) accepts and refuses, with the same
/// [`DecodeError`]: the header and the shape at the start of the JSON are checked at once,
/// and whether the rest is well-formed is found out by the reader ([`event_args`],
/// [`ack_args`], [`deserialize`]) or by [`validate`]. A consumer that only needs typed
/// arguments then pays for one pass of serde_json over the payload, and no [`Packet`].
///
/// A binary packet (`5`, `6`) is the text part only: its attachments arrive as the next
/// binary messages, and the reader takes them as a slice, one per declared attachment. Feed
/// the text to a [`Decoder`] instead where the connection carries binary packets and the
/// attachments are not gathered elsewhere.
///
/// [`event_args`]: Self::event_args
/// [`ack_args`]: Self::ack_args
/// [`deserialize`]: Self::deserialize
/// [`validate`]: Self::validate
///
/// ```
/// use socketio_proto::{AckId, DecodeError, DecodeLimits, PacketRef, PacketType};
///
/// let limits = DecodeLimits::default();
/// let p = PacketRef::parse(r#"2/chat,7["message",{"text":"hi"}]"#, &limits).unwrap();
/// assert_eq!(p.packet_type(), PacketType::Event);
/// assert_eq!((p.ns(), p.ack_id()), ("/chat", Some(AckId(7))));
/// assert_eq!(p.event_name().as_deref(), Some("message"));
/// assert_eq!(p.json(), r#"["message",{"text":"hi"}]"#);
/// # #[cfg(feature = "serde")] {
/// #[derive(serde::Deserialize)]
/// struct Message {
///     text: String,
/// }
/// let (m,): (Message,) = p.event_args(&[]).unwrap();
/// assert_eq!(m.text, "hi");
/// # }
///
/// // Refused as the decoder refuses it.
/// assert_eq!(
///     PacketRef::parse(r#"2["disconnect"]"#, &limits),
///     Err(DecodeError::ReservedEventName("disconnect".into()))
/// );
/// // Malformed JSON past the event name is found by the reader, or by `validate`.
/// let p = PacketRef::parse(r#"2["message",{"text":]"#, &limits).unwrap();
/// assert!(matches!(p.validate(), Err(DecodeError::InvalidJson(_))));
/// ```
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct PacketRef<'a> {
    ty: PacketType,
    attachments: usize,
    ack: Option<AckId>,
    ns: &'a str,
    json: &'a str,
    /// Where the arguments of an EVENT start in `json`, found by `parse`: right after an event
    /// name that is a plain string (see `decoder::check_payload`); 0 when not known.
    args_at: usize,
}

impl<'a> PacketRef<'a> {
    /// Reads the Socket.IO text of an Engine.IO message (the `4` already stripped), as
    /// [`Decoder::decode_text`] with the [JSON check deferred](Decoder::defer_json_check)
    /// does.
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] that decoder returns for `text`: the grammar, the limits, the
    /// payload rules, and the shape facts at the start of the JSON (a binary packet whose
    /// placeholders cannot be accounted for from the text is checked in full, as there).
    pub fn parse(text: &'a str, limits: &DecodeLimits) -> Result<Self, DecodeError> {
        let (head, start) = check_text(text, limits)?;
        // The header is ASCII: `start` is a char boundary.
        let json = text.get(start..).unwrap_or_default();
        let args_at = check_payload::<true>(&head, json, true)?;
        let (ns_start, ns_end) = head.ns;
        // Both come from the header parse: ASCII positions, char boundaries.
        let ns = if ns_start < ns_end {
            text.get(ns_start..ns_end).unwrap_or("/")
        } else {
            "/"
        };
        Ok(Self {
            ty: head.ty,
            attachments: head.attachments,
            ack: head.ack,
            ns,
            json,
            args_at,
        })
    }

    /// The type digit the packet was written with (`5`/`6` for binary packets, which a
    /// [`Decoder`] folds into [`Packet::Event`] and [`Packet::Ack`]).
    #[must_use]
    pub const fn packet_type(&self) -> PacketType {
        self.ty
    }

    /// The namespace (`/` when the header names none).
    #[must_use]
    pub const fn ns(&self) -> &'a str {
        self.ns
    }

    /// The ack id: present on an EVENT waiting for an acknowledgement, and on every ACK.
    #[must_use]
    pub const fn ack_id(&self) -> Option<AckId> {
        self.ack
    }

    /// The attachment count the header declares (`51-` declares 1; 0 for text packets).
    #[must_use]
    pub const fn attachments(&self) -> usize {
        self.attachments
    }

    /// The JSON text (placeholders included), empty when the packet had no payload.
    #[must_use]
    pub const fn json(&self) -> &'a str {
        self.json
    }

    /// The event name of an EVENT (see [`Payload::event_name`]); `None` for other packets.
    #[must_use]
    pub fn event_name(&self) -> Option<Cow<'a, str>> {
        match self.ty {
            PacketType::Event | PacketType::BinaryEvent => event_name(self.json),
            _ => None,
        }
    }

    /// Checks the payload in full, as [`Packet::validate`] does for the packet a [`Decoder`]
    /// builds from the same text: well-formed JSON of the shape the packet type requires,
    /// and in a binary packet one well-formed placeholder per declared attachment.
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] the default decoder (full check) returns for the same text.
    pub fn validate(&self) -> Result<(), DecodeError> {
        // An empty payload with attachments declared was refused by `parse`.
        if self.json.is_empty() {
            return Ok(());
        }
        crate::validate::validate(self.ty, self.json, self.attachments)
    }
}

#[cfg(feature = "serde")]
impl<'a> PacketRef<'a> {
    /// Deserialises the arguments of an EVENT, as [`Payload::event_args`] does for the same
    /// JSON and attachments.
    ///
    /// `attachments` are the binary messages that followed the text, in order: exactly
    /// [`attachments`](Self::attachments) of them (none for a text packet).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use socketio_proto::{ArgsError, Binary, DecodeLimits, PacketRef};
    ///
    /// let text = r#"51-["upload","a.bin",{"_placeholder":true,"num":0}]"#;
    /// let p = PacketRef::parse(text, &DecodeLimits::default()).unwrap();
    /// let atts = [Bytes::from_static(b"\x01\x02")];
    /// let (name, data): (String, Binary) = p.event_args(&atts).unwrap();
    /// assert_eq!((name.as_str(), &data[..]), ("a.bin", &b"\x01\x02"[..]));
    /// assert_eq!(
    ///     p.event_args::<(String,)>(&[]),
    ///     Err(ArgsError::AttachmentCount { declared: 1, given: 0 })
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArgsError::AttachmentCount`] when `attachments` does not have the declared length,
    /// [`ArgsError::Deserialize`] when the arguments do not match `T` or the JSON is
    /// malformed.
    pub fn event_args<T: Deserialize<'a>>(&self, attachments: &'a [Bytes]) -> Result<T, ArgsError> {
        self.count(attachments)?;
        crate::de::args(self.json, attachments, self.args_at)
    }

    /// Deserialises the arguments of an ACK, as [`Payload::ack_args`] does (see
    /// [`event_args`](Self::event_args) for `attachments`).
    ///
    /// # Errors
    ///
    /// As [`event_args`](Self::event_args).
    pub fn ack_args<T: Deserialize<'a>>(&self, attachments: &'a [Bytes]) -> Result<T, ArgsError> {
        self.count(attachments)?;
        crate::de::args(self.json, attachments, crate::de::NO_NAME)
    }

    /// Deserialises the whole JSON value, as [`Payload::deserialize`] does (see
    /// [`event_args`](Self::event_args) for `attachments`).
    ///
    /// # Errors
    ///
    /// As [`event_args`](Self::event_args) (and [`ArgsError::Deserialize`] for an empty
    /// payload).
    pub fn deserialize<T: Deserialize<'a>>(
        &self,
        attachments: &'a [Bytes],
    ) -> Result<T, ArgsError> {
        self.count(attachments)?;
        crate::de::deserialize(self.json, attachments)
    }

    /// Checks that `attachments` has the declared length.
    #[inline]
    fn count(&self, attachments: &[Bytes]) -> Result<(), ArgsError> {
        if attachments.len() == self.attachments {
            Ok(())
        } else {
            Err(ArgsError::AttachmentCount {
                declared: self.attachments,
                given: attachments.len(),
            })
        }
    }
}
