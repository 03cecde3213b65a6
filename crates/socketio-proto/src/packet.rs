//! Packets, payloads and the encoder.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
#[cfg(feature = "serde")]
use bytes::BytesMut;
use engineio_proto::{Frame, Message, Utf8Bytes};

use crate::attachments::Attachments;
use crate::error::DecodeError;
use crate::namespace::{AckId, Namespace};

/// The packet type digit on the wire.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum PacketType {
    /// `0`: join a namespace (client), or accept a join (server).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event.
    Event,
    /// `3`: an acknowledgement.
    Ack,
    /// `4`: a refused namespace join.
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck,
}

impl PacketType {
    /// The type from its wire digit.
    #[must_use]
    pub const fn from_digit(digit: u8) -> Option<Self> {
        Some(match digit {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit.
    #[must_use]
    pub const fn digit(self) -> u8 {
        match self {
            Self::Connect => b'0',
            Self::Disconnect => b'1',
            Self::Event => b'2',
            Self::Ack => b'3',
            Self::ConnectError => b'4',
            Self::BinaryEvent => b'5',
            Self::BinaryAck => b'6',
        }
    }

    /// Whether the type carries an attachment count (`5`, `6`).
    #[must_use]
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }

    /// The reference's name for the type (`CONNECT`, `BINARY_EVENT`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON part of a packet and the binary attachments its placeholders refer to.
///
/// The JSON is read in the received (or encoded) text and the attachments are the binary
/// messages as received: nothing is copied or rewritten. A decoded payload keeps the whole
/// packet text and where its JSON starts, so that decoding takes no slice of it;
/// [`Payload::json_text`] slices on demand. Placeholders
/// (`{"_placeholder":true,"num":N}`) stay in the JSON; the serde helpers substitute them when
/// the payload is deserialised.
///
/// An empty `json` means the packet had no payload (`2`, `3/admin,13`): the reference accepts
/// those and treats them as "no arguments".
///
/// ```
/// use socketio_proto::Payload;
///
/// let p = Payload::from_json(r#"["chat",{"text":"hi"}]"#);
/// assert_eq!(p.event_name().as_deref(), Some("chat"));
/// assert!(p.attachments().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Payload {
    /// The text whose tail is the JSON: the whole packet text as received, so that decoding
    /// takes no slice of it (a reference-count increment and decrement), or the JSON alone.
    text: Utf8Bytes,
    /// Where the JSON starts in `text` (a char boundary).
    json_at: usize,
    /// Where an EVENT's arguments start, right after a plain event name, when the decoder
    /// found it (0: not known). Derived from `json`, so equality and hashing leave it out.
    #[cfg_attr(
        not(feature = "serde"),
        expect(dead_code, reason = "read by the serde helpers only")
    )]
    args_at: usize,
    attachments: Attachments,
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json() && self.attachments == other.attachments
    }
}

impl Eq for Payload {}

impl std::hash::Hash for Payload {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.json().hash(state);
        self.attachments.hash(state);
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("json", &self.json())
            .field("attachments", &self.attachments)
            .finish()
    }
}

impl Payload {
    /// A payload from JSON text and attachments.
    ///
    /// The text is not checked here: the caller promises well-formed JSON of the shape the
    /// packet type requires, with one placeholder per attachment. The decoder and the serde
    /// helpers only ever build such payloads.
    #[must_use]
    pub fn new(json: Utf8Bytes, attachments: Vec<Bytes>) -> Self {
        Self::with_args_at(json, 0, attachments.into(), 0)
    }

    /// A payload whose JSON is `text` from `json_at` on (a char boundary), and whose EVENT
    /// arguments start at `args_at` of the JSON, right after a plain event name (0: not
    /// known), as the decoder's check found it.
    #[inline]
    pub(crate) fn with_args_at(
        text: Utf8Bytes,
        json_at: usize,
        attachments: Attachments,
        args_at: usize,
    ) -> Self {
        Self {
            text,
            json_at,
            args_at,
            attachments,
        }
    }

