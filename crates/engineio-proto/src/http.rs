//! The HTTP response shape the sans-IO layer hands to the runtime.

use bytes::Bytes;

/// Content type of polling responses (v4 payloads are always text).
pub const PAYLOAD_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";
/// Content type of engine.io JSON error bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A complete HTTP response: the runtime adds `Content-Length`, `cache-control: no-store` and
/// any CORS headers it is configured with.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Value of the `Content-Type` header.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Bytes,
}

impl HttpResponse {
    /// Builds a response.
    #[must_use]
    pub const fn new(status: u16, content_type: &'static str, body: Bytes) -> Self {
        Self {
            status,
            content_type,
            body,
        }
    }

    /// `200 ok`, the answer to an accepted POST.
    #[must_use]
    pub const fn ok() -> Self {
        Self::new(200, "text/html", Bytes::from_static(b"ok"))
    }

    /// `200` with a polling payload.
    #[must_use]
    pub fn payload(body: Bytes) -> Self {
        Self::new(200, PAYLOAD_CONTENT_TYPE, body)
    }
}

/// The HTTP methods the router distinguishes.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`: handshake, long-poll, WebSocket upgrade.
    Get,
    /// `POST`: polling data from the client.
    Post,
    /// Anything else (`PUT`, `OPTIONS`, `HEAD`, ...).
    Other,
}

impl Method {
    /// Classifies a method name (case-sensitive, as HTTP methods are).
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "POST" => Self::Post,
            _ => Self::Other,
        }
    }
}
