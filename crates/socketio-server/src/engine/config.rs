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
        }
    }
}
