//! The manager: one Engine.IO connection, the namespace sockets multiplexed over it, and the
//! reconnection loop; one task drives it all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use engineio_proto::{
    ClientConfig as EngineConfig, ClientEvent, ClientSession, ClientTransmit, CloseReason,
    HttpRequest, HttpResult, Message, Transports, WsMessage,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use socketio_proto::{Decoder, Namespace, Payload};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::config::{Draft, Options, TransportMode};
use crate::error::{ConnectError, Error};
use crate::sans_io::{
    AckFailure, DisconnectReason, NamespaceConfig, NamespaceEvent, NamespaceSocket, ReconnectStep,
    Reconnector,
};
use crate::socket::{AckSender, Auth, Handlers, Socket, Status};
use crate::transport::{self, WsInput};

pub(crate) type AckWaiter = oneshot::Sender<Result<Payload, AckFailure>>;

/// I/O results waiting for the manager task; a full channel holds the readers back.
const IO_CAPACITY: usize = 64;

/// Something that happened to the manager's connection (the JS `Manager` events).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ManagerEvent {
    /// The Engine.IO handshake completed.
    Open,
    /// The connection was upgraded to WebSocket.
    Upgrade,
    /// The connection closed, with the reason given to the sockets.
    Close(DisconnectReason),
    /// The first connection attempt failed, with a description (`transport error: connection
    /// refused`, `transport error: unexpected http status 403`, `transport error: handshake
    /// timed out`, ...); the typed cause is [`crate::ConnectError::cause`].
    Error(String),
    /// The next reconnection attempt starts after this delay (not a JS event: it makes the
    /// backoff observable).
    ReconnectScheduled(Duration),
    /// Reconnection attempt `n` (from 1) starts now.
    ReconnectAttempt(u32),
    /// Reconnected after `n` attempts.
    Reconnect(u32),
    /// A reconnection attempt failed, with a description.
    ReconnectError(String),
    /// `reconnection_attempts` were made without success: the manager stopped trying.
    ReconnectFailed,
}

/// Builds a [`Manager`]: the server URL and every connection option.
///
/// Defaults are the JS client's: polling then upgrade, path `/socket.io`, reconnection on with
/// delays from 1 s to 5 s and a randomization factor of 0.5, unlimited attempts, a 20 s
/// connect timeout.
#[derive(Debug)]
#[must_use]
pub struct ManagerBuilder(Draft);

impl ManagerBuilder {
    /// Starts from the server URL (`http`, `https`, `ws` or `wss`). A path in the URL names
    /// the namespace [`Manager::url_socket`] and [`crate::io`] connect to; the HTTP path is
    /// [`ManagerBuilder::path`].
    pub fn new(url: &str) -> Self {
        Self(Draft::new(url))
    }

    /// The Engine.IO path on the server (`/socket.io`).
    pub fn path(mut self, path: &str) -> Self {
        self.0.path = path.to_owned();
        self
    }

    /// Which transports to use ([`TransportMode::PollingThenUpgrade`]).
    pub fn transports(mut self, mode: TransportMode) -> Self {
        self.0.mode = mode;
        self
    }

    /// After one successful upgrade, later connections go straight to WebSocket (false).
    pub fn remember_upgrade(mut self, remember: bool) -> Self {
        self.0.remember_upgrade = remember;
        self
    }

