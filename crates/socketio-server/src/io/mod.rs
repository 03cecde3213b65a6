//! The Socket.IO v5 server: namespaces, sockets, events, acknowledgements, rooms, broadcasts.

mod args;
mod client;
mod ns;
mod socket;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::ConfigError;
use http::{Request, Response};
use http_body::Body;
use socketio_adapter::{Adapter, InMemoryAdapter};
use socketio_proto::{DecodeLimits, Namespace};

pub use args::Args;
pub use client::{IoConnection, IoHandler};
pub use ns::{Broadcast, ConnectError, Nsp};
pub use socket::{AckError, AckSender, EmitError, Socket};

use crate::engine::{Engine, EngineBody, EngineConfig};

use ns::NsInner;

/// Settings of the Socket.IO server. `Default` matches the reference server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SocketIoConfig {
    /// The Engine.IO layer; its path defaults to `/socket.io/` here.
    pub engine: EngineConfig,
    /// How long a connection may stay without joining any namespace (`connectTimeout`, 45 s).
    pub connect_timeout: Duration,
    /// Limits of the packet decoder (attachments per packet, bytes, namespace length).
    pub decode_limits: DecodeLimits,
    /// Longest wait for the binary attachments of a packet before the connection closes
    /// (60 s).
    pub attachment_timeout: Duration,
    /// Creates each namespace's adapter (the in-memory adapter by default).
    pub adapter: AdapterFactory,
}

/// Creates the [`Adapter`] of a namespace.
#[derive(Clone)]
pub struct AdapterFactory(Arc<MakeAdapter>);

type MakeAdapter = dyn Fn(&Namespace) -> Arc<dyn Adapter> + Send + Sync;

impl AdapterFactory {
    /// A factory from a function.
    pub fn new(f: impl Fn(&Namespace) -> Arc<dyn Adapter> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The in-memory adapter: one node.
    #[must_use]
    pub fn in_memory() -> Self {
        Self::new(|ns| Arc::new(InMemoryAdapter::new(ns.clone())))
    }

    pub(crate) fn create(&self, ns: &Namespace) -> Arc<dyn Adapter> {
        (self.0)(ns)
    }
}

impl std::fmt::Debug for AdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdapterFactory")
    }
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        let engine = EngineConfig {
            path: "/socket.io/".to_owned(),
            ..EngineConfig::default()
        };
        Self {
            engine,
            connect_timeout: Duration::from_secs(45),
            decode_limits: DecodeLimits::default(),
            attachment_timeout: Duration::from_secs(60),
            adapter: AdapterFactory::in_memory(),
        }
    }
}

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    pub(crate) namespaces: RwLock<HashMap<String, Arc<NsInner>>>,
}

/// A Socket.IO server. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<IoInner>,
    engine: Engine<IoHandler>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    /// A server with `config`. Register namespaces with [`SocketIo::ns`].
    ///
    /// # Panics
    ///
    /// When the operating system cannot provide entropy for session ids.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the Engine.IO settings are out of range.
    pub fn new(config: SocketIoConfig) -> Result<Self, ConfigError> {
        let inner = Arc::new(IoInner {
            config: config.clone(),
            namespaces: RwLock::new(HashMap::new()),
        });
        let engine = Engine::new(config.engine, IoHandler::new(Arc::clone(&inner)))?;
        Ok(Self { inner, engine })
    }

    /// Registers namespace `path` (`/` is the main namespace); `on_connect` runs for every
    /// socket that joins it, after the namespace's middlewares accepted it. Returns the
    /// namespace handle (for middlewares and broadcasts).
    ///
    /// # Panics
    ///
    /// When `path` is not a valid namespace name (it contains `,`, `#`, `?` or a control
    /// character, or is longer than 4096 bytes): a programming error, not peer input.
    pub fn ns<F>(&self, path: &str, on_connect: F) -> Nsp
    where
        F: Fn(Socket) + Send + Sync + 'static,
    {
        let name = normalize(path);
        #[expect(
            clippy::expect_used,
            reason = "documented panic on an invalid name literal"
        )]
        let namespace = Namespace::new(name.as_str()).expect("a valid namespace name");
        let adapter = self.inner.config.adapter.create(&namespace);
        let ns = Arc::new(NsInner::new(namespace, adapter, Box::new(on_connect)));
        self.inner
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, Arc::clone(&ns));
        Nsp(ns)
    }

    /// The namespace `path`, if registered.
    #[must_use]
    pub fn of(&self, path: &str) -> Option<Nsp> {
        let name = normalize(path);
        self.inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned()
            .map(Nsp)
    }

    /// Broadcast to room `room` of the main namespace.
    #[must_use]
    pub fn to(&self, room: impl Into<String>) -> Option<Broadcast> {
        self.of("/").map(|n| n.to(room))
    }

    /// The Engine.IO layer.
    #[must_use]
    pub fn engine(&self) -> &Engine<IoHandler> {
        &self.engine
    }

    /// Handles one HTTP request (any path: requests outside the Socket.IO path get 404).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<EngineBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if self.engine.matches(req.uri().path()) {
            self.engine.handle(req).await
        } else {
            crate::not_found()
        }
    }

    /// Serves this server on `listener` until the future is dropped.
    ///
    /// # Errors
    ///
    /// The listener's accept error.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        crate::serve_with(listener, move |req| {
            let io = self.clone();
            async move { io.handle(req).await }
        })
        .await
    }

    /// Graceful shutdown: every socket is disconnected with `server shutting down` and every
    /// session closed. Stop the accept loop by dropping the [`SocketIo::serve`] future.
    pub fn close(&self) {
        let namespaces: Vec<Arc<NsInner>> = self
            .inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for ns in namespaces {
            for s in ns.all_sockets() {
                s.close_with_reason("server shutting down");
            }
        }
        self.engine.close_all();
    }
}

/// `""` and `"x"` become `/` and `/x`, as `io.of` does.
fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}
