//! Namespaces and broadcasts. Room membership and target selection live in the namespace's
//! [`Adapter`]; this module keeps the Socket handles and turns broadcasts into adapter calls.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use socketio_adapter::{
    Adapter, AdapterError, BroadcastFlags, BroadcastOptions, NamespaceHooks, Room, ServerAck,
    SocketId, SocketInfo,
};
use socketio_proto::{AckId, Namespace, Packet, Payload, is_reserved_event};

use super::args::Args;
use super::socket::{AckError, EmitError, RoomLimits, Socket};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Middleware =
    Arc<dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
type ServerSideHandler = Arc<dyn Fn(Args, Option<ServerAckSender>) -> BoxFuture<()> + Send + Sync>;

/// A namespace middleware's refusal: sent to the client as CONNECT_ERROR
/// `{"message":…,"data":…}`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectError {
    /// The message.
    pub message: String,
    /// Optional details.
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// A refusal with a message.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds details.
    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn to_packet(&self, ns: Namespace) -> Packet {
        let with_data = self
            .data
            .as_ref()
            .map(|d| Packet::connect_error_with_data(ns.clone(), &self.message, d));
        match with_data {
            Some(Ok(p)) => p,
            // A `serde_json::Value` always serialises; fall back to the message alone.
            Some(Err(_)) | None => Packet::connect_error(ns, &self.message),
        }
    }
}

pub(crate) struct NsInner {
    pub(crate) name: String,
    pub(crate) namespace: Namespace,
    pub(crate) on_connect: Box<dyn Fn(Socket) + Send + Sync>,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
    pub(crate) adapter: Arc<dyn Adapter>,
    /// Handles of this node's sockets, for lookups by id; membership is the adapter's.
    sockets: RwLock<HashMap<SocketId, Socket>>,
    /// One ack-id counter per namespace, shared by its sockets, as in the reference.
    next_ack: AtomicU64,
    /// The dynamic namespace that created this one, if any.
    parent: std::sync::OnceLock<std::sync::Weak<super::ParentInner>>,
    /// Packets received from and queued for this namespace's sockets ([`Nsp::stats`]).
    received: AtomicU64,
    sent: AtomicU64,
    /// Handlers of events other servers send with `serverSideEmit`.
    server_side: RwLock<HashMap<String, ServerSideHandler>>,
    /// The caps of `Socket::try_join` (kept here, not in every socket).
    pub(crate) room_limits: RoomLimits,
}