    /// Adds a query parameter to every request (encoded here).
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.0.query.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header to every polling request and to the WebSocket handshake.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0.header(name, value);
        self
    }

    /// The TLS configuration for `https`/`wss` URLs (default: the webpki roots, `ring`).
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.0.tls = Some(config);
        self
    }

    /// Trusts the platform's root certificates (the system store, read once when the manager
    /// is built) instead of the bundled webpki roots; ignored with
    /// [`ManagerBuilder::tls_config`].
    pub fn tls_platform_roots(mut self) -> Self {
        self.0.platform_roots = true;
        self
    }

    /// Whether to reconnect automatically (true).
    pub fn reconnection(mut self, enabled: bool) -> Self {
        self.0.reconnect.enabled = enabled;
        self
    }

    /// Attempts before giving up (unlimited).
    pub fn reconnection_attempts(mut self, attempts: u32) -> Self {
        self.0.reconnect.max_attempts = Some(attempts);
        self
    }

    /// The first reconnection delay (1 s).
    pub fn reconnection_delay(mut self, delay: Duration) -> Self {
        self.0.reconnect.delay = delay;
        self
    }

    /// The largest reconnection delay (5 s).
    pub fn reconnection_delay_max(mut self, delay: Duration) -> Self {
        self.0.reconnect.delay_max = delay;
        self
    }

    /// The jitter of the reconnection delays, in `[0, 1]` (0.5).
    pub fn randomization_factor(mut self, factor: f64) -> Self {
        self.0.reconnect.randomization_factor = factor;
        self
    }

    /// Longest wait for the Engine.IO handshake (20 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout = timeout;
        self
    }

    /// Longest wait for the WebSocket probe during an upgrade (10 s).
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.0.upgrade_timeout = timeout;
        self
    }

    /// Largest message or polling response accepted from the server (1 000 000 bytes).
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.0.max_payload = bytes;
        self
    }

    /// Socket.IO decoder limits (attachments per packet, packet size).
    pub fn decode_limits(mut self, limits: socketio_proto::DecodeLimits) -> Self {
        self.0.decode_limits = limits;
        self
    }

    /// Most event handlers (and auth callbacks) running at once (1024). At the limit the
    /// manager stops reading from the connection until one finishes, so a server that sends
    /// faster than the handlers finish cannot grow memory without bound. Handlers that wait
    /// for acks without a timeout can hold the connection up while they wait, and a long
    /// stall ends in a ping timeout.
    pub fn max_concurrent_handlers(mut self, max: usize) -> Self {
        self.0.max_concurrent_handlers = max.max(1);
        self
    }

    /// Longest wait, on an explicit close, for what was already emitted to go out (2 s).
    ///
    /// [`Socket::disconnect`] of the last socket, [`Manager::close`] and dropping every
    /// handle close the connection the way the JS client does: packets already handed to
    /// the transport are written first (the polling POSTs in flight complete, the WebSocket
    /// writes its frames, an upgrade in progress finishes), then the close. A server that
    /// stops answering cannot hold the close up longer than this; what is still in flight
    /// then is abandoned. [`Manager::closed`] waits for the end of it.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.0.close_timeout = timeout;
        self
    }

    /// For [`crate::io`]: always create a new manager instead of sharing one per URL.
    pub fn force_new(mut self, force_new: bool) -> Self {
        self.0.force_new = force_new;
        self
    }

    /// Creates the manager (on the current tokio runtime). Nothing connects until a socket
    /// connects.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::Config`] for an invalid URL or option, [`crate::ErrorKind::Tls`] when the
    /// default TLS configuration cannot be built (or the platform has no root certificates).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn build(self) -> Result<Manager, Error> {
        Ok(Manager::start(self.0.finish()?))
    }
}

/// A connection to one Socket.IO server, shared by the sockets of every namespace on it.
///
/// Cheap to clone. The connection opens when the first socket connects, reconnects on its own
/// after a loss (see [`ManagerBuilder`]), and closes when the last socket disconnects, when
/// [`Manager::close`] is called, or when every handle is dropped. Handlers get their socket as
/// an argument; a handler that captures a `Socket` or `Manager` clone instead keeps the
/// manager alive until [`Manager::close`].
#[derive(Clone, Debug)]
pub struct Manager {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl Manager {
    /// A builder for `url`.
    pub fn builder(url: &str) -> ManagerBuilder {
        ManagerBuilder::new(url)
    }

