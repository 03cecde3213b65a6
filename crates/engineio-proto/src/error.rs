//! Error types: one enum per failure surface.

use bytes::Bytes;

use crate::http::{HttpResponse, JSON_CONTENT_TYPE};
use crate::packet::PacketType;
use crate::session::Frame;

/// Bytes that do not form a valid Engine.IO packet or payload.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An empty packet (also an empty record in a payload).
    #[error("empty packet")]
    Empty,
    /// The first byte is not a packet type digit `0`-`6` nor `b`.
    #[error("unknown packet type {0:#04x}")]
    UnknownPacketType(u8),
    /// `b` followed by data that is not base64.
    #[error("invalid base64 in binary packet")]
    InvalidBase64,
    /// A polling body that is not UTF-8.
    #[error("payload is not valid utf-8")]
    InvalidUtf8,
    /// An open packet whose JSON lacks a key or is malformed.
    #[error("invalid open packet")]
    InvalidOpen,
}

/// The peer broke a session rule; the session closes with this as the reason.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A packet or payload did not decode (close reason `parse error`).
    #[error("parse error")]
    Decode(#[from] DecodeError),
    /// A second GET arrived while one was waiting.
    #[error("overlap from client")]
    DuplicatePoll,
    /// A second POST arrived while one was being read.
    #[error("data request overlap from client")]
    OverlappingPost,
    /// The waiting GET's connection went away.
    #[error("poll connection closed prematurely")]
    PollAborted,
    /// A binary (`application/octet-stream`) POST body, legal only in v3.
    #[error("invalid content")]
    BinaryPost,
    /// A ping from the client, a pong from the server: the wrong heartbeat direction for v4.
    #[error("invalid heartbeat direction")]
    InvalidHeartbeatDirection,
    /// A packet type the receiving side never accepts at this point.
    #[error("unexpected {0} packet")]
    UnexpectedPacket(PacketType),
    /// A body or message larger than the configured maximum payload.
    #[error("payload of {len} bytes exceeds the maximum of {max}")]
    PayloadTooLarge {
        /// Size received.
        len: usize,
        /// Configured maximum.
        max: u64,
    },
    /// The transport failed underneath (reset connection, WebSocket error).
    #[error("transport failure")]
    TransportFailure,
    /// The server answered an HTTP request of the client with this status.
    #[error("unexpected http status {0}")]
    HttpStatus(u16),
    /// The server did not complete the handshake in time (client side).
    #[error("handshake timed out")]
    HandshakeTimeout,
}

impl ProtocolError {
    /// The engine.io close reason string the reference reports for this error.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Decode(_) => "parse error",
            _ => "transport error",
        }
    }
}

/// An HTTP request the router or a session refuses; [`RequestError::to_response`] builds the
/// reference server's answer.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Code 0: `transport` missing, unknown or disabled.
    #[error("transport unknown")]
    UnknownTransport,
    /// Code 1: the `sid` names no live session.
    #[error("session id unknown")]
    UnknownSid,
    /// Code 2: a handshake (no `sid`) with a method other than GET.
    #[error("bad handshake method")]
    BadHandshakeMethod,
    /// Code 3: transport mismatch, WebSocket transport without an upgrade, bad method on a
    /// session, and similar.
    #[error("bad request")]
    BadRequest,
    /// Code 4 (HTTP 403): the application refused the handshake, with this message.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Code 5: `EIO` is not exactly `4`.
    #[error("unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// HTTP 413: a POST body over the maximum payload.
    #[error("payload too large")]
    PayloadTooLarge,
    /// HTTP 400 with an empty body: the request broke a session rule and closed the session.
    #[error("protocol violation: {0}")]
    ProtocolViolation(ProtocolError),
}

impl RequestError {
    /// The engine.io error code (0-5), when the response carries one.
    #[must_use]
    pub const fn code(&self) -> Option<u8> {
        Some(match self {
            Self::UnknownTransport => 0,
            Self::UnknownSid => 1,
            Self::BadHandshakeMethod => 2,
            Self::BadRequest => 3,
            Self::Forbidden(_) => 4,
            Self::UnsupportedProtocolVersion => 5,
            Self::PayloadTooLarge | Self::ProtocolViolation(_) => return None,
        })
    }

