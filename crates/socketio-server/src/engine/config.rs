//! Engine runtime configuration.

use std::time::Duration;

use engineio_proto::ServerConfig;

/// Which cross-origin requests to allow.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Cors {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// Reflect the request's `Origin` when it is in this list, with credentials allowed.
    Origins(Vec<String>),
}

/// Settings of the Engine.IO runtime. `Default` matches the reference server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Protocol settings: heartbeat, limits, transports.
    pub session: ServerConfig,
    /// URL prefix served (`/engine.io/`; the Socket.IO server uses `/socket.io/`). Requests
    /// whose path starts with it are Engine.IO requests, as in the reference.
    pub path: String,
    /// CORS headers; none by default, as in the reference.
    pub cors: Option<Cors>,
    /// Commands (outgoing packets, requests) queued for one session before senders see
    /// [`crate::engine::SocketSendError::Full`] (256).
    pub command_capacity: usize,
    /// Handler tasks running at once for one session (128): at the limit, WebSocket reads
    /// pause and a polling POST waits for its response.
    pub max_concurrent_tasks: usize,
    /// Longest wait for a WebSocket upgrade request to complete its HTTP upgrade (10 s).
    pub upgrade_io_timeout: Duration,
    /// Longest wait for a polling POST's whole body (30 s); a body that stalls is answered
    /// with 408, its connection closed and the session closed.
    pub body_read_timeout: Duration,
    /// Longest time one WebSocket write may block on a peer that does not read (20 s, the
    /// reference's `pingTimeout`); then the session ends as if the transport closed.
    pub ws_write_timeout: Duration,
    /// Most sessions (open or being opened) of this engine; a handshake beyond it is refused
    /// with 503 and `{"code":4,"message":"Too many sessions"}` (400 for a WebSocket
    /// handshake). None (no cap) by default, as in the reference.
    pub max_sessions: Option<usize>,
    /// Most sessions per peer IP address (when the server knows the address, as
    /// [`crate::serve_with`] does); beyond it a handshake is refused with 429 (400 for a
    /// WebSocket handshake). None by default.
    pub max_sessions_per_ip: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            session: ServerConfig::default(),
            path: "/engine.io/".to_owned(),
            cors: None,
            command_capacity: 256,
            max_concurrent_tasks: 128,
            upgrade_io_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            ws_write_timeout: Duration::from_secs(20),
            max_sessions: None,
            max_sessions_per_ip: None,
        }
    }
}