    /// Where an EVENT's arguments start (0: not known, the reader finds the name's end).
    #[cfg(feature = "serde")]
    pub(crate) const fn args_at(&self) -> usize {
        self.args_at
    }

    /// A payload without attachments (see [`Payload::new`] for what is not checked).
    #[must_use]
    pub fn from_json(json: impl Into<Utf8Bytes>) -> Self {
        Self::new(json.into(), Vec::new())
    }

    /// The JSON text (placeholders included), empty when the packet had no payload.
    #[must_use]
    #[inline]
    pub fn json(&self) -> &str {
        self.text.get(self.json_at..).unwrap_or_default()
    }

    /// The JSON text as shared text: a slice of the buffer it was received in, not a copy.
    #[must_use]
    pub fn json_text(&self) -> Utf8Bytes {
        match self.json_at {
            0 => self.text.clone(),
            at => self.text.tail(at).unwrap_or_default(),
        }
    }

    /// The binary attachments, in placeholder `num` order.
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        self.attachments.as_slice()
    }

    /// Splits the payload into its JSON and its attachments.
    #[must_use]
    pub fn into_parts(self) -> (Utf8Bytes, Vec<Bytes>) {
        (self.json_text(), self.attachments.into_vec())
    }

    /// Whether the packet carried no payload at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.json().is_empty()
    }

    /// Total size in bytes: JSON plus attachments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.attachments()
            .iter()
            .fold(self.json().len(), |n, a| n.saturating_add(a.len()))
    }

    /// The first element of the JSON array when it is a string or a number, without parsing
    /// the rest of the payload: the event name of an EVENT.
    ///
    /// Plain strings are borrowed from the payload; strings with escapes are decoded (and then
    /// owned); numbers are returned as written (`2[1,"a"]` has event name `1`). Returns `None`
    /// when the payload is not an array starting with a string or a number.
    #[must_use]
    pub fn event_name(&self) -> Option<Cow<'_, str>> {
        event_name(self.json())
    }
}

/// [`Payload::event_name`] of the JSON text `s`.
pub(crate) fn event_name(s: &str) -> Option<Cow<'_, str>> {
    let rest = s.trim_start_matches(is_json_ws).strip_prefix('[')?;
    let rest = rest.trim_start_matches(is_json_ws);
    if let Some(body) = rest.strip_prefix('"') {
        let end = body.find(['"', '\\'])?;
        if body.as_bytes()[end] == b'"' {
            return Some(Cow::Borrowed(&body[..end]));
        }
        // An escape: let serde_json decode the string (rare; costs one small allocation).
        let mut de = serde_json::Deserializer::from_str(rest);
        return serde::Deserialize::deserialize(&mut de)
            .ok()
            .map(Cow::Owned);
    }
    let end = rest
        .find(|c: char| !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))
        .unwrap_or(rest.len());
    let num = &rest[..end];
    (!num.is_empty() && num.as_bytes().iter().any(u8::is_ascii_digit)).then_some(Cow::Borrowed(num))
}

