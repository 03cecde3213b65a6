//! Single Engine.IO packets: the seven packet types, their text and binary encodings.
//!
//! A text packet is its type digit followed by UTF-8 data (`4hello`, `2`, `3probe`). A binary
//! message travels as a raw WebSocket binary frame (no type byte) or, inside a polling payload,
//! as `b` followed by standard padded base64.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::text::Utf8Bytes;

/// An application message: text or binary.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// A UTF-8 text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// Length of the message data in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether the message data is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Self::Text(Utf8Bytes::from(s))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Self::Text(Utf8Bytes::from(s))
    }
}

impl From<Utf8Bytes> for Message {
    fn from(s: Utf8Bytes) -> Self {
        Self::Text(s)
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Self::Binary(Bytes::from(b))
    }
}

/// One WebSocket data frame, as the runtime reads or writes it.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum WsMessage {
    /// A text frame.
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl WsMessage {
    /// Length of the frame payload in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether the frame payload is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The seven Engine.IO packet types, by wire digit.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum PacketType {
    /// `0`: handshake, server to client.
    Open,
    /// `1`: close the session.
    Close,
    /// `2`: heartbeat ping (server to client in v4; `2probe` during an upgrade).
    Ping,
    /// `3`: heartbeat pong (client to server in v4; `3probe` during an upgrade).
    Pong,
    /// `4`: application message.
    Message,
    /// `5`: completes the transport upgrade, client to server.
    Upgrade,
    /// `6`: no-op, used to release a waiting poll.
    Noop,
}

impl PacketType {
    /// The wire digit of this type.
    #[must_use]
    pub const fn as_char(self) -> char {
        match self {
            Self::Open => '0',
            Self::Close => '1',
            Self::Ping => '2',
            Self::Pong => '3',
            Self::Message => '4',
            Self::Upgrade => '5',
            Self::Noop => '6',
        }
    }

    /// The type for a wire digit.
    #[must_use]
    pub const fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }
}

/// The handshake data of an `open` packet, with the keys in the reference server's order.
#[derive(Clone, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OpenPacket {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to (`["websocket"]` over polling, `[]` otherwise).
    pub upgrades: Vec<String>,
    /// Milliseconds between two server pings.
    pub ping_interval: u64,
    /// Milliseconds the client has to answer a ping.
    pub ping_timeout: u64,
    /// Largest polling body, in bytes, the server accepts. Old servers omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<u64>,
}

impl OpenPacket {
    /// Builds an open packet.
    #[must_use]
    pub fn new(
        sid: impl Into<String>,
        upgrades: Vec<String>,
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: Option<u64>,
    ) -> Self {
        Self {
            sid: sid.into(),
            upgrades,
            ping_interval,
            ping_timeout,
            max_payload,
        }
    }

    /// Compact JSON in the reference key order: `sid`, `upgrades`, `pingInterval`,
    /// `pingTimeout`, `maxPayload`.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising plain strings and integers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON data of an open packet.
    ///
    /// # Errors
    ///
    /// [`DecodeError::InvalidOpen`] when the JSON is malformed or a key is missing.
    pub fn from_json(json: &str) -> Result<Self, DecodeError> {
        serde_json::from_str(json).map_err(|_| DecodeError::InvalidOpen)
    }
}

/// One Engine.IO packet.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Packet {
    /// `0{...}`: the handshake.
    Open(OpenPacket),
    /// `1`: close.
    Close,
    /// `2` with optional data (`2probe`).
    Ping(Utf8Bytes),
    /// `3` with optional data (`3probe`).
    Pong(Utf8Bytes),
    /// `4...` or a binary frame.
    Message(Message),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

impl Packet {
    /// A `2` ping without data.
    #[must_use]
    pub const fn ping() -> Self {
        Self::Ping(Utf8Bytes::new())
    }

    /// A `3` pong without data.
    #[must_use]
    pub const fn pong() -> Self {
        Self::Pong(Utf8Bytes::new())
    }