impl NsInner {
    pub(crate) fn new(
        namespace: Namespace,
        adapter: Arc<dyn Adapter>,
        on_connect: Box<dyn Fn(Socket) + Send + Sync>,
        room_limits: RoomLimits,
    ) -> Self {
        Self {
            name: namespace.as_str().to_owned(),
            namespace,
            on_connect,
            middlewares: RwLock::new(Vec::new()),
            adapter,
            sockets: RwLock::new(HashMap::new()),
            next_ack: AtomicU64::new(0),
            parent: std::sync::OnceLock::new(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            server_side: RwLock::new(HashMap::new()),
            room_limits,
        }
    }

    /// A packet from one of this namespace's sockets was dispatched.
    pub(crate) fn count_received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet was queued for one of this namespace's sockets.
    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A namespace whose adapter has been handed the namespace's hooks.
    pub(crate) fn create(
        namespace: Namespace,
        adapter: Arc<dyn Adapter>,
        on_connect: Box<dyn Fn(Socket) + Send + Sync>,
        room_limits: RoomLimits,
    ) -> Arc<Self> {
        let ns = Arc::new(Self::new(namespace, adapter, on_connect, room_limits));
        let weak = Arc::downgrade(&ns);
        let hooks: std::sync::Weak<dyn NamespaceHooks> = weak;
        ns.adapter.bind(hooks);
        ns
    }

    pub(crate) fn set_parent(&self, parent: std::sync::Weak<super::ParentInner>) {
        let _ = self.parent.set(parent);
    }

    pub(crate) fn parent(&self) -> Option<Arc<super::ParentInner>> {
        self.parent.get().and_then(std::sync::Weak::upgrade)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sockets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    pub(crate) fn next_ack(&self) -> AckId {
        AckId(self.next_ack.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers a connected socket with the adapter (it joins its own room).
    pub(crate) fn add(&self, s: &Socket) {
        self.sockets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(s.socket_id().clone(), s.clone());
        self.adapter.add_socket(Arc::new(s.clone()));
    }

    pub(crate) fn remove(&self, s: &Socket) {
        self.sockets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(s.socket_id());
        self.adapter.remove_socket(s.socket_id());
        if self.is_empty()
            && let Some(parent) = self.parent()
        {
            parent.on_child_empty(self);
        }
    }

    pub(crate) fn all_sockets(&self) -> Vec<Socket> {
        self.sockets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn socket(&self, id: &str) -> Option<Socket> {
        self.sockets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

/// Traffic counters of one namespace on this node, from its registration on
/// ([`Nsp::stats`]). Sample them twice to get rates.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct NsStats {
    /// Socket.IO packets received from the namespace's connected sockets (events,
    /// acknowledgements, disconnects; a binary packet counts once, attachments included).
    pub packets_received: u64,
    /// Socket.IO packets queued for the namespace's sockets: one per recipient (a broadcast
    /// to ten sockets counts ten), connect replies included; a volatile packet dropped for a
    /// slow client does not count.
    pub packets_sent: u64,
}

impl NamespaceHooks for NsInner {
    fn next_ack_id(&self) -> AckId {
        self.next_ack()
    }

    fn server_side_emit(&self, data: Payload, ack: Option<ServerAck>) {
        let Some(args) = Args::of_event(data) else {
            tracing::debug!(ns = %self.name, "server-side emit without an event name ignored");
            return;
        };
        let name = args
            .event_name()
            .map(|n| n.into_owned())
            .unwrap_or_default();
        let handler = self
            .server_side
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned();
        let Some(handler) = handler else {
            tracing::debug!(ns = %self.name, event = %name, "no handler for a server-side emit");
            return;
        };
        let ack = ack.map(|f| ServerAckSender {
            ns: self.namespace.clone(),
            f,
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(handler(args, ack));
        }
    }
}

/// Answers another server's `serverSideEmit` with acknowledgement. Consumed by the answer.
pub struct ServerAckSender {
    ns: Namespace,
    f: ServerAck,
}

impl std::fmt::Debug for ServerAckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAckSender").finish_non_exhaustive()
    }
}

impl ServerAckSender {
    /// Answers; `args` maps to arguments as in [`Socket::emit`] (the classic Redis protocol
    /// carries the first argument, as JSON).
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the data does not serialise.
    pub fn send<T: Serialize + ?Sized>(self, args: &T) -> Result<(), EmitError> {
        let packet = Packet::ack(self.ns, AckId(0), args)?;
        if let Some(data) = packet.payload() {
            (self.f)(data.clone());
        }
        Ok(())
    }
}

/// A namespace handle: middlewares, broadcasts, socket lookup.
#[derive(Clone)]
pub struct Nsp(pub(crate) Arc<NsInner>);

impl std::fmt::Debug for Nsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Nsp").field(&self.0.name).finish()
    }
}

impl Nsp {
    /// The namespace name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Adds a connect middleware: it runs, in registration order, before a socket joins;
    /// an `Err` refuses the join with a CONNECT_ERROR carrying its message and data.
    pub fn use_middleware<F, Fut>(&self, f: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let m: Middleware = Arc::new(move |s| Box::pin(f(s)));
        self.0
            .middlewares
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(m);
        self
    }

    /// The connected sockets of this node.
    #[must_use]
    pub fn sockets(&self) -> Vec<Socket> {
        self.0.all_sockets()
    }

    /// The socket with this id.
    #[must_use]
    pub fn socket(&self, id: &str) -> Option<Socket> {
        self.0.socket(id)
    }

    /// The packet counters of this namespace on this node (two relaxed atomic loads).
    #[must_use]
    pub fn stats(&self) -> NsStats {
        NsStats {
            packets_received: self.0.received.load(Ordering::Relaxed),
            packets_sent: self.0.sent.load(Ordering::Relaxed),
        }
    }

    /// A broadcast to everyone in the namespace.
    pub fn broadcast(&self) -> Broadcast {
        Broadcast::new(Arc::clone(&self.0))
    }

    /// A broadcast to room `room`.
    pub fn to(&self, room: impl Into<String>) -> Broadcast {
        self.broadcast().to(room)
    }

    /// Every room with at least one member, on every node (`allRooms`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes do not answer in time.
    pub async fn all_rooms(&self) -> Result<Vec<String>, AdapterError> {
        let rooms = self.0.adapter.all_rooms().await?;
        Ok(rooms.iter().map(ToString::to_string).collect())
    }

    /// Number of servers serving this namespace (1 without a cluster adapter).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when the cluster cannot be asked.
    pub async fn server_count(&self) -> Result<usize, AdapterError> {
        self.0.adapter.server_count().await
    }

    /// A handle on a socket found by [`Broadcast::fetch_sockets`], on this node or another:
    /// emit to it, make it join or leave rooms, disconnect it.
    #[must_use]
    pub fn remote_socket(&self, info: &SocketInfo) -> RemoteSocket {
        RemoteSocket {
            info: info.clone(),
            target: self.to(info.id.as_str()),
        }
    }

    /// Registers the handler of `event` sent by other servers of the cluster with
    /// [`Nsp::server_side_emit`] (or Node's `io.serverSideEmit`). The handler gets the
    /// arguments and, when the sender waits for an answer, a [`ServerAckSender`].
    pub fn on_server_side<F, Fut>(&self, event: &str, handler: F) -> &Self
    where
        F: Fn(Args, Option<ServerAckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: ServerSideHandler = Arc::new(move |a, ack| Box::pin(handler(a, ack)));
        self.0
            .server_side
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(event.to_owned(), h);
        self
    }

    /// Sends `event` (arguments as in [`Socket::emit`]) to this namespace on every other server
    /// of the cluster (`serverSideEmit`); this server's own handlers do not run. With the
    /// in-memory adapter there is nobody to send to.
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the name is reserved, the data does not serialise, or the adapter
    /// cannot reach other nodes.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        let packet = Packet::event(self.0.namespace.clone(), event, args, None)?;
        let data = packet.payload().cloned().unwrap_or_default();
        self.0
            .adapter
            .server_side_emit(&data)
            .map_err(EmitError::Adapter)
    }

    /// As [`Nsp::server_side_emit`], and waits for one answer per other server, at most
    /// `timeout` (the adapter's request timeout when `None`).
    ///
    /// # Errors
    ///
    /// [`AckError::Timeout`] with the answers received when not every server answered in time
    /// (or the cluster could not be reached), [`AckError::Emit`] when the emit itself failed.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Option<Duration>,
    ) -> Result<Vec<Args>, AckError> {
        let packet = Packet::event(self.0.namespace.clone(), event, args, None)
            .map_err(|e| AckError::Emit(e.into()))?;
        let data = packet.payload().cloned().unwrap_or_default();
        match self
            .0
            .adapter
            .server_side_emit_with_ack(&data, timeout)
            .await
        {
            Ok(replies) => Ok(replies.into_iter().filter_map(Args::of_ack).collect()),
            Err(partial) => Err(AckError::Timeout(
                partial
                    .replies
                    .into_iter()
                    .filter_map(Args::of_ack)
                    .collect(),
            )),
        }
    }

    /// Emits to every socket of the namespace (arguments as in [`Socket::emit`]).
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the data cannot be serialised or the event name is reserved.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.broadcast().emit(event, args)
    }
}

