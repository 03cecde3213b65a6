//! Types shared by the server and client session machines.

use std::fmt;

use bytes::Bytes;

use crate::error::ProtocolError;
use crate::packet::{Message, Packet, WsMessage, base64_len};
use crate::payload::PayloadEncoder;
use crate::text::Utf8Bytes;

/// The transport a session currently uses.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl Transport {
    /// The query-string name (`polling`, `websocket`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::WebSocket => "websocket",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed: a `1` packet, or the WebSocket closed (`transport close`).
    TransportClose,
    /// This side's application called `close` (`forced close`).
    ForcedClose,
    /// No pong (server) or no ping (client) in time (`ping timeout`).
    PingTimeout,
    /// The peer broke the protocol (`parse error` or `transport error`).
    ProtocolViolation(ProtocolError),
}

impl CloseReason {
    /// The reference implementation's reason string.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::TransportClose => "transport close",
            Self::ForcedClose => "forced close",
            Self::PingTimeout => "ping timeout",
            Self::ProtocolViolation(e) => e.reason(),
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pre-encoded outgoing Engine.IO packet.
///
/// Build it once with [`Frame::message`] and clone it for every recipient of a broadcast: a
/// clone shares the encoded bytes, and a WebSocket session writes them without another copy.
#[derive(Clone, Eq, Hash, PartialEq)]
pub struct Frame(Repr);

#[derive(Clone, Eq, Hash, PartialEq)]
enum Repr {
    /// A complete text packet, type digit included (`4hello`, `2`).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Frame {
    /// Encodes an application message (`4` + text, or raw binary).
    #[must_use]
    pub fn message(msg: Message) -> Self {
        match msg {
            Message::Text(t) => {
                let mut s = String::with_capacity(t.len() + 1);
                s.push('4');
                s.push_str(&t);
                Self(Repr::Text(Utf8Bytes::from(s)))
            }
            Message::Binary(b) => Self(Repr::Binary(b)),
        }
    }

    /// A text message frame from text that already starts with the `4` type digit.
    ///
    /// Returns `None` when it does not. Lets an upper layer build `4` + its own encoding in
    /// one buffer.
    #[must_use]
    pub fn from_encoded_message(text: Utf8Bytes) -> Option<Self> {
        text.starts_with('4').then_some(Self(Repr::Text(text)))
    }

    /// Encodes any packet.
    #[must_use]
    pub fn from_packet(packet: &Packet) -> Self {
        match packet {
            Packet::Message(Message::Binary(b)) => Self(Repr::Binary(b.clone())),
            p => Self(Repr::Text(p.encode_text())),
        }
    }

    /// The message inside a message frame (sharing its bytes), `None` for control packets.
    #[must_use]
    pub fn into_message(self) -> Option<Message> {
        match self.0 {
            Repr::Binary(b) => Some(Message::Binary(b)),
            Repr::Text(t) if t.starts_with('4') => t.tail(1).map(Message::Text),
            Repr::Text(_) => None,
        }
    }

    /// The WebSocket frame (shares the bytes).
    #[must_use]
    pub fn to_ws(&self) -> WsMessage {
        match &self.0 {
            Repr::Text(t) => WsMessage::Text(t.clone()),
            Repr::Binary(b) => WsMessage::Binary(b.clone()),
        }
    }

    /// Size of the encoded frame in bytes (binary counted raw).
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Text(t) => t.len(),
            Repr::Binary(b) => b.len(),
        }
    }

    /// Whether the frame has no bytes (never true for a valid frame).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of this frame inside a polling payload.
    pub(crate) fn polling_len(&self) -> usize {
        match &self.0 {
            Repr::Text(t) => t.len(),
            Repr::Binary(b) => 1 + base64_len(b.len()),
        }
    }

    /// Appends this frame to a polling payload if it fits.
    pub(crate) fn push_polling(&self, enc: &mut PayloadEncoder, scratch: &mut String) -> bool {
        match &self.0 {
            Repr::Text(t) => enc.push_encoded(t),
            Repr::Binary(b) => {
                scratch.clear();
                scratch.push('b');
                base64_simd::STANDARD.encode_append(b, scratch);
                enc.push_encoded(scratch)
            }
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Text(t) => write!(f, "Frame({t:?})"),
            Repr::Binary(b) => write!(f, "Frame(<{} bytes>)", b.len()),
        }
    }
}

impl From<Message> for Frame {
    fn from(msg: Message) -> Self {
        Self::message(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_share_bytes_and_round_trip() {
        let f = Frame::message(Message::from("hello"));
        assert_eq!(f.to_ws(), WsMessage::Text("4hello".into()));
        let WsMessage::Text(a) = f.to_ws() else {
            unreachable!()
        };
        let g = f.clone();
        let WsMessage::Text(b) = g.to_ws() else {
            unreachable!()
        };
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert_eq!(f.into_message(), Some(Message::from("hello")));
        assert_eq!(Frame::from_packet(&Packet::ping()).into_message(), None);
        assert!(Frame::from_encoded_message("2".into()).is_none());
    }
}