    /// The packet's type.
    #[must_use]
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Open(_) => PacketType::Open,
            Self::Close => PacketType::Close,
            Self::Ping(_) => PacketType::Ping,
            Self::Pong(_) => PacketType::Pong,
            Self::Message(_) => PacketType::Message,
            Self::Upgrade => PacketType::Upgrade,
            Self::Noop => PacketType::Noop,
        }
    }

    /// Decodes one text packet, as found in a WebSocket text frame or a polling record.
    ///
    /// Text beginning with `b` is a base64 binary message. The data of `close`, `upgrade` and
    /// `noop` is ignored, as the reference does. The message data shares `text`'s buffer.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for empty input, an unknown type, bad base64 or a malformed open packet.
    pub fn decode_text(text: &Utf8Bytes) -> Result<Self, DecodeError> {
        Self::decode_record(text, 0..text.len())
    }

    /// Decodes the record `range` of `text` (a polling payload), slicing the data straight out
    /// of `text`. `range` must lie on char boundaries.
    pub(crate) fn decode_record(
        text: &Utf8Bytes,
        range: std::ops::Range<usize>,
    ) -> Result<Self, DecodeError> {
        let record = text.as_bytes().get(range.clone()).unwrap_or_default();
        let first = *record.first().ok_or(DecodeError::Empty)?;
        if first == b'b' {
            return decode_base64(&record[1..]).map(|b| Self::Message(Message::Binary(b)));
        }
        let ty = PacketType::from_byte(first).ok_or(DecodeError::UnknownPacketType(first))?;
        // The type byte is ASCII, so the byte after it is a char boundary.
        let data = || text.slice(range.start + 1..range.end);
        Ok(match ty {
            PacketType::Open => {
                let json = text.get(range.start + 1..range.end).unwrap_or_default();
                Self::Open(OpenPacket::from_json(json)?)
            }
            PacketType::Close => Self::Close,
            PacketType::Ping => Self::Ping(data()),
            PacketType::Pong => Self::Pong(data()),
            PacketType::Message => Self::Message(Message::Text(data())),
            PacketType::Upgrade => Self::Upgrade,
            PacketType::Noop => Self::Noop,
        })
    }

    /// Decodes a WebSocket frame: a binary frame is always a binary message (no type byte in v4).
    ///
    /// # Errors
    ///
    /// As [`Packet::decode_text`] for text frames.
    pub fn decode_ws(frame: &WsMessage) -> Result<Self, DecodeError> {
        match frame {
            WsMessage::Text(t) => Self::decode_text(t),
            WsMessage::Binary(b) => Ok(Self::Message(Message::Binary(b.clone()))),
        }
    }

    /// Appends the text form of this packet to `out`: binary becomes `b` + base64.
    pub fn encode_text_into(&self, out: &mut String) {
        match self {
            Self::Message(Message::Binary(b)) => {
                out.push('b');
                base64_simd::STANDARD.encode_append(b, out);
            }
            Self::Message(Message::Text(t)) => {
                out.push('4');
                out.push_str(t);
            }
            Self::Open(open) => {
                out.push('0');
                out.push_str(&open.to_json());
            }
            Self::Ping(d) | Self::Pong(d) => {
                out.push(self.packet_type().as_char());
                out.push_str(d);
            }
            Self::Close | Self::Upgrade | Self::Noop => out.push(self.packet_type().as_char()),
        }
    }

    /// The text form of this packet (for polling; binary becomes `b` + base64).
    #[must_use]
    pub fn encode_text(&self) -> Utf8Bytes {
        // One-digit control packets need no allocation.
        match self {
            Self::Close => return Utf8Bytes::from_static("1"),
            Self::Ping(d) if d.is_empty() => return Utf8Bytes::from_static("2"),
            Self::Pong(d) if d.is_empty() => return Utf8Bytes::from_static("3"),
            Self::Upgrade => return Utf8Bytes::from_static("5"),
            Self::Noop => return Utf8Bytes::from_static("6"),
            _ => {}
        }
        if let Self::Open(open) = self {
            // Serialise the JSON once (encoded_text_len would serialise it too).
            let json = open.to_json();
            let mut out = String::with_capacity(json.len() + 1);
            out.push('0');
            out.push_str(&json);
            return Utf8Bytes::from(out);
        }
        let mut out = String::with_capacity(self.encoded_text_len());
        self.encode_text_into(&mut out);
        Utf8Bytes::from(out)
    }

    /// The WebSocket frame for this packet: binary messages go out raw in a binary frame.
    #[must_use]
    pub fn encode_ws(&self) -> WsMessage {
        match self {
            Self::Message(Message::Binary(b)) => WsMessage::Binary(b.clone()),
            _ => WsMessage::Text(self.encode_text()),
        }
    }

    /// Exact length in bytes of [`Packet::encode_text`]'s output.
    #[must_use]
    pub fn encoded_text_len(&self) -> usize {
        match self {
            Self::Message(Message::Binary(b)) => 1 + base64_len(b.len()),
            Self::Message(Message::Text(t)) => 1 + t.len(),
            Self::Open(open) => 1 + open.to_json().len(),
            Self::Ping(d) | Self::Pong(d) => 1 + d.len(),
            Self::Close | Self::Upgrade | Self::Noop => 1,
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Open => "open",
            Self::Close => "close",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Message => "message",
            Self::Upgrade => "upgrade",
            Self::Noop => "noop",
        };
        f.write_str(name)
    }
}

