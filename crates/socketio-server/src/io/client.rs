//! One Engine.IO connection seen from Socket.IO: the packet decoder and the namespace sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use engineio_proto::{CloseReason, Frame, Message};
use socketio_adapter::{RecoveredSession, Room, SocketId};
use socketio_proto::{Decoder, Encoded, Namespace, PacketBuf, PacketType, Payload};

use super::IoInner;
use super::args::Args;
use super::ns::{ConnectError, NsInner};
use super::socket::{AckSender, Socket, SocketState};
use crate::engine::{Connection, EngineHandler, EngineSocket, Handshake, Tasks};

/// The Socket.IO side of the engine: creates one [`IoConnection`] per Engine.IO session.
pub struct IoHandler {
    io: Arc<IoInner>,
}

impl std::fmt::Debug for IoHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoHandler").finish_non_exhaustive()
    }
}

impl IoHandler {
    pub(crate) fn new(io: Arc<IoInner>) -> Self {
        Self { io }
    }
}

/// Sockets of one connection by namespace, shared with the connect tasks.
type SocketMap = Arc<Mutex<HashMap<String, Slot>>>;

#[derive(Clone)]
enum Slot {
    /// Middlewares are running.
    Connecting,
    Connected(Socket),
}

/// Per-connection state the connect tasks update.
#[derive(Default)]
struct ConnFlags {
    /// A namespace was joined (the connect timeout no longer applies).
    joined: AtomicBool,
    /// CONNECTs refused so far (`max_connect_refusals`).
    refusals: AtomicU32,
}

/// One Engine.IO connection's Socket.IO state.
pub struct IoConnection {
    io: Arc<IoInner>,
    engine: EngineSocket,
    handshake: Arc<Handshake>,
    decoder: Decoder,
    sockets: SocketMap,
    /// Shared with the connect tasks (one allocation for both counters).
    flags: Arc<ConnFlags>,
    /// Until a namespace is joined: when the connection is closed for joining none.
    connect_deadline: Option<tokio::time::Instant>,
    /// While a binary packet is being reassembled: when its attachments must all be in.
    partial_deadline: Option<tokio::time::Instant>,
}

impl std::fmt::Debug for IoConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoConnection")
            .field("sid", &self.engine.sid())
            .finish_non_exhaustive()
    }
}

impl EngineHandler for IoHandler {
    type Connection = IoConnection;

    fn on_open(
        &self,
        socket: EngineSocket,
        handshake: Handshake,
        tasks: &mut Tasks,
    ) -> IoConnection {
        let _ = tasks;
        IoConnection {
            io: Arc::clone(&self.io),
            engine: socket,
            handshake: Arc::new(handshake),
            decoder: Decoder::new(self.io.config.decode_limits),
            sockets: Arc::new(Mutex::new(HashMap::new())),
            flags: Arc::new(ConnFlags::default()),
            // Close connections that join no namespace in time (`connectTimeout`); not
            // re-armed when they later leave every namespace.
            connect_deadline: Some(tokio::time::Instant::now() + self.io.config.connect_timeout),
            partial_deadline: None,
        }
    }
}

/// A fresh socket id: 120 random bits, 20 URL-safe characters (never the Engine.IO sid).
fn socket_id() -> SocketId {
    let mut raw = [0u8; 15];
    let _ = getrandom::fill(&mut raw);
    SocketId::from(base64_simd::URL_SAFE_NO_PAD.encode_to_string(raw))
}

/// A fresh private session id for connection state recovery: 144 random bits, 24 URL-safe
/// characters. It is a bearer secret: never logged, never the socket id or the Engine.IO sid.
fn private_session_id() -> String {
    let mut raw = [0u8; 18];
    let _ = getrandom::fill(&mut raw);
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(raw)
}

/// The `pid` and `offset` strings a reconnecting client puts into its CONNECT payload.
fn recovery_claim(auth: &serde_json::Value) -> Option<(&str, &str)> {
    let pid = auth.get("pid")?.as_str()?;
    let offset = auth.get("offset")?.as_str()?;
    Some((pid, offset))
}

