//! The Socket.IO v5 server: namespaces, sockets, events, acknowledgements, rooms, broadcasts.

mod args;
mod client;
mod ns;
mod socket;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::ConfigError;
use http::{Request, Response};
use http_body::Body;
use socketio_adapter::{Adapter, Clock, InMemoryAdapter, RecoveryConfig};
use socketio_proto::{DecodeLimits, Namespace};

pub use args::Args;
pub use client::{IoConnection, IoHandler};
pub use ns::{Broadcast, ConnectError, NsStats, Nsp, RemoteSocket, ServerAckSender};
pub use socket::{AckError, AckSender, EmitError, JoinError, Socket};

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
    /// Most child namespaces that dynamic namespaces may create (10 000); past it, a CONNECT
    /// to a new matching name is refused like an unknown namespace.
    pub max_dynamic_namespaces: usize,
    /// Whether a child namespace is removed when its last socket leaves (the reference's
    /// `cleanupEmptyChildNamespaces`, off by default).
    pub cleanup_empty_child_namespaces: bool,
    /// Most CONNECTs one connection may have refused (by a middleware, or for an unknown
    /// namespace) before the connection is closed (100): a client retrying a refused auth in
    /// a loop is cut off instead of costing a middleware run per attempt forever.
    pub max_connect_refusals: usize,
    /// Most rooms one socket may be in, its own room included, through [`Socket::try_join`]
    /// (10 000).
    pub max_rooms_per_socket: usize,
    /// Longest room name in bytes that [`Socket::try_join`] accepts (4096).
    pub max_room_name_len: usize,
    /// Connection state recovery (the reference's `connectionStateRecovery`), off (`None`)
    /// by default. With the default adapter factory, turning it on gives every namespace an
    /// in-memory adapter that keeps sessions and packets.
    pub connection_state_recovery: Option<ConnectionStateRecovery>,
}

/// Settings of connection state recovery. `Default` matches the reference.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ConnectionStateRecovery {
    /// How long a disconnected socket's state and the packets it may miss are kept
    /// (`maxDisconnectionDuration`, 2 min).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace's middlewares (`skipMiddlewares`, true).
    pub skip_middlewares: bool,
    /// Most packets the in-memory store keeps per namespace (10 000); the oldest go first.
    pub max_packets: usize,
    /// Most disconnected sessions the in-memory store keeps per namespace (100 000).
    pub max_sessions: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        Self {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
            max_sessions: 100_000,
        }
    }
}

/// Creates the [`Adapter`] of a namespace.
#[derive(Clone)]
pub struct AdapterFactory {
    make: Arc<MakeAdapter>,
    /// The default in-memory adapter, which the server replaces by the recovering one when
    /// connection state recovery is on.
    in_memory: bool,
}

type MakeAdapter = dyn Fn(&Namespace) -> Arc<dyn Adapter> + Send + Sync;

impl AdapterFactory {
    /// A factory from a function.
    pub fn new(f: impl Fn(&Namespace) -> Arc<dyn Adapter> + Send + Sync + 'static) -> Self {
        Self {
            make: Arc::new(f),
            in_memory: false,
        }
    }

    /// The in-memory adapter: one node.
    #[must_use]
    pub fn in_memory() -> Self {
        Self {
            in_memory: true,
            ..Self::new(|ns| Arc::new(InMemoryAdapter::new(ns.clone())))
        }
    }

    /// The in-memory adapter keeping sessions and packets for connection state recovery,
    /// on tokio's clock.
    #[must_use]
    pub fn in_memory_with_recovery(csr: ConnectionStateRecovery) -> Self {
        let mut config = RecoveryConfig::default();
        config.max_disconnection_duration = csr.max_disconnection_duration;
        config.max_packets = csr.max_packets;
        config.max_sessions = csr.max_sessions;
        Self::new(move |ns| {
            let clock: Clock = Arc::new(|| tokio::time::Instant::now().into_std());
            Arc::new(InMemoryAdapter::with_recovery(ns.clone(), config, clock))
        })
    }

    pub(crate) fn create(&self, ns: &Namespace) -> Arc<dyn Adapter> {
        (self.make)(ns)
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
            max_dynamic_namespaces: 10_000,
            cleanup_empty_child_namespaces: false,
            max_connect_refusals: 100,
            max_rooms_per_socket: 10_000,
            max_room_name_len: 4096,
            connection_state_recovery: None,
        }
    }
}

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    pub(crate) namespaces: RwLock<HashMap<String, Arc<NsInner>>>,
    /// Dynamic namespaces, tried in registration order for unknown names.
    pub(crate) parents: RwLock<Vec<Arc<ParentInner>>>,
    /// Number of child namespaces created by dynamic namespaces and still registered.
    pub(crate) children: AtomicUsize,
}

pub(crate) type Matcher = dyn Fn(&str, &serde_json::Value) -> bool + Send + Sync;

/// A dynamic namespace: a matcher and what every child namespace it creates starts with.
pub(crate) struct ParentInner {
    matcher: Box<Matcher>,
    on_connect: Arc<OnConnect>,
    middlewares: RwLock<Vec<ns::Middleware>>,
    children: RwLock<Vec<Arc<NsInner>>>,
    /// The server, to remove empty children (`cleanup_empty_child_namespaces`).
    io: std::sync::Weak<IoInner>,
}

impl ParentInner {
    /// A child lost its last socket.
    pub(crate) fn on_child_empty(&self, child: &NsInner) {
        if let Some(io) = self.io.upgrade()
            && io.config.cleanup_empty_child_namespaces
        {
            io.remove_child_if_empty(child);
        }
    }
}