    fn start(opts: Options) -> Self {
        let (events, _) = broadcast::channel(256);
        let mut seed = [0u8; 32];
        // Only jitter and cache busters come from this generator; a failing OS source falls
        // back to the clock, which is good enough for both.
        if getrandom::fill(&mut seed).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            seed[..16].copy_from_slice(&t.to_le_bytes());
        }
        let (io_tx, io_rx) = mpsc::channel(IO_CAPACITY);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                last_failure: None,
                closed: false,
                close_timeout: opts.close_timeout,
                conn: None,
                epoch: 0,
                reconnector: Reconnector::new(opts.reconnect.clone()),
                rng: ChaCha20Rng::from_seed(seed),
                sockets: HashMap::new(),
                upgraded_once: false,
                prune_acks: false,
                actions: Vec::new(),
                app: Vec::new(),
                events: events.clone(),
            }),
            wake: Notify::new(),
            events,
            opts,
            io_tx,
            quiet: watch::Sender::new(true),
        });
        let inner = Arc::new(Inner {
            shared: shared.clone(),
        });
        tokio::spawn(run(shared, Arc::downgrade(&inner), io_rx));
        Self { inner }
    }

    /// The manager events (open, close, reconnection), from now on. A slow receiver misses
    /// the oldest events (256 are kept).
    #[must_use]
    pub fn events(&self) -> broadcast::Receiver<ManagerEvent> {
        self.inner.shared.events.subscribe()
    }

    /// A socket for namespace `ns` (`/` when empty), configured and connected through the
    /// returned builder. A namespace has one socket per manager: asking again returns the
    /// same socket.
    pub fn socket(&self, ns: &str) -> crate::SocketBuilder {
        crate::SocketBuilder::new(self.clone(), normalize_ns(ns))
    }

    /// A socket for the namespace named by the URL's path.
    pub fn url_socket(&self) -> crate::SocketBuilder {
        let ns = self.inner.shared.opts.url_namespace.clone();
        self.socket(&ns)
    }

    /// Whether the Engine.IO connection is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.inner
            .shared
            .lock()
            .conn
            .as_ref()
            .is_some_and(|c| c.session.is_open())
    }

    /// The transport in use, while connected.
    #[must_use]
    pub fn transport(&self) -> Option<engineio_proto::Transport> {
        let st = self.inner.shared.lock();
        st.conn
            .as_ref()
            .filter(|c| c.session.is_open())
            .map(|c| c.session.transport())
    }

    /// Whether `self` and `other` are the same manager (one shared connection).
    #[must_use]
    pub fn same_connection(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Closes the connection and every socket (`forced close`); no reconnection follows.
    /// What was emitted before is written first, within
    /// [`ManagerBuilder::close_timeout`]; [`Manager::closed`] waits for that.
    pub fn close(&self) {
        self.inner.shared.close();
    }

    /// Waits until the manager has no connection and nothing of the last one is still being
    /// written: after [`Manager::close`], or [`Socket::disconnect`] of its last socket, the
    /// events emitted before have reached the server (or the close timeout ran out, see
    /// [`ManagerBuilder::close_timeout`]). Resolves at once when there is no connection,
    /// also between reconnection attempts.
    ///
    /// A program that exits right after closing awaits this first, so that the runtime does
    /// not stop while the last packets are on their way.
    pub async fn closed(&self) {
        let shared = &self.inner.shared;
        let mut quiet = shared.quiet.subscribe();
        loop {
            let idle = *quiet.borrow_and_update() && shared.lock().conn.is_none();
            if idle || quiet.changed().await.is_err() {
                return;
            }
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }
}

pub(crate) fn normalize_ns(ns: &str) -> String {
    if ns.is_empty() {
        "/".to_owned()
    } else if ns.starts_with('/') {
        ns.to_owned()
    } else {
        format!("/{ns}")
    }
}

/// Managers shared per URL by [`crate::io`].
fn cache() -> &'static Mutex<HashMap<String, Weak<Inner>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Weak<Inner>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

pub(crate) fn cached_manager(builder: ManagerBuilder) -> Result<(Manager, String), Error> {
    let opts = builder.0.finish()?;
    let ns = opts.url_namespace.clone();
    if opts.force_new {
        return Ok((Manager::start(opts), ns));
    }
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    cache.retain(|_, w| w.strong_count() > 0);
    if let Some(inner) = cache.get(&opts.key).and_then(Weak::upgrade) {
        // As in JS: a namespace already in use on the shared manager gets a new manager.
        let taken = inner.shared.lock().sockets.contains_key(&ns);
        if !taken {
            return Ok((Manager { inner }, ns));
        }
        return Ok((Manager::start(opts), ns));
    }
    let key = opts.key.clone();
    let m = Manager::start(opts);
    cache.insert(key, Arc::downgrade(&m.inner));
    Ok((m, ns))
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) wake: Notify,
    events: broadcast::Sender<ManagerEvent>,
    pub(crate) opts: Options,
    io_tx: mpsc::Sender<(u64, IoEvent)>,
    /// Whether the task saw no connection and no I/O of a closed one still running.
    quiet: watch::Sender<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("url", &self.opts.key)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn close(&self) {
        self.lock().close(now());
        self.wake.notify_one();
    }
}

pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A namespace socket as the manager holds it.
pub(crate) struct Slot {
    pub(crate) core: NamespaceSocket<AckWaiter>,
    pub(crate) handlers: Arc<Handlers>,
    pub(crate) auth: Auth,
    pub(crate) status: watch::Sender<Status>,
}

/// Messages held beyond the session's own queue before emits are refused.
const MAX_OVERFLOW: usize = 65_536;

/// One Engine.IO connection.
struct Conn {
    epoch: u64,
    session: ClientSession,
    /// Messages the session's queue had no room for, in order: they go first once it has
    /// (the queue frees up as POSTs complete). Gone with the connection, as in JS.
    overflow: VecDeque<Message>,
    decoder: Decoder,
    opened: bool,
    reconnect_attempt: bool,
    close_override: Option<DisconnectReason>,
    /// An explicit close waits for the transport to take everything queued, until this
    /// deadline.
    closing: Option<Instant>,
    /// The last I/O failure (a refused connection, a failed TLS or WebSocket handshake): the
    /// cause reported if the connection closes with a transport error.
    failure: Option<Arc<Error>>,
}

impl Conn {
    /// Hands messages to the session, keeping their order: behind earlier overflow, and into
    /// the overflow when the session's queue is full.
    fn send(&mut self, messages: impl Iterator<Item = Message>) {
        for m in messages {
            if !self.overflow.is_empty() {
                self.overflow.push_back(m);
                continue;
            }
            match self.session.send(m) {
                Ok(()) => {}
                Err(engineio_proto::SendError::Full(frame)) => {
                    self.overflow.extend(frame.into_message());
                }
                // Closed: the packet goes with the connection.
                Err(_) => {}
            }
        }
    }

    /// Closes a connection that is closing once everything queued has been written (polling:
    /// no POST in flight; WebSocket: every frame handed to the writer; no upgrade pausing),
    /// or at the deadline. Whether it closed.
    fn finish_close(&mut self, now: Instant) -> bool {
        let Some(deadline) = self.closing else {
            return false;
        };
        if self.session.is_closed() {
            return false;
        }
        let flushed = self.overflow.is_empty() && self.session.is_writable();
        if flushed || now >= deadline || !self.session.is_open() {
            self.session.close(now);
            return true;
        }
        false
    }