    /// The reference server's message for this error.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::UnknownTransport => "Transport unknown",
            Self::UnknownSid => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden(m) => m,
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
            Self::PayloadTooLarge => "Payload too large",
            Self::ProtocolViolation(_) => "",
        }
    }

    /// The HTTP status: 403 for [`RequestError::Forbidden`], 413 for
    /// [`RequestError::PayloadTooLarge`], 400 otherwise.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::Forbidden(_) => 403,
            Self::PayloadTooLarge => 413,
            _ => 400,
        }
    }

    /// The response for a polling or plain HTTP request: `{"code":N,"message":"..."}` as JSON,
    /// or an empty body for 413 and protocol violations.
    #[must_use]
    pub fn to_response(&self) -> HttpResponse {
        let Some(code) = self.code() else {
            return HttpResponse::new(self.status(), "text/plain; charset=UTF-8", Bytes::new());
        };
        let body = serde_json::json!({ "code": code, "message": self.message() }).to_string();
        HttpResponse::new(self.status(), JSON_CONTENT_TYPE, Bytes::from(body))
    }

    /// The response for a refused WebSocket upgrade: always 400, the message as text/html.
    #[must_use]
    pub fn to_ws_response(&self) -> HttpResponse {
        HttpResponse::new(400, "text/html", Bytes::from(self.message().to_owned()))
    }
}

/// A message the session could not take; the frame is handed back.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed or closing.
    #[error("session closed")]
    Closed(Frame),
    /// The outgoing queue is at its packet or byte limit.
    #[error("send queue full")]
    Full(Frame),
}

impl SendError {
    /// The frame that was not sent.
    #[must_use]
    pub fn into_frame(self) -> Frame {
        match self {
            Self::Closed(f) | Self::Full(f) => f,
        }
    }
}

/// A configuration value out of range.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A size that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroSize(&'static str),
    /// A size below its minimum.
    #[error("{0} must be at least {1}")]
    TooSmall(&'static str, u64),
    /// Every transport is disabled.
    #[error("at least one transport must be enabled")]
    NoTransport,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &HttpResponse) -> &str {
        std::str::from_utf8(&r.body).unwrap()
    }

    #[test]
    fn reference_error_bodies() {
        let cases = [
            (
                RequestError::UnknownTransport,
                400,
                r#"{"code":0,"message":"Transport unknown"}"#,
            ),
            (
                RequestError::UnknownSid,
                400,
                r#"{"code":1,"message":"Session ID unknown"}"#,
            ),
            (
                RequestError::BadHandshakeMethod,
                400,
                r#"{"code":2,"message":"Bad handshake method"}"#,
            ),
            (
                RequestError::BadRequest,
                400,
                r#"{"code":3,"message":"Bad request"}"#,
            ),
            (
                RequestError::Forbidden("Forbidden".into()),
                403,
                r#"{"code":4,"message":"Forbidden"}"#,
            ),
            (
                RequestError::UnsupportedProtocolVersion,
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#,
            ),
        ];
        for (err, status, json) in cases {
            let r = err.to_response();
            assert_eq!(r.status, status, "{err:?}");
            assert_eq!(body(&r), json);
            assert_eq!(r.content_type, "application/json");
            let ws = err.to_ws_response();
            assert_eq!(ws.status, 400);
            assert_eq!(body(&ws), err.message());
        }
        let r = RequestError::PayloadTooLarge.to_response();
        assert_eq!((r.status, body(&r)), (413, ""));
        let r = RequestError::ProtocolViolation(ProtocolError::DuplicatePoll).to_response();
        assert_eq!((r.status, body(&r)), (400, ""));
    }

    #[test]
    fn forbidden_message_is_json_escaped() {
        let r = RequestError::Forbidden("no \"way\"".into()).to_response();
        assert_eq!(body(&r), r#"{"code":4,"message":"no \"way\""}"#);
    }
}