/// Length of padded standard base64 for `n` bytes.
pub(crate) const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Decodes standard base64 (padding optional) into a fresh buffer.
pub(crate) fn decode_base64(input: &[u8]) -> Result<Bytes, DecodeError> {
    // Padding is optional on input (the JS clients pad; Node's decoder accepts both).
    let engine = if input.len().is_multiple_of(4) {
        &base64_simd::STANDARD
    } else {
        &base64_simd::STANDARD_NO_PAD
    };
    engine
        .decode_to_vec(input)
        .map(Bytes::from)
        .map_err(|_| DecodeError::InvalidBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<Packet, DecodeError> {
        Packet::decode_text(&Utf8Bytes::from(s))
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(text("1"), Ok(Packet::Close));
        assert_eq!(text("2"), Ok(Packet::ping()));
        assert_eq!(text("2probe"), Ok(Packet::Ping("probe".into())));
        assert_eq!(text("3probe"), Ok(Packet::Pong("probe".into())));
        assert_eq!(text("4hello"), Ok(Packet::Message("hello".into())));
        assert_eq!(text("4"), Ok(Packet::Message("".into())));
        assert_eq!(text("5"), Ok(Packet::Upgrade));
        assert_eq!(text("6"), Ok(Packet::Noop));
        assert_eq!(
            text("bAQIDBA=="),
            Ok(Packet::Message(Message::Binary(Bytes::from_static(&[
                1, 2, 3, 4
            ]))))
        );
        assert_eq!(
            text("bAQIDBA"),
            Ok(Packet::Message(Message::Binary(Bytes::from_static(&[
                1, 2, 3, 4
            ]))))
        );
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(text(""), Err(DecodeError::Empty));
        assert_eq!(text("abc"), Err(DecodeError::UnknownPacketType(b'a')));
        assert_eq!(text("7"), Err(DecodeError::UnknownPacketType(b'7')));
        assert_eq!(text("b!!"), Err(DecodeError::InvalidBase64));
        assert_eq!(text("0{"), Err(DecodeError::InvalidOpen));
    }

    #[test]
    fn open_packet_json_in_reference_order() {
        let open = OpenPacket::new(
            "lv_VI97HAXpY6yYWAAAC",
            vec!["websocket".into()],
            25000,
            20000,
            Some(1_000_000),
        );
        let p = Packet::Open(open);
        assert_eq!(
            p.encode_text(),
            "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
        );
        assert_eq!(text(&p.encode_text()), Ok(p.clone()));
        assert_eq!(p.encoded_text_len(), p.encode_text().len());
    }

    #[test]
    fn binary_encodings() {
        let p = Packet::Message(Message::Binary(Bytes::from_static(&[1, 2, 3, 4])));
        assert_eq!(p.encode_text(), "bAQIDBA==");
        assert_eq!(
            p.encode_ws(),
            WsMessage::Binary(Bytes::from_static(&[1, 2, 3, 4]))
        );
        assert_eq!(p.encoded_text_len(), 9);
        let ws = Packet::decode_ws(&WsMessage::Binary(Bytes::from_static(&[9]))).unwrap();
        assert_eq!(
            ws,
            Packet::Message(Message::Binary(Bytes::from_static(&[9])))
        );
        // A text frame starting with `b` is base64 even on WebSocket.
        let ws = Packet::decode_ws(&WsMessage::Text("bCQ==".into())).unwrap();
        assert_eq!(
            ws,
            Packet::Message(Message::Binary(Bytes::from_static(&[9])))
        );
    }

    #[test]
    fn message_data_is_zero_copy() {
        let frame = Utf8Bytes::from("4hello");
        let Ok(Packet::Message(Message::Text(t))) = Packet::decode_text(&frame) else {
            panic!("not a text message")
        };
        assert_eq!(t.as_ptr(), frame[1..].as_ptr());
    }
}