impl IoConnection {
    fn slot(&self, ns: &str) -> Option<Slot> {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ns)
            .cloned()
    }

    /// Acts on a complete packet. It is read in place: the namespace is looked up by its
    /// text, and only a CONNECT builds a [`Namespace`] value.
    fn dispatch(&mut self, packet: PacketBuf, tasks: &mut Tasks) {
        let slot = self.slot(packet.ns());
        if let Some(Slot::Connected(socket)) = &slot {
            socket.count_received();
        }
        match (slot, packet.packet_type()) {
            (None, PacketType::Connect) => {
                let ns = packet.namespace();
                self.connect(ns, packet.into_payload(), tasks);
            }
            (Some(Slot::Connected(socket)), PacketType::Event | PacketType::BinaryEvent) => {
                let ack = packet.ack_id();
                let Some(args) = packet.into_payload().and_then(Args::of_event) else {
                    self.engine.close();
                    return;
                };
                let ack = ack.map(|id| AckSender::new(socket.clone(), id));
                if let Some(task) = socket.dispatch(args, ack) {
                    tasks.spawn_boxed(task);
                }
            }
            (Some(Slot::Connected(socket)), PacketType::Ack | PacketType::BinaryAck) => {
                // The decoder refuses an ACK without an id.
                let Some(id) = packet.ack_id() else {
                    self.engine.close();
                    return;
                };
                match packet.into_payload().and_then(Args::of_ack) {
                    Some(args) => socket.on_ack(id, args),
                    None => self.engine.close(),
                }
            }
            (Some(Slot::Connected(socket)), PacketType::Disconnect) => {
                self.sockets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(socket.ns());
                socket.close_with_reason("client namespace disconnect");
            }
            // A second CONNECT, a packet for a namespace not joined, a CONNECT_ERROR from the
            // client: the reference closes the whole connection.
            _ => self.engine.close(),
        }
    }

    fn connect(&mut self, ns: Namespace, auth: Option<Payload>, tasks: &mut Tasks) {
        let name = ns.as_str().to_owned();
        let auth = match auth {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(p) => match serde_json::from_str(p.json()) {
                Ok(auth) => auth,
                Err(e) => {
                    // The decoder checks the shape only; JSON nested past serde_json's
                    // recursion limit fails here (D8).
                    tracing::debug!(%e, "connect payload does not parse, closing");
                    self.engine.close();
                    return;
                }
            },
        };
        let Some((nsp, created)) = self.io.resolve(&ns, &auth) else {
            let packet = ConnectError::new("Invalid namespace").to_packet(ns);
            let frames: Vec<Frame> = packet.encode().frames().collect();
            let _ = self.engine.send_group(&frames);
            refused(
                &self.flags.refusals,
                self.io.config.max_connect_refusals,
                &self.engine,
            );
            return;
        };
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone(), Slot::Connecting);
        let handshake = Arc::clone(&self.handshake);
        let middlewares = nsp
            .middlewares
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (sockets, flags, engine, io) = (
            Arc::clone(&self.sockets),
            Arc::clone(&self.flags),
            self.engine.clone(),
            Arc::clone(&self.io),
        );
        tasks.spawn(async move {
            let csr = io.config.connection_state_recovery;
            let recovering = csr.is_some() && nsp.adapter.supports_recovery();
            let mut restored = None;
            if recovering && let Some((pid, offset)) = recovery_claim(&auth) {
                match nsp.adapter.restore_session(pid, offset).await {
                    Ok(r) => restored = r,
                    Err(e) => tracing::debug!(%e, "session not restored"),
                }
            }
            let state = match &restored {
                Some(r) => SocketState {
                    pid: Some(r.session.pid.clone()),
                    recovered: true,
                    data: Some(r.session.data.clone()),
                },
                None => SocketState {
                    pid: csr.map(|_| private_session_id()),
                    recovered: false,
                    data: None,
                },
            };
            let id = restored
                .as_ref()
                .map_or_else(socket_id, |r| r.session.sid.clone());
            let socket = Socket::new(id, Arc::clone(&nsp), engine.clone(), handshake, auth, state);
            let skip = restored.is_some() && csr.is_some_and(|c| c.skip_middlewares);
            let middlewares = if skip { Vec::new() } else { middlewares };
            for m in middlewares {
                if let Err(e) = m(socket.clone()).await {
                    sockets
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&name);
                    let frames: Vec<Frame> = e.to_packet(ns).encode().frames().collect();
                    let _ = engine.send_group(&frames);
                    if created {
                        io.remove_child_if_empty(&nsp);
                    }
                    refused(&flags.refusals, io.config.max_connect_refusals, &engine);
                    return;
                }
            }
            if engine.is_closed() {
                if let Some(r) = restored {
                    // Gone again before the reply: keep the session for the next attempt.
                    nsp.adapter.persist_session(r.session);
                }
                if created {
                    io.remove_child_if_empty(&nsp);
                }
                return;
            }
            finish_connect(&nsp, &socket, &sockets, &name, ns, restored);
            flags.joined.store(true, Ordering::Release);
            (nsp.on_connect)(socket);
        });
    }
}