fn is_json_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A Socket.IO packet.
///
/// `BINARY_EVENT` and `BINARY_ACK` are wire spellings, not variants: the encoder writes `5`/`6`
/// when the payload has attachments, and the decoder folds them back into [`Packet::Event`] and
/// [`Packet::Ack`].
///
/// ```
/// use socketio_proto::{AckId, Namespace, Packet, Payload};
///
/// let p = Packet::Event {
///     ns: Namespace::new("/admin").unwrap(),
///     data: Payload::from_json(r#"["bar"]"#),
///     ack: Some(AckId(12)),
/// };
/// assert_eq!(p.encode().text(), r#"2/admin,12["bar"]"#);
/// assert_eq!(Packet::connect_ok(Namespace::main(), "abc").encode().text(), r#"0{"sid":"abc"}"#);
/// ```
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Packet {
    /// `0`: join a namespace (client, with optional auth object) or accept the join (server,
    /// with `{"sid":…}`).
    Connect {
        /// The namespace.
        ns: Namespace,
        /// The JSON object, if any.
        auth: Option<Payload>,
    },
    /// `1`: leave a namespace.
    Disconnect {
        /// The namespace.
        ns: Namespace,
    },
    /// `2` / `5`: an event; the payload is `[name, args...]`.
    Event {
        /// The namespace.
        ns: Namespace,
        /// The `[name, args...]` array and its attachments.
        data: Payload,
        /// Present when the sender waits for an acknowledgement.
        ack: Option<AckId>,
    },
    /// `3` / `6`: the acknowledgement of the event with the same id; the payload is
    /// `[args...]`.
    Ack {
        /// The namespace.
        ns: Namespace,
        /// The arguments array and its attachments.
        data: Payload,
        /// The id of the acknowledged event.
        id: AckId,
    },
    /// `4`: a refused namespace join; the payload is `{"message":…, "data"?:…}` (or a string
    /// from protocol v4 peers).
    ConnectError {
        /// The namespace.
        ns: Namespace,
        /// The error object.
        data: Payload,
    },
}

impl Packet {
    /// The server's CONNECT reply: exactly `0{"sid":"<sid>"}` (or `0/nsp,{"sid":"<sid>"}`).
    #[must_use]
    pub fn connect_ok(ns: Namespace, sid: &str) -> Self {
        let mut json = String::with_capacity(sid.len() + 10);
        json.push_str(r#"{"sid":"#);
        push_json_str(&mut json, sid);
        json.push('}');
        Self::Connect {
            ns,
            auth: Some(Payload::from_json(json)),
        }
    }

    /// The server's CONNECT reply with connection state recovery enabled:
    /// `0{"sid":"<sid>","pid":"<pid>"}`.
    #[must_use]
    pub fn connect_ok_with_pid(ns: Namespace, sid: &str, pid: &str) -> Self {
        let mut json = String::with_capacity(sid.len() + pid.len() + 18);
        json.push_str(r#"{"sid":"#);
        push_json_str(&mut json, sid);
        json.push_str(r#","pid":"#);
        push_json_str(&mut json, pid);
        json.push('}');
        Self::Connect {
            ns,
            auth: Some(Payload::from_json(json)),
        }
    }

    /// A CONNECT_ERROR `{"message":"<message>"}`, e.g. `4/random,{"message":"Invalid
    /// namespace"}`.
    #[must_use]
    pub fn connect_error(ns: Namespace, message: &str) -> Self {
        let mut json = String::with_capacity(message.len() + 14);
        json.push_str(r#"{"message":"#);
        push_json_str(&mut json, message);
        json.push('}');
        Self::ConnectError {
            ns,
            data: Payload::from_json(json),
        }
    }

    /// A DISCONNECT for `ns`.
    #[must_use]
    pub const fn disconnect(ns: Namespace) -> Self {
        Self::Disconnect { ns }
    }

    /// The packet's namespace.
    #[must_use]
    pub fn ns(&self) -> &Namespace {
        match self {
            Self::Connect { ns, .. }
            | Self::Disconnect { ns }
            | Self::Event { ns, .. }
            | Self::Ack { ns, .. }
            | Self::ConnectError { ns, .. } => ns,
        }
    }

    /// The payload, if the packet has one.
    #[must_use]
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Self::Connect { auth, .. } => auth.as_ref(),
            Self::Disconnect { .. } => None,
            Self::Event { data, .. } | Self::Ack { data, .. } | Self::ConnectError { data, .. } => {
                Some(data)
            }
        }
    }

    /// The ack id of an EVENT waiting for an acknowledgement, or of an ACK.
    #[must_use]
    pub fn ack_id(&self) -> Option<AckId> {
        match self {
            Self::Event { ack, .. } => *ack,
            Self::Ack { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The event name of an EVENT (see [`Payload::event_name`]); `None` for other packets.
    #[must_use]
    pub fn event_name(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Event { data, .. } => data.event_name(),
            _ => None,
        }
    }

    /// Checks the payload in full, as the reference parser does on receive: well-formed JSON
    /// of the shape the packet type requires (see [`DecodeError`]), and in a packet with
    /// attachments, one well-formed placeholder per attachment.
    ///
    /// Packets from a default [`Decoder`](crate::Decoder) have passed this check already; a
    /// decoder that [defers the JSON check](crate::Decoder::defer_json_check) leaves it to the
    /// consumer, which must run it before passing the raw JSON on.
    ///
    /// ```
    /// use socketio_proto::{DecodeError, Namespace, Packet, PacketType, Payload};
    ///
    /// let p = Packet::Event { ns: Namespace::main(), data: Payload::from_json("[]"), ack: None };
    /// assert_eq!(p.validate(), Err(DecodeError::InvalidPayload(PacketType::Event)));
    /// ```
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] the default decoder returns for the same packet.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let ty = self.packet_type();
        match self.payload() {
            None => Ok(()),
            Some(p) if p.is_empty() => match p.attachments.len() {
                0 => Ok(()),
                _ => Err(DecodeError::UnreferencedAttachment(0)),
            },
            Some(p) => crate::validate::validate(ty, p.json(), p.attachments.len()),
        }
    }

    /// The type digit this packet is written with (`5`/`6` when it has attachments).
    #[must_use]
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect { .. } => PacketType::Connect,
            Self::Disconnect { .. } => PacketType::Disconnect,
            Self::Event { data, .. } if data.attachments.is_empty() => PacketType::Event,
            Self::Event { .. } => PacketType::BinaryEvent,
            Self::Ack { data, .. } if data.attachments.is_empty() => PacketType::Ack,
            Self::Ack { .. } => PacketType::BinaryAck,
            Self::ConnectError { .. } => PacketType::ConnectError,
        }
    }