/// A socket of any node of the cluster, as [`Broadcast::fetch_sockets`] found it (Node's
/// `RemoteSocket`). Operations go through the adapter to the node that holds the socket.
#[derive(Clone, Debug)]
pub struct RemoteSocket {
    info: SocketInfo,
    target: Broadcast,
}

impl RemoteSocket {
    /// The socket id.
    #[must_use]
    pub fn id(&self) -> &str {
        self.info.id.as_str()
    }

    /// What its node reported: rooms, handshake and data.
    #[must_use]
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    /// Emits `event` to this socket (arguments as in [`Socket::emit`]).
    ///
    /// # Errors
    ///
    /// As [`Broadcast::emit`].
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.target.emit(event, args)
    }

    /// Makes the socket join `room`.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn join(&self, room: &str) -> Result<(), AdapterError> {
        self.target.join(room).await
    }

    /// Makes the socket leave `room`.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn leave(&self, room: &str) -> Result<(), AdapterError> {
        self.target.leave(room).await
    }

    /// Disconnects the socket from the namespace.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn disconnect(&self) -> Result<(), AdapterError> {
        self.target.disconnect().await
    }

    /// Disconnects the socket and closes its connection (`disconnect(true)`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn close(&self) -> Result<(), AdapterError> {
        self.target.close().await
    }
}

