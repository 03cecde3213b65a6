//! One client's membership of one namespace.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use engineio_proto::Frame;
use serde::Serialize;
use socketio_adapter::{
    AckCallback, AdapterError, BroadcastOptions, LocalSocket, Room, Session, SocketId,
};
use socketio_proto::{AckId, EncodeError, Encoded, Namespace, Packet, Payload, is_reserved_event};
use tokio::sync::oneshot;

use super::args::Args;
use super::ns::{Broadcast, NsInner};
use crate::engine::{EngineSocket, Handshake, SocketSendError};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type EventHandler =
    Arc<dyn Fn(Socket, Args, Option<AckSender>) -> BoxFuture<()> + Send + Sync>;
type DisconnectHandler = Box<dyn FnOnce(Socket, String) + Send>;
pub(crate) type EventMiddleware =
    Arc<dyn Fn(Socket, String, Args) -> BoxFuture<Result<(), String>> + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(Socket, String) + Send + Sync>;

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error("reserved event name {0:?}")]
    Reserved(String),
    /// The data did not serialise.
    #[error("cannot serialise event data")]
    Encode(#[source] EncodeError),
    /// The socket is disconnected.
    #[error("socket disconnected")]
    Closed,
    /// The adapter could not hand the packet to other nodes (local delivery happened).
    #[error("adapter error")]
    Adapter(#[source] AdapterError),
}

/// Why [`Socket::try_join`] refused a room.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The room name is longer than `max_room_name_len`.
    #[error("room name of {len} bytes exceeds the maximum of {max}")]
    NameTooLong {
        /// The name's length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The socket is in `max_rooms_per_socket` rooms already.
    #[error("socket is in the maximum of {max} rooms")]
    TooManyRooms {
        /// The configured maximum.
        max: usize,
    },
}

/// The caps [`Socket::try_join`] applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoomLimits {
    pub(crate) max_rooms: usize,
    pub(crate) max_name_len: usize,
}

/// Connection state recovery state of a new socket.
pub(crate) struct SocketState {
    /// The private session id, when recovery is on.
    pub(crate) pid: Option<String>,
    /// Whether the socket was restored from a stored session.
    pub(crate) recovered: bool,
    /// The restored application data (`None`: `{}`, allocated on first use).
    pub(crate) data: Option<serde_json::Value>,
}

/// Disconnect reasons after which a session is kept for recovery (the reference's list).
const RECOVERABLE: [&str; 6] = [
    "transport error",
    "transport close",
    "forced close",
    "ping timeout",
    "server shutting down",
    "forced server close",
];

/// Why an acknowledgement did not come.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The timeout passed; holds the replies received before it (broadcasts).
    #[error("operation has timed out")]
    Timeout(Vec<Args>),
    /// The socket disconnected first.
    #[error("socket has been disconnected")]
    Disconnected,
    /// The emit itself failed.
    #[error("emit failed")]
    Emit(#[source] EmitError),
}

enum AckSlot {
    /// `emit_with_ack` on this socket.
    One(oneshot::Sender<Args>),
    /// A broadcast with acks, through the adapter.
    Callback(AckCallback),
}

pub(crate) struct SocketInner {
    id: SocketId,
    ns: Arc<NsInner>,
    engine: EngineSocket,
    handshake: Arc<Handshake>,
    auth: serde_json::Value,
    /// By event name; the names are the application's, so a fast unkeyed hash is safe (a peer
    /// only looks names up).
    handlers: RwLock<rustc_hash::FxHashMap<String, EventHandler>>,
    any: RwLock<Option<EventHandler>>,
    event_middlewares: RwLock<Vec<EventMiddleware>>,
    on_error: RwLock<Option<ErrorHandler>>,
    on_disconnect: Mutex<Option<DisconnectHandler>>,
    acks: Mutex<HashMap<u64, AckSlot>>,
    connected: AtomicBool,
    /// Set once the socket ended; before CONNECT (in middlewares) a socket may already emit.
    closed: AtomicBool,
    extensions: Mutex<http::Extensions>,
    /// Connection state recovery: the private session id and whether the socket was restored.
    csr: Option<Box<(Box<str>, bool)>>,
    /// Allocated on first use: most applications never touch `data`.
    data: std::sync::OnceLock<Box<Mutex<serde_json::Value>>>,
}

/// A client's socket in one namespace. Cheap to clone.
#[derive(Clone)]
pub struct Socket(Arc<SocketInner>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("ns", &self.0.ns.name)
            .finish()
    }
}