    /// Encodes the packet: the Engine.IO `4` digit, the header and the JSON go into one buffer
    /// sized up front; attachments are shared, not copied.
    ///
    /// The text is byte-identical to what the reference `socket.io-parser` writes for the same
    /// packet. Encode once and clone the result for every recipient of a broadcast.
    #[must_use]
    pub fn encode(&self) -> Encoded {
        let payload = self.payload();
        let json = payload.map_or("", Payload::json);
        let attachments = payload.map_or(&[][..], Payload::attachments);
        let header = Header {
            ty: self.packet_type(),
            attachments: attachments.len(),
            ns: self.ns(),
            ack: self.ack_id(),
        };
        let mut out = String::with_capacity(1 + header.len() + json.len());
        header.write_engineio(&mut out);
        out.push_str(json);
        Encoded::new(Utf8Bytes::from(out), attachments.into())
    }
}

/// A packet header, written before the JSON.
pub(crate) struct Header<'a> {
    pub(crate) ty: PacketType,
    pub(crate) attachments: usize,
    pub(crate) ns: &'a Namespace,
    pub(crate) ack: Option<AckId>,
}

impl Header<'_> {
    /// Length in bytes, without the Engine.IO `4`.
    pub(crate) fn len(&self) -> usize {
        let mut n = 1;
        if self.ty.is_binary() {
            n += decimal_len(self.attachments as u64) + 1;
        }
        if !self.ns.is_main() {
            n += self.ns.len() + 1;
        }
        if let Some(id) = self.ack {
            n += decimal_len(id.0);
        }
        n
    }

    pub(crate) fn write(&self, out: &mut String) {
        self.emit(|part| out.push_str(part));
    }

    /// Appends `4` and the header to `out`.
    pub(crate) fn write_engineio(&self, out: &mut String) {
        if self.ns.is_main() && self.ack.is_none() && !self.ty.is_binary() {
            const SHORT: [&str; 7] = ["40", "41", "42", "43", "44", "45", "46"];
            if let Some(short) = SHORT.get(usize::from(self.ty.digit() - b'0')) {
                out.push_str(short);
                return;
            }
        }
        out.push('4');
        self.write(out);
    }

    /// `4`, the type digit and, for a binary packet, the attachment count and `-`: the part
    /// of the Engine.IO text that depends on the attachments, right-aligned in four bytes,
    /// and its length; `None` when it takes more than four bytes (ten attachments or more).
    #[cfg(feature = "serde")]
    #[inline]
    pub(crate) fn lead(&self) -> Option<([u8; 4], usize)> {
        if !self.ty.is_binary() {
            return Some(([0, 0, b'4', self.ty.digit()], 2));
        }
        let n = u8::try_from(self.attachments).ok().filter(|n| *n < 10)?;
        Some(([b'4', self.ty.digit(), b'0' + n, b'-'], 4))
    }

    /// Appends the part of the header after the attachment count: `/nsp,` and the ack id.
    #[cfg(feature = "serde")]
    #[inline]
    pub(crate) fn write_tail(&self, out: &mut BytesMut) {
        if self.ack.is_some() || !self.ns.is_main() {
            self.write_tail_slow(out);
        }
    }

    #[cfg(feature = "serde")]
    fn write_tail_slow(&self, out: &mut BytesMut) {
        self.emit_tail(&mut |part: &str| out.extend_from_slice(part.as_bytes()));
    }

    /// Hands the header to `put` piece by piece.
    fn emit(&self, mut put: impl FnMut(&str)) {
        put(digit_str(u64::from(self.ty.digit() - b'0')));
        if self.ty.is_binary() {
            put_decimal(self.attachments as u64, &mut put);
            put("-");
        }
        self.emit_tail(&mut put);
    }

    /// Hands the part of the header after the attachment count to `put`.
    fn emit_tail(&self, put: &mut impl FnMut(&str)) {
        if !self.ns.is_main() {
            put(self.ns.as_str());
            put(",");
        }
        if let Some(id) = self.ack {
            put_decimal(id.0, put);
        }
    }
}

