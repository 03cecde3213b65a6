//! Server and client configuration, with the reference defaults.

use std::time::Duration;

use crate::error::ConfigError;

/// Smallest accepted `max_payload`: room for any control payload (`6\x1e1`) and a short
/// message.
pub const MIN_MAX_PAYLOAD: u64 = 8;

/// Which transports a side may use.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Transports {
    /// Both transports (the default).
    pub const ALL: Self = Self {
        polling: true,
        websocket: true,
    };
    /// HTTP long-polling only.
    pub const POLLING: Self = Self {
        polling: true,
        websocket: false,
    };
    /// WebSocket only.
    pub const WEBSOCKET: Self = Self {
        polling: false,
        websocket: true,
    };
}

impl Default for Transports {
    fn default() -> Self {
        Self::ALL
    }
}

/// Server session settings. `Default` matches the reference server.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Time between server pings (`pingInterval`, 25 s).
    pub ping_interval: Duration,
    /// Time the client has to answer a ping (`pingTimeout`, 20 s).
    pub ping_timeout: Duration,
    /// Time a started upgrade may take before it is dropped (`upgradeTimeout`, 10 s).
    pub upgrade_timeout: Duration,
    /// Largest POST body, WebSocket message and polling response, in bytes
    /// (`maxHttpBufferSize`, 1 000 000), advertised as `maxPayload`.
    pub max_payload: u64,
    /// Enabled transports.
    pub transports: Transports,
    /// Whether polling sessions are offered the WebSocket upgrade.
    pub allow_upgrades: bool,
    /// Longest wait for a GET to deliver the close packet after the application closed a
    /// polling session (30 s, hard-coded in the reference).
    pub close_timeout: Duration,
    /// Most packets queued for one session before [`crate::SendError::Full`] (4096).
    pub max_buffered_packets: usize,
    /// Most bytes queued for one session before [`crate::SendError::Full`] (16 MiB).
    pub max_buffered_bytes: usize,
    /// Most packets in one polling response, when set (unset by default: a response holds as
    /// many as `max_payload` allows, as in the reference). python-engineio clients drop the
    /// connection on a payload of more than 16 packets, so a server with Python polling
    /// clients sets 16.
    pub max_packets_per_poll: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            transports: Transports::ALL,
            allow_upgrades: true,
            close_timeout: Duration::from_millis(30_000),
            max_buffered_packets: 4096,
            max_buffered_bytes: 16 << 20,
            max_packets_per_poll: None,
        }
    }
}

impl ServerConfig {
    /// Checks that every value is in range.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, d) in [
            ("ping_interval", self.ping_interval),
            ("ping_timeout", self.ping_timeout),
            ("upgrade_timeout", self.upgrade_timeout),
            ("close_timeout", self.close_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.max_payload < MIN_MAX_PAYLOAD {
            return Err(ConfigError::TooSmall("max_payload", MIN_MAX_PAYLOAD));
        }
        if self.max_buffered_packets == 0 {
            return Err(ConfigError::ZeroSize("max_buffered_packets"));
        }
        if self.max_buffered_bytes == 0 {
            return Err(ConfigError::ZeroSize("max_buffered_bytes"));
        }
        if self.max_packets_per_poll == Some(0) {
            return Err(ConfigError::ZeroSize("max_packets_per_poll"));
        }
        if !self.transports.polling && !self.transports.websocket {
            return Err(ConfigError::NoTransport);
        }
        Ok(())
    }
}

/// Client session settings. `Default` matches the reference client.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Transports to use; the handshake uses polling when it is enabled, else WebSocket.
    pub transports: Transports,
    /// Whether to probe and upgrade to WebSocket after a polling handshake.
    pub upgrade: bool,
    /// Extra query parameters, already encoded (`a=1&b=2`), added to every request.
    pub query: String,
    /// Whether polling requests carry a random `t=` cache buster.
    pub timestamp_requests: bool,
    /// Longest wait for the handshake (`timeout`, 20 s).
    pub open_timeout: Duration,
    /// Longest wait for a WebSocket probe to complete (10 s); the session keeps polling if it
    /// expires.
    pub upgrade_timeout: Duration,
    /// Largest message or polling response accepted from the server, in bytes (1 000 000).
    pub max_payload: u64,
    /// Most packets queued before [`crate::SendError::Full`] (4096).
    pub max_buffered_packets: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            transports: Transports::ALL,
            upgrade: true,
            query: String::new(),
            timestamp_requests: true,
            open_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            max_buffered_packets: 4096,
        }
    }
}

impl ClientConfig {
    /// Checks that every value is in range.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.open_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("open_timeout"));
        }
        if self.upgrade_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("upgrade_timeout"));
        }
        if self.max_payload == 0 {
            return Err(ConfigError::ZeroSize("max_payload"));
        }
        if self.max_buffered_packets == 0 {
            return Err(ConfigError::ZeroSize("max_buffered_packets"));
        }
        if !self.transports.polling && !self.transports.websocket {
            return Err(ConfigError::NoTransport);
        }
        Ok(())
    }
}