/// Encodes an EVENT once; `args` maps to arguments as in [`Encoded::event`] (a tuple gives
/// one argument per element, a sequence too, any other value one argument).
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    ns: &Namespace,
    event: &str,
    args: &T,
    ack: Option<AckId>,
) -> Result<Vec<Frame>, EmitError> {
    let encoded = Encoded::event(ns, event, args, ack).map_err(EmitError::from)?;
    Ok(encoded.frames().collect())
}

impl From<EncodeError> for EmitError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::ReservedEventName(name) => Self::Reserved(name),
            e => Self::Encode(e),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        ns: Arc<NsInner>,
        engine: EngineSocket,
        handshake: Arc<Handshake>,
        auth: serde_json::Value,
        state: SocketState,
    ) -> Self {
        Self(Arc::new(SocketInner {
            id,
            ns,
            engine,
            handshake,
            auth,
            handlers: RwLock::new(rustc_hash::FxHashMap::default()),
            any: RwLock::new(None),
            event_middlewares: RwLock::new(Vec::new()),
            on_error: RwLock::new(None),
            on_disconnect: Mutex::new(None),
            acks: Mutex::new(HashMap::new()),
            connected: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            extensions: Mutex::new(http::Extensions::new()),
            csr: state
                .pid
                .map(|pid| Box::new((pid.into_boxed_str(), state.recovered))),
            data: match state.data {
                Some(data) => std::sync::OnceLock::from(Box::new(Mutex::new(data))),
                None => std::sync::OnceLock::new(),
            },
        }))
    }

    /// The socket id (20 random URL-safe characters; never the Engine.IO session id).
    #[must_use]
    pub fn id(&self) -> &str {
        self.0.id.as_str()
    }

    pub(crate) fn socket_id(&self) -> &SocketId {
        &self.0.id
    }

    /// The namespace name.
    #[must_use]
    pub fn ns(&self) -> &str {
        &self.0.ns.name
    }

    /// The HTTP request that opened the connection.
    #[must_use]
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// The CONNECT payload (`{}` when the client sent none).
    #[must_use]
    pub fn auth(&self) -> &serde_json::Value {
        &self.0.auth
    }

    /// Per-socket application data of any type, on this node only (not kept by connection
    /// state recovery; use [`Socket::data`] for that).
    pub fn extensions(&self) -> MutexGuard<'_, http::Extensions> {
        lock(&self.0.extensions)
    }

    /// The socket's JSON application data (`socket.data`, `{}` at first): kept with the
    /// session on a recoverable disconnect and restored with it.
    pub fn data(&self) -> MutexGuard<'_, serde_json::Value> {
        lock(self.0.data.get_or_init(|| {
            Box::new(Mutex::new(
                serde_json::Value::Object(serde_json::Map::new()),
            ))
        }))
    }

    /// Replaces the socket's application data (see [`Socket::data`]); other nodes of a
    /// cluster see it in `fetchSockets`.
    pub fn set_data(&self, data: serde_json::Value) {
        *self.data() = data;
    }

    /// Whether this socket was restored by connection state recovery: same id, rooms and
    /// data as before the disconnect, and the packets missed meanwhile were sent first.
    #[must_use]
    pub fn recovered(&self) -> bool {
        self.0.csr.as_ref().is_some_and(|c| c.1)
    }

    /// The private session id (a bearer secret), when recovery is on.
    pub(crate) fn pid(&self) -> Option<&str> {
        self.0.csr.as_ref().map(|c| &*c.0)
    }

    /// With connection state recovery, a connected socket's own events go through the
    /// adapter (to its own room), which stores them and appends their offset.
    fn emits_through_adapter(&self) -> bool {
        self.0.csr.is_some() && self.connected() && self.0.ns.adapter.supports_recovery()
    }

    fn emit_packet(&self, packet: Packet) -> Result<(), EmitError> {
        if self.emits_through_adapter() {
            let opts = BroadcastOptions::new().to(Room::from(&self.0.id));
            self.0
                .ns
                .adapter
                .broadcast(&packet, &opts)
                .map_err(EmitError::Adapter)?;
            return Ok(());
        }
        self.send_packet(packet)
    }

    /// Whether the socket is connected.
    #[must_use]
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// Registers the handler of `event`. Handlers of one connection start in the order its
    /// packets arrived and run concurrently; a slow handler never blocks other connections.
    pub fn on<F, Fut>(&self, event: &str, handler: F)
    where
        F: Fn(Self, Args, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: EventHandler = Arc::new(move |s, a, ack| Box::pin(handler(s, a, ack)));
        self.0
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(event.to_owned(), h);
    }

    /// Registers the catch-all handler, for events without their own handler; it receives the
    /// event name as its first argument.
    pub fn on_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Self, String, Args, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let h: EventHandler = Arc::new(move |s, a: Args, ack| {
            let name = a.event_name().map(|n| n.into_owned()).unwrap_or_default();
            Box::pin(handler(s, name, a, ack))
        });
        *self.0.any.write().unwrap_or_else(PoisonError::into_inner) = Some(h);
    }

    /// Registers the disconnect handler; it receives the reason (`client namespace
    /// disconnect`, `transport close`, `ping timeout`, `server shutting down`, ...).
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: FnOnce(Self, String) + Send + 'static,
    {
        *lock(&self.0.on_disconnect) = Some(Box::new(handler));
    }

    /// Adds a per-event middleware (`socket.use`): it runs, in registration order, before the
    /// handler of every incoming event, with the event name and arguments. An `Err` drops the
    /// event and reaches the [`Socket::on_error`] handler; the connection stays up.
    pub fn use_event_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Self, String, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let m: EventMiddleware = Arc::new(move |s, name, args| Box::pin(middleware(s, name, args)));
        self.0
            .event_middlewares
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(m);
    }

    /// Registers the error handler: it receives the message of a per-event middleware's `Err`.
    pub fn on_error<F>(&self, handler: F)
    where
        F: Fn(Self, String) + Send + Sync + 'static,
    {
        *self
            .0
            .on_error
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(handler));
    }

    /// Runs the event middlewares, then the handler of the event named in `args`, as one task;
    /// `None` when there is nothing to run. The name is copied only for the middlewares.
    pub(crate) fn dispatch(self, args: Args, ack: Option<AckSender>) -> Option<BoxFuture<()>> {
        let name = args.event_name()?;
        let handler = self.handler(&name);
        let middlewares = self
            .0
            .event_middlewares
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if middlewares.is_empty() {
            drop(name);
            return handler.map(|h| h(self, args, ack));
        }
        let name = name.into_owned();
        Some(Box::pin(async move {
            for m in middlewares {
                if let Err(message) = m(self.clone(), name.clone(), args.clone()).await {
                    let on_error = self
                        .0
                        .on_error
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    match on_error {
                        Some(h) => h(self, message),
                        None => tracing::debug!(%message, "event refused by a middleware"),
                    }
                    return;
                }
            }
            if let Some(h) = handler {
                h(self, args, ack).await;
            }
        }))
    }

    pub(crate) fn handler(&self, event: &str) -> Option<EventHandler> {
        let h = self
            .0
            .handlers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(event)
            .cloned();
        h.or_else(|| {
            self.0
                .any
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    /// Emits `event`. `args` is the argument list: a tuple gives one argument per element
    /// (`&("hi", 1)`), `()` none, any other value one argument; a sequence also gives one
    /// argument per element, so wrap a single list in a 1-tuple (`&(list,)`).
    /// [`socketio_proto::Binary`] values travel as binary attachments.
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the name is reserved, the data does not serialise, or the socket is
    /// disconnected.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        if self.is_closed() {
            return Err(EmitError::Closed);
        }
        if self.emits_through_adapter() {
            return self.emit_packet(Packet::event(self.namespace(), event, args, None)?);
        }
        self.send_frames(&encode_event(&self.namespace(), event, args, None)?, false);
        Ok(())
    }

    /// Emits already-built arguments (as received, binary attachments included) as `event`.
    ///
    /// # Errors
    ///
    /// [`EmitError::Closed`] when the socket is disconnected.
    pub fn emit_args(&self, event: &str, args: &Args) -> Result<(), EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::Reserved(event.to_owned()));
        }
        if self.is_closed() {
            return Err(EmitError::Closed);
        }
        self.emit_packet(Packet::Event {
            ns: self.namespace(),
            data: args.to_event_payload(event),
            ack: None,
        })
    }

    /// Emits `event` (arguments as in [`Socket::emit`]) and waits for the client's
    /// acknowledgement.
    ///
    /// # Errors
    ///
    /// [`AckError::Timeout`] after `timeout` (the pending entry is freed),
    /// [`AckError::Disconnected`] if the socket goes away first.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<Args, AckError> {
        if self.is_closed() {
            return Err(AckError::Emit(EmitError::Closed));
        }
        let id = self.0.ns.next_ack();
        let frames =
            encode_event(&self.namespace(), event, args, Some(id)).map_err(AckError::Emit)?;
        let (tx, rx) = oneshot::channel();
        lock(&self.0.acks).insert(id.0, AckSlot::One(tx));
        self.send_frames(&frames, false);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => {
                lock(&self.0.acks).remove(&id.0);
                Err(AckError::Timeout(Vec::new()))
            }
        }
    }

    /// Acknowledgements this socket is still waiting for (each bounded by its timeout).
    #[must_use]
    pub fn pending_acks(&self) -> usize {
        lock(&self.0.acks).len()
    }

    pub(crate) fn forget_ack(&self, id: AckId) {
        lock(&self.0.acks).remove(&id.0);
    }

    /// An ACK arrived; unknown ids are ignored.
    pub(crate) fn on_ack(&self, id: AckId, args: Args) {
        let slot = lock(&self.0.acks).remove(&id.0);
        match slot {
            Some(AckSlot::One(tx)) => {
                let _ = tx.send(args);
            }
            Some(AckSlot::Callback(callback)) => callback(args.into_payload()),
            None => tracing::debug!(id = id.0, "ack for an unknown id ignored"),
        }
    }

    /// Joins a room, as [`Socket::try_join`] does; a refusal at a cap is logged and
    /// otherwise ignored.
    pub fn join(&self, room: &str) {
        if let Err(e) = self.try_join(room) {
            tracing::debug!(id = %self.0.id, %e, "join refused");
        }
    }

    /// Joins a room unless the name is longer than `max_room_name_len` or the socket is in
    /// `max_rooms_per_socket` rooms already (rooms named from client input must not grow
    /// without bound). Joining a room the socket is in succeeds.
    ///
    /// # Errors
    ///
    /// [`JoinError`] naming the cap.
    pub fn try_join(&self, room: &str) -> Result<(), JoinError> {
        let limits = self.0.ns.room_limits;
        if room.len() > limits.max_name_len {
            return Err(JoinError::NameTooLong {
                len: room.len(),
                max: limits.max_name_len,
            });
        }
        let adapter = &self.0.ns.adapter;
        let room = Room::from(room);
        if adapter.room_count(&self.0.id) >= limits.max_rooms && !adapter.is_in(&self.0.id, &room) {
            return Err(JoinError::TooManyRooms {
                max: limits.max_rooms,
            });
        }
        adapter.join(&self.0.id, &[room]);
        Ok(())
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) {
        self.0.ns.adapter.leave(&self.0.id, &Room::from(room));
    }

    /// The rooms this socket is in (its own id included).
    #[must_use]
    pub fn rooms(&self) -> Vec<String> {
        self.0
            .ns
            .adapter
            .rooms_of(&self.0.id)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A broadcast to `room`, without this socket.
    pub fn to(&self, room: impl Into<String>) -> Broadcast {
        self.broadcast().to(room)
    }

    /// A broadcast to the whole namespace, without this socket.
    pub fn broadcast(&self) -> Broadcast {
        Broadcast::new(Arc::clone(&self.0.ns)).excluding(&self.0.id)
    }

    /// Leaves the namespace: sends DISCONNECT and ends the socket with `server namespace
    /// disconnect`. The connection stays open for other namespaces.
    pub fn disconnect(&self) {
        if self.connected() {
            let _ = self.send_packet(Packet::Disconnect {
                ns: self.namespace(),
            });
            self.close_with_reason("server namespace disconnect");
        }
    }

    /// Ends the socket: the disconnect handler runs, rooms are left, pending acks fail.
    pub(crate) fn close_with_reason(&self, reason: &str) {
        self.0.closed.store(true, Ordering::Release);
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(ns = %self.0.ns.name, id = %self.0.id, reason, "socket disconnected");
        if let Some(pid) = self.pid()
            && RECOVERABLE.contains(&reason)
            && self.0.ns.adapter.supports_recovery()
        {
            let rooms = self.0.ns.adapter.rooms_of(&self.0.id);
            let data = self.0.data.get().map_or_else(
                || serde_json::Value::Object(serde_json::Map::new()),
                |d| lock(d).clone(),
            );
            self.0.ns.adapter.persist_session(Session::new(
                pid.to_string(),
                self.0.id.clone(),
                rooms,
                data,
            ));
        }
        lock(&self.0.acks).clear();
        let handler = lock(&self.0.on_disconnect).take();
        if let Some(h) = handler {
            h(self.clone(), reason.to_owned());
        }
        self.0.ns.remove(self);
    }

    /// Whether the socket has ended (it may emit before its CONNECT reply, from middlewares).
    pub(crate) fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_connected(&self) {
        self.0.connected.store(true, Ordering::Release);
    }

    /// A packet from the client reached this socket ([`super::NsStats`]).
    pub(crate) fn count_received(&self) {
        self.0.ns.count_received();
    }

    pub(crate) fn namespace(&self) -> Namespace {
        self.0.ns.namespace.clone()
    }

    pub(crate) fn send_packet(&self, packet: Packet) -> Result<(), EmitError> {
        if self.is_closed() {
            return Err(EmitError::Closed);
        }
        self.send_encoded(&packet.encode(), false);
        Ok(())
    }

    /// Queues an encoded packet; one without attachments needs no vector of frames.
    pub(crate) fn send_encoded(&self, encoded: &Encoded, volatile: bool) {
        let mut frames = encoded.frames();
        if frames.len() == 1
            && let Some(frame) = frames.next()
        {
            self.send_frames(std::slice::from_ref(&frame), volatile);
        } else {
            let frames: Vec<Frame> = frames.collect();
            self.send_frames(&frames, volatile);
        }
    }

    /// Queues encoded frames. A full queue drops a volatile packet and closes the connection
    /// otherwise (the slow-client policy: never block others, never grow without bound).
    pub(crate) fn send_frames(&self, frames: &[Frame], volatile: bool) {
        match self.0.engine.send_group(frames) {
            Ok(()) => self.0.ns.count_sent(),
            Err(SocketSendError::Closed) => {}
            Err(SocketSendError::Full) if volatile => {}
            Err(_) => {
                tracing::debug!(id = %self.0.id, "outgoing queue full, closing slow client");
                self.0.engine.close();
            }
        }
    }
}