pub(crate) type OnConnect = dyn Fn(Socket) + Send + Sync;

impl IoInner {
    pub(crate) fn room_limits(&self) -> socket::RoomLimits {
        socket::RoomLimits {
            max_rooms: self.config.max_rooms_per_socket,
            max_name_len: self.config.max_room_name_len,
        }
    }

    pub(crate) fn namespace(&self, name: &str) -> Option<Arc<NsInner>> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The namespace `name`, registered or created now by the first dynamic namespace whose
    /// matcher accepts it. `Some((ns, true))` when it was created by this call: the caller
    /// removes it again if the connect that created it is refused, so no namespace outlives
    /// a failed authentication.
    pub(crate) fn resolve(
        &self,
        ns: &Namespace,
        auth: &serde_json::Value,
    ) -> Option<(Arc<NsInner>, bool)> {
        if let Some(existing) = self.namespace(ns.as_str()) {
            return Some((existing, false));
        }
        let parents = self
            .parents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let parent = parents
            .into_iter()
            .find(|p| (p.matcher)(ns.as_str(), auth))?;
        let mut map = self
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = map.get(ns.as_str()) {
            return Some((Arc::clone(existing), false));
        }
        if self.children.load(Ordering::Acquire) >= self.config.max_dynamic_namespaces {
            tracing::warn!(ns = ns.as_str(), "dynamic namespace limit reached");
            return None;
        }
        let adapter = self.config.adapter.create(ns);
        let on_connect = Arc::clone(&parent.on_connect);
        let child = NsInner::create(
            ns.clone(),
            adapter,
            Box::new(move |s| on_connect(s)),
            self.room_limits(),
        );
        // Middlewares are copied at creation time, as in the reference.
        child
            .middlewares
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clone_from(
                &parent
                    .middlewares
                    .read()
                    .unwrap_or_else(PoisonError::into_inner),
            );
        child.set_parent(Arc::downgrade(&parent));
        map.insert(ns.as_str().to_owned(), Arc::clone(&child));
        parent
            .children
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&child));
        self.children.fetch_add(1, Ordering::AcqRel);
        Some((child, true))
    }

    /// Removes a child namespace that has no sockets (after a refused connect, or when
    /// `cleanup_empty_child_namespaces` is on and its last socket left).
    pub(crate) fn remove_child_if_empty(&self, child: &NsInner) {
        let Some(parent) = child.parent() else { return };
        let mut map = self
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let same = |n: &Arc<NsInner>| std::ptr::eq(Arc::as_ptr(n), child);
        if !child.is_empty() || !map.get(&child.name).is_some_and(same) {
            return;
        }
        map.remove(&child.name);
        parent
            .children
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|c| !same(c));
        self.children.fetch_sub(1, Ordering::AcqRel);
    }
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
    pub fn new(mut config: SocketIoConfig) -> Result<Self, ConfigError> {
        if let Some(csr) = config.connection_state_recovery
            && config.adapter.in_memory
        {
            config.adapter = AdapterFactory::in_memory_with_recovery(csr);
        }
        let inner = Arc::new(IoInner {
            config: config.clone(),
            namespaces: RwLock::new(HashMap::new()),
            parents: RwLock::new(Vec::new()),
            children: AtomicUsize::new(0),
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
        let ns = NsInner::create(
            namespace,
            adapter,
            Box::new(on_connect),
            self.inner.room_limits(),
        );
        self.inner
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, Arc::clone(&ns));
        Nsp(ns)
    }

    /// Registers a dynamic namespace: a CONNECT to an unregistered name that `matcher`
    /// accepts (given the name and the CONNECT payload) creates a child namespace with
    /// `on_connect` and this parent's middlewares, once those middlewares accept the socket.
    /// Dynamic namespaces are tried in registration order, after the static ones.
    pub fn dynamic_ns<M, F>(&self, matcher: M, on_connect: F) -> DynamicNsp
    where
        M: Fn(&str, &serde_json::Value) -> bool + Send + Sync + 'static,
        F: Fn(Socket) + Send + Sync + 'static,
    {
        let parent = Arc::new(ParentInner {
            matcher: Box::new(matcher),
            on_connect: Arc::new(on_connect),
            middlewares: RwLock::new(Vec::new()),
            children: RwLock::new(Vec::new()),
            io: Arc::downgrade(&self.inner),
        });
        self.inner
            .parents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&parent));
        DynamicNsp(parent)
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

    /// Every namespace of this server, sorted by name: the registered ones and the children
    /// that dynamic namespaces created so far.
    #[must_use]
    pub fn namespaces(&self) -> Vec<Nsp> {
        let mut all: Vec<Nsp> = self
            .inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .map(Nsp)
            .collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
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

/// A dynamic namespace handle: middlewares for its future children, and the children.
#[derive(Clone)]
pub struct DynamicNsp(Arc<ParentInner>);

impl std::fmt::Debug for DynamicNsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicNsp")
            .field("children", &self.children().len())
            .finish()
    }
}

impl DynamicNsp {
    /// Adds a connect middleware, copied into every child created from now on.
    pub fn use_middleware<Fn_, Fut>(&self, f: Fn_) -> &Self
    where
        Fn_: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let m: ns::Middleware = Arc::new(move |s| Box::pin(f(s)));
        self.0
            .middlewares
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(m);
        self
    }

    /// The child namespaces created so far.
    #[must_use]
    pub fn children(&self) -> Vec<Nsp> {
        self.0
            .children
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .map(Nsp)
            .collect()
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