    fn retry_overflow(&mut self) {
        while let Some(m) = self.overflow.pop_front() {
            if let Err(engineio_proto::SendError::Full(frame)) = self.session.send(m) {
                if let Some(m) = frame.into_message() {
                    self.overflow.push_front(m);
                }
                return;
            }
        }
    }
}

/// What the task must do once the lock is released.
enum Action {
    Http(u64, HttpRequest),
    WsOpen(u64, String),
    Ws(u64, WsMessage),
    WsClose(u64),
    /// Drop every I/O task of connections older than this generation; after an explicit
    /// close, let them finish until `linger` instead (the last POST, the WebSocket's last
    /// frames and its close).
    Reset {
        epoch: u64,
        linger: Option<Instant>,
    },
    Auth(u64, String, crate::socket::AuthFn),
}

/// What the task must hand to the application once the lock is released.
enum AppEvent {
    Socket(String, NamespaceEvent<AckWaiter>),
    TransportError(String, String, Arc<Error>),
    Failed(String),
}

enum IoEvent {
    Http(engineio_proto::RequestId, Result<HttpResult, Error>),
    WsOpened(Box<transport::WsStream>),
    WsFailed(Error),
    Ws(WsInput),
}

pub(crate) struct State {
    /// Why the last connection attempt failed, for [`Socket::wait_connected`].
    pub(crate) last_failure: Option<Arc<Error>>,
    closed: bool,
    close_timeout: Duration,
    conn: Option<Conn>,
    epoch: u64,
    reconnector: Reconnector,
    rng: ChaCha20Rng,
    pub(crate) sockets: HashMap<String, Slot>,
    upgraded_once: bool,
    /// An ack future was dropped before its reply: forget abandoned waiters.
    pub(crate) prune_acks: bool,
    actions: Vec<Action>,
    app: Vec<AppEvent>,
    events: broadcast::Sender<ManagerEvent>,
}

