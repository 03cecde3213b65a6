//! A Redis pub/sub adapter for `socketio-server`: several servers behind a load balancer
//! serve one application, and they may be Node `socket.io` servers too.
//!
//! The wire format is the classic protocol of `@socket.io/redis-adapter` 8 (`createAdapter`),
//! so our servers, Node servers with that adapter, and `@socket.io/redis-emitter` 5 share one
//! Redis:
//!
//! - broadcasts: msgpack `[uid, packet, opts]` on `<key>#<nsp>#` (or `<key>#<nsp>#<room>#`
//!   for exactly one room), which every server subscribes with a pattern;
//! - requests (JSON, msgpack for broadcasts with acks) on `<key>-request#<nsp>#`, responses
//!   on `<key>-response#<nsp>#`; the number of servers is `PUBSUB NUMSUB` of the request
//!   channel.
//!
//! Every cluster operation ends: with the answers of every server, with
//! [`AdapterError::Timeout`] after the request timeout (5 s by default, as the reference), or
//! at once with [`AdapterError::Unavailable`] while Redis is down. Local delivery never
//! depends on Redis. The subscriber reconnects with exponential backoff and jitter and
//! resubscribes; publishing goes through a bounded outbox. Messages read from Redis are
//! size-capped and checked field by field; a bad one is dropped with a log line
//! ([`ClusterStats::dropped`]).
//!
//! ```no_run
//! use socketio_redis::{RedisAdapterConfig, RedisCluster};
//! use socketio_server::{AdapterFactory, Socket, SocketIo, SocketIoConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = RedisCluster::new("redis://127.0.0.1:6379", RedisAdapterConfig::default())?;
//! let mut config = SocketIoConfig::default();
//! config.adapter = AdapterFactory::new(move |ns| cluster.adapter(ns));
//! let io = SocketIo::new(config)?;
//! let nsp = io.ns("/", |socket: Socket| {
//!     socket.join("lobby");
//! });
//! // Reaches the `lobby` sockets of every server of the cluster, Node servers included.
//! nsp.to("lobby").emit("hello", &"world")?;
//! io.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Known difference from the reference: `fetchSockets` answers carry no `handshake.time` (a
//! JS date text; `handshake.issued` is there).

mod adapter;
mod cluster;
mod codec;

use std::time::Duration;

pub use adapter::RedisAdapter;
pub use cluster::{ClusterStats, RedisCluster};
pub use socketio_adapter::AdapterError;

/// Settings of the Redis adapter. `Default` matches the reference's defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisAdapterConfig {
    /// Channel prefix (`key`, `socket.io`): it must be the same on every server.
    pub key: String,
    /// How long a cluster request waits for answers (`requestsTimeout`, 5 s).
    pub requests_timeout: Duration,
    /// Answer on the requester's own channel (`publishOnSpecificResponseChannel`, off).
    pub publish_on_specific_response_channel: bool,
    /// Largest bus message read; larger ones are dropped (16 MiB).
    pub max_message_size: usize,
    /// Messages that may wait to be published; past it, a publish fails at once (4096).
    pub outbox_capacity: usize,
    /// Longest wait for a connection to Redis (2 s).
    pub connect_timeout: Duration,
    /// First delay before reconnecting (100 ms); it doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts (5 s).
    pub reconnect_max: Duration,
    /// How often the subscriber connection is checked with a PING (5 s).
    pub health_check_interval: Duration,
    /// PEM root certificates to trust for `rediss://` instead of the system's (a private CA).
    /// Needs the `tls` feature.
    pub tls_root_certs: Option<Vec<u8>>,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        Self {
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            max_message_size: 16 << 20,
            outbox_capacity: 4096,
            connect_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            health_check_interval: Duration::from_secs(5),
            tls_root_certs: None,
        }
    }
}

impl RedisAdapterConfig {
    /// The defaults with channel prefix `key`.
    #[must_use]
    pub fn with_key(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            ..Self::default()
        }
    }
}

/// What went wrong, in broad terms.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL or settings are invalid.
    Config,
    /// Redis cannot be reached.
    Unavailable,
}

/// An error of this crate: [`Error::kind`] and the underlying cause as `source()`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: &'static str,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    fn new(kind: ErrorKind, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let message = match kind {
            ErrorKind::Config => "invalid redis configuration",
            ErrorKind::Unavailable => "redis unavailable",
        };
        Self {
            kind,
            message,
            source: Some(Box::new(source)),
        }
    }

    fn msg(kind: ErrorKind, message: &'static str) -> Self {
        Self {
            kind,
            message,
            source: None,
        }
    }

    /// The kind of error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