/// Answers one event's acknowledgement request. Consumed by the first answer.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: AckId,
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: AckId) -> Self {
        Self { socket, id }
    }

    /// Acknowledges; `args` maps to arguments as in [`Socket::emit`].
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the data does not serialise or the socket is gone.
    pub fn send<T: Serialize + ?Sized>(self, args: &T) -> Result<(), EmitError> {
        if self.socket.is_closed() {
            return Err(EmitError::Closed);
        }
        let encoded = Encoded::ack(&self.socket.namespace(), self.id, args)?;
        self.socket.send_encoded(&encoded, false);
        Ok(())
    }

    /// Acknowledges with these arguments (as received, attachments included).
    ///
    /// # Errors
    ///
    /// [`EmitError::Closed`] when the socket is gone.
    pub fn send_args(self, args: &Args) -> Result<(), EmitError> {
        self.send_payload(args.to_ack_payload())
    }

    fn send_payload(self, data: Payload) -> Result<(), EmitError> {
        let ns = self.socket.namespace();
        self.socket.send_packet(Packet::Ack {
            ns,
            data,
            id: self.id,
        })
    }
}

impl LocalSocket for Socket {
    fn id(&self) -> &SocketId {
        &self.0.id
    }

    fn send(&self, frames: &[Frame], volatile: bool) {
        self.send_frames(frames, volatile);
    }