fn unit(rng: &mut ChaCha20Rng) -> f64 {
    // 53 random bits in [0, 1).
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl State {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes an already encoded packet (an ack) if the connection is open.
    pub(crate) fn send_raw(&mut self, encoded: &socketio_proto::Encoded) -> bool {
        let Some(conn) = self.conn.as_mut().filter(|c| c.session.is_open()) else {
            return false;
        };
        conn.send(encoded.messages());
        true
    }

    pub(crate) fn writable(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.overflow.is_empty() && c.session.is_writable())
    }

    /// Whether the connection holds so many packets beyond the session's queue that emits
    /// are refused ([`crate::EmitError::BufferFull`]).
    pub(crate) fn congested(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.overflow.len() >= MAX_OVERFLOW)
    }

    /// Registers (or reuses) the slot of `ns`.
    pub(crate) fn slot(&mut self, ns: &str, config: NamespaceConfig) -> &mut Slot {
        self.sockets.entry(ns.to_owned()).or_insert_with(|| {
            let name = Namespace::new(ns.to_owned()).unwrap_or_default();
            Slot {
                core: NamespaceSocket::new(name, config),
                handlers: Arc::new(Handlers::default()),
                auth: Auth::None,
                status: watch::Sender::new(Status::Idle),
            }
        })
    }

    /// A socket wants to connect: opens the connection if needed, or sends its CONNECT.
    pub(crate) fn activate(&mut self, now: Instant, ns: &str, opts: &Options) {
        if self.closed {
            return;
        }
        let open = self.conn.as_ref().is_some_and(|c| c.session.is_open());
        let epoch = self.epoch;
        let Some(slot) = self.sockets.get_mut(ns) else {
            return;
        };
        if slot.core.is_active() && (slot.core.is_connected() || slot.core.is_connecting()) {
            return;
        }
        slot.core.open();
        slot.status.send_replace(Status::Connecting);
        if let Some(conn) = self
            .conn
            .as_mut()
            .filter(|c| c.closing.is_some() && c.session.is_open())
        {
            // Back before the idle connection closed: it stays.
            conn.closing = None;
            conn.close_override = None;
            self.reconnector.restart();
        }
        if open {
            send_connect(slot, epoch, ns, &mut self.actions);
        } else if self.conn.is_none() && !self.reconnector.is_reconnecting() {
            self.reconnector.restart();
            self.open(now, opts, false);
        }
    }

    /// A socket left its namespace; the connection closes with the last one. Whether it
    /// started closing.
    pub(crate) fn maybe_close_idle(&mut self, now: Instant) -> bool {
        if self.sockets.values().any(|s| s.core.is_active()) {
            return false;
        }
        self.reconnector.stop();
        self.close_gracefully(now);
        true
    }

    /// Closes the connection once what was handed to it is written (see
    /// [`ManagerBuilder::close_timeout`]).
    fn close_gracefully(&mut self, now: Instant) {
        let Some(conn) = &mut self.conn else {
            return;
        };
        conn.close_override = Some(DisconnectReason::ForcedClose);
        if conn.session.is_open() {
            // The task's next pump closes it once the queued packets are out.
            conn.closing.get_or_insert(now + self.close_timeout);
        } else {
            conn.session.close(now);
        }
    }

    fn open(&mut self, now: Instant, opts: &Options, reconnect_attempt: bool) {
        if self.closed || self.conn.is_some() {
            return;
        }
        let mut config = EngineConfig::default();
        config.transports = match opts.mode {
            TransportMode::WebSocketOnly => Transports::WEBSOCKET,
            TransportMode::PollingOnly => Transports::POLLING,
            TransportMode::PollingThenUpgrade if opts.remember_upgrade && self.upgraded_once => {
                Transports::WEBSOCKET
            }
            TransportMode::PollingThenUpgrade => Transports::ALL,
        };
        config.upgrade = opts.mode == TransportMode::PollingThenUpgrade;
        config.query = opts.query.clone();
        config.open_timeout = opts.timeout;
        config.upgrade_timeout = opts.upgrade_timeout;
        config.max_payload = opts.max_payload;
        config.max_buffered_packets = opts.engine_max_buffered;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        self.epoch += 1;
        self.actions.push(Action::Reset {
            epoch: self.epoch,
            linger: None,
        });
        match ClientSession::new(Arc::new(config), now, seed) {
            Ok(session) => {
                self.conn = Some(Conn {
                    epoch: self.epoch,
                    session,
                    overflow: VecDeque::new(),
                    decoder: Decoder::new(opts.decode_limits),
                    opened: false,
                    reconnect_attempt,
                    close_override: None,
                    closing: None,
                    failure: None,
                });
            }
            Err(e) => {
                let _ = self.events.send(ManagerEvent::Error(e.to_string()));
            }
        }
    }

    fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.reconnector.stop();
        if self.conn.is_some() {
            self.close_gracefully(now);
        } else {
            for (ns, slot) in &mut self.sockets {
                slot.core
                    .handle_connection_closed(now, DisconnectReason::ForcedClose);
                drain_socket(ns, slot, &mut self.app);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let conn = self.conn.as_ref().and_then(|c| {
            [c.session.poll_timeout(), c.closing]
                .into_iter()
                .flatten()
                .min()
        });
        let socks = self
            .sockets
            .values()
            .filter_map(|s| s.core.poll_timeout())
            .min();
        [conn, socks, self.reconnector.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant, opts: &Options) {
        if let Some(conn) = &mut self.conn
            && conn.session.poll_timeout().is_some_and(|d| d <= now)
        {
            conn.session.handle_timeout(now);
        }
        for slot in self.sockets.values_mut() {
            if slot.core.poll_timeout().is_some_and(|d| d <= now) {
                slot.core.handle_timeout(now);
            }
        }
        if let Some(attempt) = self.reconnector.handle_timeout(now) {
            let _ = self.events.send(ManagerEvent::ReconnectAttempt(attempt));
            self.open(now, opts, true);
        }
    }

    fn handle_io(
        &mut self,
        now: Instant,
        epoch: u64,
        ev: IoEvent,
    ) -> Option<Box<transport::WsStream>> {
        let conn = self.conn.as_mut().filter(|c| c.epoch == epoch)?;
        match ev {
            IoEvent::Http(id, result) => {
                let result = result.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "polling request failed");
                    conn.failure = Some(Arc::new(e));
                    HttpResult::Failed
                });
                if let Err(e) = conn.session.handle_http_response(now, id, result) {
                    tracing::debug!(error = %e, "polling failed");
                }
            }
            IoEvent::WsOpened(ws) => {
                conn.session.handle_ws_open(now);
                return Some(ws);
            }
            IoEvent::WsFailed(e) => {
                tracing::debug!(error = %e, "WebSocket failed");
                conn.failure = Some(Arc::new(e));
                // Opening the session's own WebSocket failed: a transport error, as below (a
                // failed probe only ends the upgrade attempt).
                if conn.session.transport() == engineio_proto::Transport::WebSocket {
                    conn.close_override
                        .get_or_insert(DisconnectReason::TransportError);
                }
                conn.session.handle_ws_closed(now);
            }
            IoEvent::Ws(WsInput::Message(m)) => {
                if let Err(e) = conn.session.handle_ws_message(now, m) {
                    tracing::debug!(error = %e, "WebSocket message refused");
                }
            }
            IoEvent::Ws(WsInput::Closed) => conn.session.handle_ws_closed(now),
            IoEvent::Ws(WsInput::Failed) => {
                // The session's own WebSocket failing is a transport error (a failed probe
                // only ends the upgrade attempt).
                if conn.session.transport() == engineio_proto::Transport::WebSocket {
                    conn.close_override
                        .get_or_insert(DisconnectReason::TransportError);
                }
                conn.session.handle_ws_closed(now);
            }
        }
        None
    }

    /// Moves everything the state machines produced into actions and application events.
    fn pump(&mut self, now: Instant) {
        if let Some(conn) = &mut self.conn {
            conn.retry_overflow();
        }
        if std::mem::take(&mut self.prune_acks) {
            for slot in self.sockets.values_mut() {
                slot.core.retain_waiters(|w| !w.is_closed());
            }
        }
        loop {
            let mut progress = false;
            let mut engine_events = Vec::new();
            if let Some(conn) = &mut self.conn {
                while let Some(t) = conn.session.poll_transmit(now) {
                    progress = true;
                    self.actions.push(match t {
                        ClientTransmit::Http(req) => Action::Http(conn.epoch, req),
                        ClientTransmit::WsOpen { query } => Action::WsOpen(conn.epoch, query),
                        ClientTransmit::Ws(m) => Action::Ws(conn.epoch, m),
                        _ => Action::WsClose(conn.epoch),
                    });
                }
                while let Some(ev) = conn.session.poll_event() {
                    engine_events.push(ev);
                }
            }
            for ev in engine_events {
                progress = true;
                self.on_engine_event(now, ev);
            }
            for (ns, slot) in &mut self.sockets {
                while let Some(p) = slot.core.poll_transmit() {
                    progress = true;
                    if let Some(conn) = &mut self.conn {
                        conn.send(p.encode().messages());
                    }
                }
                progress |= drain_socket(ns, slot, &mut self.app);
            }
            if self
                .conn
                .as_ref()
                .is_some_and(|c| c.close_override.is_none())
            {
                progress |= self.maybe_close_idle(now);
            }
            // After the sockets' packets went to the connection: they are part of the flush.
            if let Some(conn) = &mut self.conn {
                progress |= conn.finish_close(now);
            }
            if !progress {
                break;
            }
        }
    }

    fn on_engine_event(&mut self, now: Instant, ev: ClientEvent) {
        match ev {
            ClientEvent::Open(_) => {
                let Some(conn) = &mut self.conn else { return };
                conn.opened = true;
                let epoch = conn.epoch;
                if conn.reconnect_attempt {
                    let n = self.reconnector.attempt_succeeded();
                    let _ = self.events.send(ManagerEvent::Reconnect(n));
                } else {
                    self.reconnector.attempt_succeeded();
                }
                let _ = self.events.send(ManagerEvent::Open);
                for (ns, slot) in &mut self.sockets {
                    if slot.core.is_active() {
                        send_connect(slot, epoch, ns, &mut self.actions);
                    }
                }
            }
            ClientEvent::Message(m) => {
                let Some(conn) = &mut self.conn else { return };
                let decoded = match m {
                    Message::Text(t) => conn.decoder.decode_text(t),
                    Message::Binary(b) => conn.decoder.decode_binary(b),
                    _ => return,
                };
                match decoded {
                    Ok(Some(packet)) => {
                        if let Some(slot) = self.sockets.get_mut(packet.ns().as_str()) {
                            slot.core.handle_packet(now, packet);
                        } else {
                            tracing::debug!(ns = %packet.ns(), "packet for an unknown namespace");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "undecodable packet: closing");
                        conn.close_override = Some(DisconnectReason::ParseError);
                        conn.session.close(now);
                    }
                }
            }
            ClientEvent::Upgraded => {
                self.upgraded_once = true;
                let _ = self.events.send(ManagerEvent::Upgrade);
            }
            ClientEvent::Closed(reason) => {
                let Some(conn) = self.conn.take() else { return };
                self.actions.push(Action::Reset {
                    epoch: conn.epoch + 1,
                    linger: conn.closing,
                });
                let detail = match &reason {
                    CloseReason::ProtocolViolation(e) => Some(e.to_string()),
                    _ => None,
                };
                let reason = conn.close_override.unwrap_or_else(|| match &reason {
                    CloseReason::TransportClose => DisconnectReason::TransportClose,
                    CloseReason::ForcedClose => DisconnectReason::ForcedClose,
                    CloseReason::PingTimeout => DisconnectReason::PingTimeout,
                    CloseReason::ProtocolViolation(e) if e.reason() == "parse error" => {
                        DisconnectReason::ParseError
                    }
                    _ => DisconnectReason::TransportError,
                });
                // "transport error: connection refused", "transport error: unexpected http
                // status 403", "transport error: handshake timed out", ...: the I/O failure
                // when one ended the attempt or the connection, else the protocol's detail.
                let io_cause = conn
                    .failure
                    .filter(|_| !conn.opened || reason == DisconnectReason::TransportError);
                let cause = match (io_cause, detail) {
                    (Some(c), _) => c,
                    (None, Some(d)) if d != reason.as_str() => {
                        Arc::new(Error::new(crate::ErrorKind::Protocol, d))
                    }
                    (None, _) => Arc::new(Error::new(crate::ErrorKind::Io, reason.as_str())),
                };
                let description = if cause.to_string() == reason.as_str() {
                    reason.as_str().to_owned()
                } else {
                    format!("{reason}: {cause}")
                };
                for slot in self.sockets.values_mut() {
                    slot.core.handle_connection_closed(now, reason);
                }
                if conn.opened {
                    let _ = self.events.send(ManagerEvent::Close(reason));
                } else {
                    self.last_failure = Some(cause.clone());
                    for (ns, slot) in &self.sockets {
                        if slot.core.is_active() {
                            self.app.push(AppEvent::TransportError(
                                ns.clone(),
                                description.clone(),
                                cause.clone(),
                            ));
                        }
                    }
                }
                if self.closed || reason == DisconnectReason::ForcedClose {
                    return;
                }
                let mut rng = {
                    let r = &mut self.rng;
                    move || unit(r)
                };
                let step = if conn.opened {
                    self.reconnector.connection_lost(now, &mut rng)
                } else if conn.reconnect_attempt {
                    let _ = self.events.send(ManagerEvent::ReconnectError(description));
                    self.reconnector.attempt_failed(now, &mut rng)
                } else {
                    let _ = self.events.send(ManagerEvent::Error(description));
                    self.reconnector.first_attempt_failed(now, &mut rng)
                };
                match step {
                    ReconnectStep::Failed => {
                        let _ = self.events.send(ManagerEvent::ReconnectFailed);
                        self.fail_all();
                    }
                    ReconnectStep::Scheduled { delay } => {
                        let _ = self.events.send(ManagerEvent::ReconnectScheduled(delay));
                    }
                    ReconnectStep::Stopped if !conn.opened => self.fail_all(),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// The connection will not come back: sockets still waiting to connect give up.
    fn fail_all(&mut self) {
        for ns in self.sockets.keys() {
            self.app.push(AppEvent::Failed(ns.clone()));
        }
    }
}

fn send_connect(slot: &mut Slot, epoch: u64, ns: &str, actions: &mut Vec<Action>) {
    match &slot.auth {
        Auth::None => slot.core.send_connect(None),
        Auth::Static(p) => slot.core.send_connect(Some(p.clone())),
        Auth::Callback(f) => actions.push(Action::Auth(epoch, ns.to_owned(), f.clone())),
    }
}

fn drain_socket(ns: &str, slot: &mut Slot, app: &mut Vec<AppEvent>) -> bool {
    let mut progress = false;
    while let Some(ev) = slot.core.poll_event() {
        progress = true;
        match &ev {
            NamespaceEvent::Connected { sid, .. } => {
                slot.status.send_replace(Status::Connected(sid.clone()));
            }
            NamespaceEvent::Disconnected { reason } => {
                slot.status.send_replace(Status::Disconnected(*reason));
            }
            NamespaceEvent::ConnectError { message, data } => {
                slot.status.send_replace(Status::Refused(ConnectError {
                    message: message.clone(),
                    data: data.clone(),
                    cause: None,
                }));
            }
            _ => {}
        }
        app.push(AppEvent::Socket(ns.to_owned(), ev));
    }
    progress
}

/// The connection's task.
async fn run(shared: Arc<Shared>, inner: Weak<Inner>, mut io_rx: mpsc::Receiver<(u64, IoEvent)>) {
    let mut io_tasks: JoinSet<()> = JoinSet::new();
    // The I/O tasks of the current connection, and those of an explicitly closed one that
    // may finish until `linger_until`.
    let mut current: Vec<AbortHandle> = Vec::new();
    let mut lingering: Vec<AbortHandle> = Vec::new();
    let mut linger_until: Option<Instant> = None;
    let mut ws_tx: Option<(u64, mpsc::UnboundedSender<Option<WsMessage>>)> = None;
    let mut handlers: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
    let mut current_epoch = 0;
    let max_handlers = shared.opts.max_concurrent_handlers;
    loop {
        let now = now();
        let (actions, app, deadline, no_conn, closed) = {
            let mut st = shared.lock();
            st.handle_timeout(now, &shared.opts);
            st.pump(now);
            (
                std::mem::take(&mut st.actions),
                std::mem::take(&mut st.app),
                st.poll_timeout(),
                st.conn.is_none(),
                st.closed,
            )
        };
        for action in actions {
            match action {
                Action::Reset { epoch, linger } => {
                    if epoch > current_epoch {
                        current_epoch = epoch;
                        match linger {
                            Some(until) => {
                                lingering.append(&mut current);
                                linger_until = Some(linger_until.map_or(until, |u| u.max(until)));
                            }
                            None => current.drain(..).for_each(|h| h.abort()),
                        }
                        ws_tx = None;
                        shared.opts.endpoint.pool.clear();
                    }
                }
                Action::Http(epoch, req) => {
                    let ep = shared.opts.endpoint.clone();
                    let tx = shared.io_tx.clone();
                    current.push(io_tasks.spawn(async move {
                        let id = req.id;
                        let result = transport::http(&ep, req).await;
                        let _ = tx.send((epoch, IoEvent::Http(id, result))).await;
                    }));
                }
                Action::WsOpen(epoch, query) => {
                    let ep = shared.opts.endpoint.clone();
                    let tx = shared.io_tx.clone();
                    current.push(io_tasks.spawn(async move {
                        let ev = match transport::ws_open(&ep, &query).await {
                            Ok(ws) => IoEvent::WsOpened(Box::new(ws)),
                            Err(e) => IoEvent::WsFailed(e),
                        };
                        let _ = tx.send((epoch, ev)).await;
                    }));
                }
                Action::Ws(epoch, msg) => {
                    if let Some((g, tx)) = &ws_tx
                        && *g == epoch
                    {
                        let _ = tx.send(Some(msg));
                    }
                }
                Action::WsClose(epoch) => {
                    if let Some((g, tx)) = &ws_tx
                        && *g == epoch
                    {
                        let _ = tx.send(None);
                        ws_tx = None;
                    }
                }
                Action::Auth(epoch, ns, f) => {
                    let shared = shared.clone();
                    handlers.push(
                        async move {
                            let value = f().await;
                            let payload = socketio_proto::to_payload(&value).ok();
                            {
                                let mut st = shared.lock();
                                let open = st
                                    .conn
                                    .as_ref()
                                    .is_some_and(|c| c.epoch == epoch && c.session.is_open());
                                if let (true, Some(slot)) = (open, st.sockets.get_mut(&ns)) {
                                    slot.core.send_connect(payload);
                                }
                            }
                            shared.wake.notify_one();
                        }
                        .boxed(),
                    );
                }
            }
        }
        if !app.is_empty()
            && let Some(inner) = inner.upgrade()
        {
            let manager = Manager { inner };
            for ev in app {
                dispatch(&manager, ev, &mut handlers);
            }
        }
        current.retain(|h| !h.is_finished());
        lingering.retain(|h| !h.is_finished());
        if linger_until.is_some_and(|u| u <= now) {
            lingering.drain(..).for_each(|h| h.abort());
        }
        if lingering.is_empty() {
            linger_until = None;
        }
        let quiet = no_conn && lingering.is_empty();
        shared
            .quiet
            .send_if_modified(|q| std::mem::replace(q, quiet) != quiet);
        if closed && quiet {
            break;
        }
        let deadline = [deadline, linger_until].into_iter().flatten().min();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.wake.notified() => {}
            // At the handler limit, input waits (and so does the peer): memory stays bounded.
            Some((epoch, ev)) = io_rx.recv(), if handlers.len() < max_handlers => {
                let ws = shared.lock().handle_io(self::now(), epoch, ev);
                if let Some(ws) = ws {
                    let (tx, rx) = mpsc::unbounded_channel();
                    ws_tx = Some((epoch, tx));
                    current.push(io_tasks.spawn(transport::ws_run(
                        *ws,
                        rx,
                        shared.io_tx.clone(),
                        move |input| (epoch, IoEvent::Ws(input)),
                    )));
                }
            }
            () = sleep => {}
            Some(()) = handlers.next(), if !handlers.is_empty() => {}
            // Finished I/O tasks leave their result in the set until joined.
            Some(_) = io_tasks.join_next(), if !io_tasks.is_empty() => {}
        }
    }
    // Let the handlers that are still running finish; the connection is gone.
    while handlers.next().await.is_some() {}
}

fn dispatch(
    manager: &Manager,
    ev: AppEvent,
    handlers: &mut FuturesUnordered<BoxFuture<'static, ()>>,
) {
    match ev {
        AppEvent::Socket(ns, ev) => {
            let socket = Socket::new(manager.clone(), ns);
            let h = socket.handlers();
            match ev {
                NamespaceEvent::Connected { .. } => {
                    for f in h.connect_handlers() {
                        f(socket.clone());
                    }
                }
                NamespaceEvent::Disconnected { reason } => {
                    for f in h.disconnect_handlers() {
                        f(socket.clone(), reason);
                    }
                }
                NamespaceEvent::ConnectError { message, data } => {
                    let err = ConnectError {
                        message,
                        data,
                        cause: None,
                    };
                    for f in h.connect_error_handlers() {
                        f(socket.clone(), err.clone());
                    }
                }
                NamespaceEvent::Event { data, ack } => {
                    let Some(name) = data.event_name().map(|n| n.into_owned()) else {
                        tracing::debug!("event without a name");
                        return;
                    };
                    let ack = ack.map(|id| AckSender::new(socket.clone(), id));
                    let futures = h.event_futures(&socket, &name, data, ack);
                    for f in futures {
                        handlers.push(
                            std::panic::AssertUnwindSafe(f)
                                .catch_unwind()
                                .map(|r| {
                                    if r.is_err() {
                                        tracing::error!("an event handler panicked");
                                    }
                                })
                                .boxed(),
                        );
                    }
                }
                NamespaceEvent::Ack { waiter, result } => {
                    let _ = waiter.send(result);
                }
            }
        }
        AppEvent::TransportError(ns, description, cause) => {
            let socket = Socket::new(manager.clone(), ns);
            let err = ConnectError {
                message: description,
                data: None,
                cause: Some(cause),
            };
            for f in socket.handlers().connect_error_handlers() {
                f(socket.clone(), err.clone());
            }
        }
        AppEvent::Failed(ns) => {
            let st = manager.shared().lock();
            if let Some(slot) = st.sockets.get(&ns)
                && !slot.core.is_connected()
            {
                slot.status.send_replace(Status::Failed);
            }
        }
    }
}