/// The decimal digit `d` (0-9) as a one-byte string.
fn digit_str(d: u64) -> &'static str {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    DIGITS[(d % 10) as usize]
}

/// Hands the decimal digits of `n` to `put`, most significant first.
fn put_decimal(n: u64, put: &mut impl FnMut(&str)) {
    if n < 10 {
        put(digit_str(n));
        return;
    }
    let mut scale = 1u64;
    while n / scale >= 10 {
        scale *= 10;
    }
    while scale > 0 {
        put(digit_str(n / scale));
        scale /= 10;
    }
}

pub(crate) fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Appends `s` as a JSON string literal, escaped exactly like `JSON.stringify`.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // serde_json's escaping matches JSON.stringify for well-formed strings, and serialising a
    // string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// An encoded packet: the text message and the binary attachments that follow it.
///
/// Cloning shares every buffer, so one `Encoded` serves all recipients of a broadcast.
///
/// ```
/// use bytes::Bytes;
/// use engineio_proto::Message;
/// use socketio_proto::{Namespace, Packet, Payload};
///
/// let p = Packet::Event {
///     ns: Namespace::main(),
///     data: Payload::new(
///         r#"["baz",{"_placeholder":true,"num":0}]"#.into(),
///         vec![Bytes::from_static(b"\x01\x02")],
///     ),
///     ack: None,
/// };
/// let enc = p.encode();
/// assert_eq!(enc.text(), r#"51-["baz",{"_placeholder":true,"num":0}]"#);
/// let msgs: Vec<Message> = enc.into_iter().collect();
/// assert_eq!(msgs.len(), 2);
/// assert_eq!(msgs[1], Message::Binary(Bytes::from_static(b"\x01\x02")));
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Encoded {
    /// `4` + header + JSON.
    message: Utf8Bytes,
    attachments: Attachments,
}

impl Encoded {
    /// `message` must start with the Engine.IO `4`.
    pub(crate) fn new(message: Utf8Bytes, attachments: Attachments) -> Self {
        debug_assert!(message.starts_with('4'));
        Self {
            message,
            attachments,
        }
    }