/// A broadcast under construction: targets, flags, then an operation. Every operation goes
/// through the namespace's adapter, so it reaches the whole cluster unless [`Broadcast::local`].
#[derive(Clone)]
#[must_use]
pub struct Broadcast {
    ns: Arc<NsInner>,
    opts: BroadcastOptions,
}

impl std::fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("ns", &self.ns.name)
            .field("opts", &self.opts)
            .finish()
    }
}

impl Broadcast {
    pub(crate) fn new(ns: Arc<NsInner>) -> Self {
        Self {
            ns,
            opts: BroadcastOptions::new(),
        }
    }

    /// Excludes a socket (by its own room), as `socket.to(...)` does for the sender.
    pub(crate) fn excluding(self, id: &SocketId) -> Self {
        self.except(id.as_str())
    }

    /// Adds a target room (several rooms: their union, each socket once).
    pub fn to(mut self, room: impl Into<String>) -> Self {
        self.opts.rooms.push(Room::from(room.into()));
        self
    }

    /// Excludes the members of a room.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        self.opts.except.push(Room::from(room.into()));
        self
    }

    /// Drops the packet for sockets that cannot take it right now instead of queueing it.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// This node only: the adapter does not forward the operation to other nodes.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Accepted for API parity; compression is not negotiated.
    pub fn compress(self, _compress: bool) -> Self {
        self
    }

    /// The time to wait for acknowledgements in [`Broadcast::emit_with_ack`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// The flags set so far.
    #[must_use]
    pub fn flags(&self) -> BroadcastFlags {
        self.opts.flags
    }

    /// The selected sockets of this node.
    #[must_use]
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns
            .adapter
            .local_sockets(&self.opts)
            .iter()
            .filter_map(|s| self.ns.socket(s.id().as_str()))
            .collect()
    }

    /// The selected sockets of every node (`fetchSockets`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes do not answer in time.
    pub async fn fetch_sockets(&self) -> Result<Vec<SocketInfo>, AdapterError> {
        self.ns.adapter.fetch_sockets(&self.opts).await
    }

    /// Makes every selected socket join `room` (`socketsJoin`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn join(&self, room: &str) -> Result<(), AdapterError> {
        self.ns
            .adapter
            .add_sockets(&self.opts, &[Room::from(room)])
            .await
    }

    /// Makes every selected socket leave `room` (`socketsLeave`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn leave(&self, room: &str) -> Result<(), AdapterError> {
        self.ns
            .adapter
            .del_sockets(&self.opts, &[Room::from(room)])
            .await
    }

    /// Disconnects every selected socket (`disconnectSockets`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn disconnect(&self) -> Result<(), AdapterError> {
        self.ns.adapter.disconnect_sockets(&self.opts).await
    }

    /// Disconnects every selected socket and closes its connection, other namespaces of that
    /// connection included (`disconnectSockets(true)`).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    pub async fn close(&self) -> Result<(), AdapterError> {
        self.ns.adapter.close_sockets(&self.opts).await
    }

    /// Emits `event` (arguments as in [`Socket::emit`]) to every selected socket. The packet
    /// is encoded once; every local recipient gets the same shared frames.
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the data cannot be serialised, the event name is reserved, or the
    /// adapter cannot reach other nodes (local delivery has happened).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        let packet = self.event_packet(event, args, None)?;
        self.ns
            .adapter
            .broadcast(&packet, &self.opts)
            .map_err(EmitError::Adapter)?;
        Ok(())
    }

    /// Emits already-built arguments (as received, attachments included) as `event`.
    ///
    /// # Errors
    ///
    /// As [`Broadcast::emit`].
    pub fn emit_args(&self, event: &str, args: &Args) -> Result<(), EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::Reserved(event.to_owned()));
        }
        let packet = Packet::Event {
            ns: self.ns.namespace.clone(),
            data: args.to_event_payload(event),
            ack: None,
        };
        self.ns
            .adapter
            .broadcast(&packet, &self.opts)
            .map_err(EmitError::Adapter)?;
        Ok(())
    }

    fn event_packet<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        ack: Option<AckId>,
    ) -> Result<Packet, EmitError> {
        Ok(Packet::event(self.ns.namespace.clone(), event, args, ack)?)
    }

    /// Emits with an acknowledgement request (arguments as in [`Socket::emit`]) and collects
    /// every reply. Resolves when every node reported its recipient count and every recipient
    /// answered, or at the timeout (5 s unless [`Broadcast::timeout`] was set) with
    /// [`AckError::Timeout`] carrying the partial replies. No recipient: `Ok` at once.
    ///
    /// # Errors
    ///
    /// [`AckError`] as above, or when the data cannot be serialised.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<Vec<Args>, AckError> {
        let id = self.ns.next_ack();
        let packet = self
            .event_packet(event, args, Some(id))
            .map_err(AckError::Emit)?;
        let servers = self.ns.adapter.server_count().await.unwrap_or(1).max(1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Tally>();
        let counts = tx.clone();
        let on_count = Arc::new(move |n| drop(counts.send(Tally::Count(n))));
        // Each recipient answers at most once (its ack entry is removed on the first reply).
        let replies = Mutex::new(tx);
        let on_ack = Arc::new(move |p: Payload| {
            let tx = replies.lock().unwrap_or_else(PoisonError::into_inner);
            drop(tx.send(Tally::Reply(p)));
        });
        self.ns
            .adapter
            .broadcast_with_ack(&packet, &self.opts, on_count, on_ack)
            .map_err(|e| AckError::Emit(EmitError::Adapter(e)))?;
        let (mut reported, mut expected) = (0, 0);
        let mut got = Vec::new();
        let deadline =
            tokio::time::sleep(self.opts.flags.timeout.unwrap_or(Duration::from_secs(5)));
        tokio::pin!(deadline);
        while reported < servers || got.len() < expected {
            tokio::select! {
                t = rx.recv() => match t {
                    Some(Tally::Count(n)) => { reported += 1; expected += n; }
                    Some(Tally::Reply(p)) => got.extend(Args::of_ack(p)),
                    // Every callback is gone (the adapter gave up on the missing answers):
                    // nothing more can come, so this is the timeout's result, early.
                    None => {
                        for s in self.sockets() {
                            s.forget_ack(id);
                        }
                        return Err(AckError::Timeout(got));
                    }
                },
                () = &mut deadline => {
                    for s in self.sockets() {
                        s.forget_ack(id);
                    }
                    return Err(AckError::Timeout(got));
                }
            }
        }
        Ok(got)
    }
}

enum Tally {
    Count(usize),
    Reply(Payload),
}