    fn register_ack(&self, id: AckId, callback: AckCallback) {
        lock(&self.0.acks).insert(id.0, AckSlot::Callback(callback));
    }

    fn disconnect(&self) {
        Self::disconnect(self);
    }

    fn close(&self) {
        Self::disconnect(self);
        self.0.engine.close();
    }

    fn forget_ack(&self, id: AckId) {
        Self::forget_ack(self, id);
    }

    fn handshake(&self) -> serde_json::Value {
        handshake_json(&self.0.handshake, &self.0.auth)
    }

    fn data(&self) -> serde_json::Value {
        Self::data(self).clone()
    }
}

/// The handshake as Node's `socket.handshake` describes it, for other nodes' `fetchSockets`
/// (`time`, a JS `Date.toString()` text, is left out; `issued` is in ms since the epoch).
fn handshake_json(h: &Handshake, auth: &serde_json::Value) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = h
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.into())))
        .collect();
    let query: serde_json::Map<String, serde_json::Value> = h
        .query()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), serde_json::Value::from(v))
        })
        .collect();
    serde_json::json!({
        "headers": headers,
        "address": h.remote_addr.map(|a| a.ip().to_string()),
        "xdomain": h.headers.contains_key(http::header::ORIGIN),
        "secure": false,
        "issued": h
            .issued
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        "url": h.uri.to_string(),
        "query": query,
        "auth": auth,
    })
}