    /// The server's CONNECT reply, encoded at once: the same text as
    /// `Packet::connect_ok(ns, sid).encode()` (`0{"sid":"<sid>"}`, or
    /// `0/nsp,{"sid":"<sid>"}`), written once into one exactly sized buffer.
    ///
    /// ```
    /// use socketio_proto::{Encoded, Namespace, Packet};
    ///
    /// let enc = Encoded::connect_ok(&Namespace::main(), "abc");
    /// assert_eq!(enc.engineio_text().as_str(), r#"40{"sid":"abc"}"#);
    /// assert_eq!(enc, Packet::connect_ok(Namespace::main(), "abc").encode());
    /// ```
    #[must_use]
    pub fn connect_ok(ns: &Namespace, sid: &str) -> Self {
        Self::connect_reply(ns, sid, None)
    }

    /// The server's CONNECT reply with connection state recovery enabled, encoded at once:
    /// the same text as `Packet::connect_ok_with_pid(ns, sid, pid).encode()`
    /// (`0{"sid":"<sid>","pid":"<pid>"}`).
    #[must_use]
    pub fn connect_ok_with_pid(ns: &Namespace, sid: &str, pid: &str) -> Self {
        Self::connect_reply(ns, sid, Some(pid))
    }

    fn connect_reply(ns: &Namespace, sid: &str, pid: Option<&str>) -> Self {
        let header = Header {
            ty: PacketType::Connect,
            attachments: 0,
            ns,
            ack: None,
        };
        // `{"sid":` + the quoted sid + `}`, and `,"pid":` + the quoted pid: exact unless a
        // string needs escapes (then the buffer grows, and the text is the same).
        let json_len = sid.len() + 10 + pid.map_or(0, |p| p.len() + 9);
        let mut out = String::with_capacity(1 + header.len() + json_len);
        header.write_engineio(&mut out);
        out.push_str(r#"{"sid":"#);
        push_json_str(&mut out, sid);
        if let Some(pid) = pid {
            out.push_str(r#","pid":"#);
            push_json_str(&mut out, pid);
        }
        out.push('}');
        Self::new(Utf8Bytes::from(out), Attachments::new())
    }

    /// The Socket.IO text (header + JSON, without the Engine.IO `4`), sharing the buffer.
    #[must_use]
    pub fn text(&self) -> Utf8Bytes {
        // The buffer starts with the one-byte '4', so 1 is a char boundary inside it.
        self.message.tail(1).unwrap_or_default()
    }

    /// The whole Engine.IO message text, `4` included.
    #[must_use]
    pub fn engineio_text(&self) -> &Utf8Bytes {
        &self.message
    }

    /// The binary attachments, in order.
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        self.attachments.as_slice()
    }

    /// The Socket.IO text and the attachments, taken apart.
    #[cfg(feature = "serde")]
    pub(crate) fn into_text_and_attachments(self) -> (Utf8Bytes, Attachments) {
        (self.text(), self.attachments)
    }

    /// Number of Engine.IO messages: the text plus one per attachment.
    #[must_use]
    pub fn len(&self) -> usize {
        1 + self.attachments.len()
    }

    /// Always `false`: there is at least the text message.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The Engine.IO messages to send, in order: the text, then one binary message per
    /// attachment. Cheap: every message shares the encoded buffers.
    pub fn messages(&self) -> impl ExactSizeIterator<Item = Message> + '_ {
        std::iter::once(Message::Text(self.text()))
            .chain(self.attachments().iter().cloned().map(Message::Binary))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// The pre-encoded Engine.IO frames to send, in order: the text frame (the `4` digit is
    /// already in the buffer, so no copy is made), then one binary frame per attachment.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = Frame> + '_ {
        let text = Frame::from_encoded_message(self.message.clone())
            .unwrap_or_else(|| Frame::message(Message::Text(self.text())));
        Frames {
            text: Some(text),
            attachments: self.attachments().iter(),
        }
    }
}

/// The iterator of [`Encoded::frames`] (no allocation).
struct Frames<'a> {
    text: Option<Frame>,
    attachments: std::slice::Iter<'a, Bytes>,
}

