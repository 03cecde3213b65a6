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
    Adapter, AdapterError, BroadcastFlags, BroadcastOptions, Room, SocketId, SocketInfo,
};
use socketio_proto::{AckId, Namespace, Packet, Payload, is_reserved_event};

use super::args::Args;
use super::socket::{AckError, EmitError, RoomLimits, Socket};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Middleware =
    Arc<dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;

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
            room_limits,
        }
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

    /// A broadcast to everyone in the namespace.
    pub fn broadcast(&self) -> Broadcast {
        Broadcast::new(Arc::clone(&self.0))
    }

    /// A broadcast to room `room`.
    pub fn to(&self, room: impl Into<String>) -> Broadcast {
        self.broadcast().to(room)
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
                    None => break,
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
