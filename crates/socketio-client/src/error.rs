//! The crate's errors.

use std::fmt;
use std::sync::Arc;

use socketio_proto::{ArgsError, EncodeError};

use crate::sans_io::AckFailure;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL or an option is invalid.
    Config,
    /// A socket operation failed (connection refused, reset).
    Io,
    /// The TLS handshake failed.
    Tls,
    /// An HTTP exchange failed.
    Http,
    /// The WebSocket handshake or a frame failed.
    WebSocket,
    /// The server broke the protocol.
    Protocol,
    /// The server refused the namespace (`CONNECT_ERROR`); see [`ConnectError`].
    ConnectRefused,
    /// The manager gave up reconnecting (`reconnect_failed`).
    ReconnectFailed,
    /// The manager or the socket is closed.
    Closed,
    /// A wait ran out.
    Timeout,
    /// A value could not be serialised or deserialised.
    Serde,
    /// The offline buffer (or retry queue) is full.
    BufferFull,
}

/// An error of the client: a [`kind`](Error::kind), a message, and the underlying error as
/// [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct Error(Box<Repr>);

#[derive(Debug)]
struct Repr {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Repr {
            kind,
            message: message.into(),
            source: None,
        }))
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(Repr {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }))
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The server refused to let the socket join its namespace (a `CONNECT_ERROR` packet), or the
/// connection could not be established.
///
/// Equality compares `message` and `data`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("connect error: {message}")]
#[non_exhaustive]
pub struct ConnectError {
    /// The `message` the server sent (`"Invalid namespace"`, a middleware's error message), or
    /// a description of the connection failure (`transport error: connection refused`).
    pub message: String,
    /// The `data` the server attached, as JSON text.
    pub data: Option<String>,
    /// For a connection failure, what failed: the I/O error (connection refused, name
    /// resolution, TLS) with its own source, or the protocol failure (an HTTP status, a
    /// handshake timeout). `None` for the server's refusal.
    #[source]
    pub cause: Option<Arc<Error>>,
}

impl PartialEq for ConnectError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message && self.data == other.data
    }
}

impl Eq for ConnectError {}

impl ConnectError {
    /// Deserialises the server's `data`.
    ///
    /// # Errors
    ///
    /// [`ArgsError`] when there is no data or it does not match `T`.
    pub fn data<T: serde::de::DeserializeOwned>(&self) -> Result<T, ArgsError> {
        let text = self
            .data
            .as_deref()
            .ok_or_else(|| ArgsError::Deserialize("no data".into()))?;
        serde_json::from_str(text).map_err(|e| ArgsError::Deserialize(e.to_string()))
    }
}

/// Why an emit was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The arguments could not be serialised, or the event name is reserved.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The socket is not connected and its offline buffer is full.
    #[error("offline buffer full")]
    BufferFull,
    /// The manager is closed.
    #[error("client closed")]
    Closed,
}

/// Why an acknowledgement did not arrive as expected.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No reply within the timeout (after every retry, in retries mode).
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected before the reply came.
    #[error("socket has been disconnected")]
    Disconnected,
    /// The emit itself failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The reply did not match the requested type.
    #[error(transparent)]
    Decode(#[from] ArgsError),
}

impl From<AckFailure> for AckError {
    fn from(f: AckFailure) -> Self {
        match f {
            AckFailure::Timeout => Self::Timeout,
            _ => Self::Disconnected,
        }
    }
}
