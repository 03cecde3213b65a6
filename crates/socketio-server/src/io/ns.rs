//! Namespaces, rooms (the in-memory adapter) and broadcasts.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use engineio_proto::Frame;
use serde::Serialize;
use socketio_proto::{AckId, Namespace, Packet, is_reserved_event};

use super::args::Args;
use super::socket::{AckError, EmitError, Socket, encode_event};

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
    pub(crate) on_connect: Box<dyn Fn(Socket) + Send + Sync>,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
    sockets: RwLock<HashMap<Arc<str>, Socket>>,
    rooms: RwLock<HashMap<String, HashSet<Arc<str>>>>,
    /// One ack-id counter per namespace, shared by its sockets, as in the reference.
    next_ack: AtomicU64,
}

impl NsInner {
    pub(crate) fn new(name: String, on_connect: Box<dyn Fn(Socket) + Send + Sync>) -> Self {
        Self {
            name,
            on_connect,
            middlewares: RwLock::new(Vec::new()),
            sockets: RwLock::new(HashMap::new()),
            rooms: RwLock::new(HashMap::new()),
            next_ack: AtomicU64::new(0),
        }
    }

    pub(crate) fn next_ack(&self) -> AckId {
        AckId(self.next_ack.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn add(&self, s: &Socket) {
        self.sockets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(s.id_arc(), s.clone());
        self.join(s, s.id());
    }

    pub(crate) fn remove(&self, s: &Socket) {
        self.sockets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(s.id());
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        for room in s.take_rooms() {
            if let Some(set) = rooms.get_mut(&room) {
                set.remove(s.id());
                if set.is_empty() {
                    rooms.remove(&room);
                }
            }
        }
    }

    pub(crate) fn join(&self, s: &Socket, room: &str) {
        if s.add_room(room) {
            self.rooms
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(room.to_owned())
                .or_default()
                .insert(s.id_arc());
        }
    }

    pub(crate) fn leave(&self, s: &Socket, room: &str) {
        if s.remove_room(room) {
            let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(set) = rooms.get_mut(room) {
                set.remove(s.id());
                if set.is_empty() {
                    rooms.remove(room);
                }
            }
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

    /// The sockets selected by rooms/except/exclude: each once.
    fn select(&self, rooms: &[String], except: &[String], exclude: Option<&str>) -> Vec<Socket> {
        let sockets = self.sockets.read().unwrap_or_else(PoisonError::into_inner);
        let room_map = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        let excluded: HashSet<&str> = except
            .iter()
            .filter_map(|r| room_map.get(r))
            .flat_map(|set| set.iter().map(AsRef::as_ref))
            .chain(exclude)
            .collect();
        let pick = |id: &str| {
            (!excluded.contains(id))
                .then(|| sockets.get(id).cloned())
                .flatten()
        };
        if rooms.is_empty() {
            return sockets.keys().filter_map(|id| pick(id)).collect();
        }
        let mut seen = HashSet::new();
        rooms
            .iter()
            .filter_map(|r| room_map.get(r))
            .flat_map(|set| set.iter())
            .filter(|id| seen.insert(Arc::clone(id)))
            .filter_map(|id| pick(id))
            .collect()
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

/// A broadcast under construction: targets, flags, then `emit`.
#[derive(Clone)]
#[must_use]
pub struct Broadcast {
    ns: Arc<NsInner>,
    rooms: Vec<String>,
    except: Vec<String>,
    exclude: Option<Arc<str>>,
    volatile: bool,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("ns", &self.ns.name)
            .field("rooms", &self.rooms)
            .finish_non_exhaustive()
    }
}

impl Broadcast {
    pub(crate) fn new(ns: Arc<NsInner>) -> Self {
        Self {
            ns,
            rooms: Vec::new(),
            except: Vec::new(),
            exclude: None,
            volatile: false,
            timeout: None,
        }
    }

    pub(crate) fn excluding(mut self, id: Arc<str>) -> Self {
        self.exclude = Some(id);
        self
    }

    /// Adds a target room (several rooms: their union, each socket once).
    pub fn to(mut self, room: impl Into<String>) -> Self {
        self.rooms.push(room.into());
        self
    }

    /// Excludes the members of a room.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        self.except.push(room.into());
        self
    }

    /// Drops the packet for sockets that cannot take it right now instead of queueing it.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// This node only (the in-memory adapter is always local; kept for API parity).
    pub fn local(self) -> Self {
        self
    }

    /// Accepted for API parity; compression is not negotiated.
    pub fn compress(self, _compress: bool) -> Self {
        self
    }

    /// The time to wait for acknowledgements in [`Broadcast::emit_with_ack`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The selected sockets.
    #[must_use]
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns
            .select(&self.rooms, &self.except, self.exclude.as_deref())
    }

    /// Makes every selected socket join `room`.
    pub fn join(&self, room: &str) {
        for s in self.sockets() {
            s.join(room);
        }
    }

    /// Makes every selected socket leave `room`.
    pub fn leave(&self, room: &str) {
        for s in self.sockets() {
            s.leave(room);
        }
    }

    /// Disconnects every selected socket.
    pub fn disconnect(&self) {
        for s in self.sockets() {
            s.disconnect();
        }
    }

    /// Emits `event` (arguments as in [`Socket::emit`]) to every selected socket. The packet
    /// is encoded once; every recipient gets the same shared frames.
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the data cannot be serialised or the event name is reserved.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        let frames = encode_event(&self.namespace(), event, args, None)?;
        self.send_to_all(&frames);
        Ok(())
    }

    /// Emits already-built arguments (as received, attachments included) as `event`.
    ///
    /// # Errors
    ///
    /// [`EmitError::Reserved`] for a reserved event name.
    pub fn emit_args(&self, event: &str, args: &Args) -> Result<(), EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::Reserved(event.to_owned()));
        }
        let data = args.to_event_payload(event);
        let frames: Vec<Frame> = Packet::Event {
            ns: self.namespace(),
            data,
            ack: None,
        }
        .encode()
        .frames()
        .collect();
        self.send_to_all(&frames);
        Ok(())
    }

    fn namespace(&self) -> Namespace {
        Namespace::new(self.ns.name.as_str()).unwrap_or_default()
    }

    /// Hands the same frames (shared buffers) to every selected socket.
    fn send_to_all(&self, frames: &[Frame]) -> Vec<Socket> {
        let targets = self.sockets();
        for s in &targets {
            s.send_frames(frames, self.volatile);
        }
        targets
    }

    /// Emits with an acknowledgement request (arguments as in [`Socket::emit`]) and collects
    /// every reply. Resolves when every selected socket answered, or at the timeout (5 s
    /// unless [`Broadcast::timeout`] was set) with [`AckError::Timeout`] carrying the partial
    /// replies.
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
        let frames =
            encode_event(&self.namespace(), event, args, Some(id)).map_err(AckError::Emit)?;
        let targets = self.sockets();
        let (tx, mut rx) = tokio::sync::mpsc::channel(targets.len().max(1));
        for s in &targets {
            s.register_ack_channel(id, tx.clone());
        }
        drop(tx);
        for s in &targets {
            s.send_frames(&frames, self.volatile);
        }
        let mut replies = Vec::with_capacity(targets.len());
        let deadline = tokio::time::sleep(self.timeout.unwrap_or(Duration::from_secs(5)));
        tokio::pin!(deadline);
        while replies.len() < targets.len() {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(a) => replies.push(a),
                    None => break,
                },
                () = &mut deadline => {
                    for s in &targets {
                        s.forget_ack(id);
                    }
                    return Err(AckError::Timeout(replies));
                }
            }
        }
        Ok(replies)
    }
}