impl Iterator for Frames<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        self.text.take().or_else(|| {
            self.attachments
                .next()
                .map(|a| Frame::message(Message::Binary(a.clone())))
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.text.is_some()) + self.attachments.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Frames<'_> {}

impl IntoIterator for Encoded {
    type Item = Message;
    type IntoIter = std::iter::Chain<
        std::iter::Once<Message>,
        std::iter::Map<std::vec::IntoIter<Bytes>, fn(Bytes) -> Message>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        let text = self.text();
        std::iter::once(Message::Text(text)).chain(
            self.attachments
                .into_vec()
                .into_iter()
                .map(Message::Binary as fn(Bytes) -> Message),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past 128 bytes, moving a value is a call to `memcpy`, and the decoder moves every
    /// packet it returns (a namespace kept as the packet text plus a range made `Packet` 136
    /// bytes and cost 87 instructions a binary packet in such calls).
    #[test]
    fn a_packet_stays_within_128_bytes() {
        assert!(size_of::<Packet>() <= 128, "{}", size_of::<Packet>());
        assert!(
            size_of::<Result<Option<Packet>, DecodeError>>() <= 128,
            "{}",
            size_of::<Result<Option<Packet>, DecodeError>>()
        );
    }

    fn ns(s: &str) -> Namespace {
        Namespace::new(s).unwrap()
    }

    #[test]
    fn event_name_fast_path_and_escapes() {
        let name = |j: &str| Payload::from_json(j).event_name().map(Cow::into_owned);
        assert_eq!(name(r#"["foo",1]"#).as_deref(), Some("foo"));
        assert_eq!(name(r#" [ "foo" ]"#).as_deref(), Some("foo"));
        assert_eq!(name(r#"["a\"b",1]"#).as_deref(), Some("a\"b"));
        assert_eq!(name(r#"["\u0063onnect"]"#).as_deref(), Some("connect"));
        assert_eq!(name(r#"[12,"a"]"#).as_deref(), Some("12"));
        assert_eq!(name(r#"[-1.5e3]"#).as_deref(), Some("-1.5e3"));
        assert_eq!(name(r#"[true]"#), None);
        assert_eq!(name(r#"{}"#), None);
        assert_eq!(name(""), None);
        assert_eq!(name(r#"["unterminated"#), None);
        // The borrowed name shares the payload's buffer.
        let p = Payload::from_json(r#"["foo"]"#);
        assert!(matches!(p.event_name(), Some(Cow::Borrowed("foo"))));
    }

    #[test]
    fn header_len_matches_written() {
        let n = ns("/admin");
        for (ty, att, ack) in [
            (PacketType::Connect, 0, None),
            (PacketType::BinaryAck, 12, Some(AckId(u64::MAX))),
            (PacketType::Event, 0, Some(AckId(0))),
        ] {
            let h = Header {
                ty,
                attachments: att,
                ns: &n,
                ack,
            };
            let mut s = String::new();
            h.write(&mut s);
            assert_eq!(s.len(), h.len(), "{s}");
        }
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(u64::MAX), 20);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn lead_and_tail_write_the_header() {
        let n = ns("/admin");
        // `lead` and `write_tail` (with their shortcuts) write what `write` writes.
        let long = ns(&format!("/{}", "x".repeat(80)));
        for ty in [
            PacketType::Connect,
            PacketType::Disconnect,
            PacketType::Event,
            PacketType::Ack,
            PacketType::ConnectError,
            PacketType::BinaryEvent,
            PacketType::BinaryAck,
        ] {
            for attachments in [0, 1, 9, 10, 12] {
                for ns in [&Namespace::main(), &n, &long] {
                    for ack in [None, Some(AckId(0)), Some(AckId(987))] {
                        let h = Header {
                            ty,
                            attachments,
                            ns,
                            ack,
                        };
                        let mut written = String::from("4");
                        h.write(&mut written);
                        // The lead and the tail make the same text.
                        let mut parts = BytesMut::new();
                        match h.lead() {
                            Some((lead, len)) => parts.extend_from_slice(&lead[4 - len..]),
                            None => {
                                assert!(attachments >= 10 && ty.is_binary());
                                parts.extend_from_slice(
                                    format!("4{}{attachments}-", ty.digit() - b'0').as_bytes(),
                                );
                            }
                        }
                        h.write_tail(&mut parts);
                        assert_eq!(&parts[..], written.as_bytes());
                    }
                }
            }
        }
    }

    #[test]
    fn builders_write_reference_text() {
        assert_eq!(
            Packet::connect_ok(Namespace::main(), "wZX3oN0bSVIhsaknAAAI")
                .encode()
                .text(),
            r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#
        );
        assert_eq!(
            Packet::connect_ok(ns("/admin"), "x").encode().text(),
            r#"0/admin,{"sid":"x"}"#
        );
        assert_eq!(
            Packet::connect_ok_with_pid(Namespace::main(), "s", "p")
                .encode()
                .text(),
            r#"0{"sid":"s","pid":"p"}"#
        );
        assert_eq!(
            Packet::connect_error(ns("/random"), "Invalid namespace")
                .encode()
                .engineio_text()
                .as_str(),
            r#"44/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            Packet::connect_error(Namespace::main(), "say \"no\"\n")
                .encode()
                .text(),
            r#"4{"message":"say \"no\"\n"}"#
        );
        assert_eq!(Packet::disconnect(ns("/admin")).encode().text(), "1/admin,");
        assert_eq!(Packet::disconnect(Namespace::main()).encode().text(), "1");
    }

    #[test]
    fn encoded_connect_replies_match_the_packet_builders() {
        let admin = ns("/admin");
        assert_eq!(
            Encoded::connect_ok(&Namespace::main(), "wZX3oN0bSVIhsaknAAAI")
                .engineio_text()
                .as_str(),
            r#"40{"sid":"wZX3oN0bSVIhsaknAAAI"}"#
        );
        assert_eq!(
            Encoded::connect_ok(&admin, "x").text(),
            r#"0/admin,{"sid":"x"}"#
        );
        assert_eq!(
            Encoded::connect_ok_with_pid(&admin, "s", "p").text(),
            r#"0/admin,{"sid":"s","pid":"p"}"#
        );
        for (sid, pid) in [("", ""), ("a\"b", "\n"), ("é", "x\u{1}")] {
            for n in [Namespace::main(), admin.clone()] {
                assert_eq!(
                    Encoded::connect_ok(&n, sid),
                    Packet::connect_ok(n.clone(), sid).encode()
                );
                assert_eq!(
                    Encoded::connect_ok_with_pid(&n, sid, pid),
                    Packet::connect_ok_with_pid(n.clone(), sid, pid).encode()
                );
            }
        }
        // Exactly sized when nothing needs escaping.
        let enc = Encoded::connect_ok_with_pid(&admin, "abc", "def");
        assert!(enc.attachments().is_empty());
        assert_eq!(
            enc.engineio_text().as_str(),
            r#"40/admin,{"sid":"abc","pid":"def"}"#
        );
    }

    #[test]
    fn frames_share_the_encoded_buffer() {
        let enc = Packet::Event {
            ns: Namespace::main(),
            data: Payload::new(
                r#"["a",{"_placeholder":true,"num":0}]"#.into(),
                vec![Bytes::from_static(b"xyz")],
            ),
            ack: None,
        }
        .encode();
        let frames: Vec<Frame> = enc.frames().collect();
        assert_eq!(frames.len(), 2);
        let engineio_proto::WsMessage::Text(t) = frames[0].to_ws() else {
            panic!("text first")
        };
        assert_eq!(t.as_ptr(), enc.engineio_text().as_ptr());
        assert_eq!(enc.text().as_ptr(), enc.engineio_text()[1..].as_ptr());
        let msgs: Vec<Message> = enc.messages().collect();
        assert_eq!(msgs, enc.clone().into_iter().collect::<Vec<_>>());
        assert_eq!(enc.len(), 2);
    }
}