/// Counts a refused CONNECT; at `max` refusals the connection is closed (D5).
fn refused(count: &AtomicU32, max: usize, engine: &EngineSocket) {
    let n = count.fetch_add(1, Ordering::AcqRel).saturating_add(1);
    if usize::try_from(n).unwrap_or(usize::MAX) >= max {
        tracing::debug!(sid = ?engine.sid(), "too many refused connects, closing");
        engine.close();
    }
}

fn finish_connect(
    nsp: &NsInner,
    socket: &Socket,
    sockets: &SocketMap,
    name: &str,
    ns: Namespace,
    restored: Option<RecoveredSession>,
) {
    socket.mark_connected();
    tracing::debug!(
        ns = name,
        id = socket.id(),
        recovered = restored.is_some(),
        "socket connected"
    );
    nsp.add(socket);
    if let Some(r) = restored {
        // Rooms back, then the missed packets, then the CONNECT reply, as the reference does.
        let rooms: Vec<Room> = r.session.rooms;
        nsp.adapter.join(socket.socket_id(), &rooms);
        for packet in r.missed {
            let _ = socket.send_packet(packet);
        }
    }
    sockets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_owned(), Slot::Connected(socket.clone()));
    // Encoded at once (one buffer), not built as a `Packet` and then encoded.
    let reply = match socket.pid() {
        Some(pid) => Encoded::connect_ok_with_pid(&ns, socket.id(), pid),
        None => Encoded::connect_ok(&ns, socket.id()),
    };
    if !socket.is_closed() {
        socket.send_encoded(&reply, false);
    }
}

impl Connection for IoConnection {
    fn on_message(&mut self, msg: Message, tasks: &mut Tasks) {
        let was_partial = self.decoder.awaiting_attachments() > 0;
        let decoded = match msg {
            Message::Text(t) => self.decoder.read_text(t),
            Message::Binary(b) => self.decoder.read_binary(b),
            _ => return,
        };
        match decoded {
            Ok(Some(packet)) => self.dispatch(packet, tasks),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(sid = ?self.engine.sid(), %e, "socket.io decode error, closing");
                self.engine.close();
            }
        }
        // Bound the wait for a binary packet's attachments (`attachment_timeout`).
        let partial = self.decoder.awaiting_attachments() > 0;
        if partial != was_partial {
            self.partial_deadline =
                partial.then(|| tokio::time::Instant::now() + self.io.config.attachment_timeout);
        }
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        let connect = self
            .connect_deadline
            .filter(|_| !self.flags.joined.load(Ordering::Acquire));
        [connect, self.partial_deadline].into_iter().flatten().min()
    }

    fn on_deadline(&mut self, _tasks: &mut Tasks) {
        let now = tokio::time::Instant::now();
        if self.connect_deadline.is_some_and(|d| d <= now) {
            self.connect_deadline = None;
            if !self.flags.joined.load(Ordering::Acquire) {
                tracing::debug!(sid = ?self.engine.sid(), "no namespace joined in time, closing");
                self.engine.close();
            }
        }
        if self.partial_deadline.is_some_and(|d| d <= now) {
            self.partial_deadline = None;
            tracing::debug!(sid = ?self.engine.sid(), "binary attachments timed out, closing");
            self.engine.close();
        }
    }

    fn on_close(&mut self, reason: &CloseReason) {
        let reason = reason.as_str();
        let slots: Vec<Slot> = self
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Slot::Connected(s) = slot {
                s.close_with_reason(reason);
            }
        }
    }
}
