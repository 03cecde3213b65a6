//! The Socket.IO adapter: where room membership lives and through which every broadcast and
//! cluster-wide operation of a namespace goes.
//!
//! A server creates one [`Adapter`] per namespace and registers each of its connected sockets
//! as a [`LocalSocket`]. The in-memory [`InMemoryAdapter`] serves one node; a cluster adapter
//! (Redis) implements the same trait, forwards operations to the other nodes and applies the
//! ones it receives to its local sockets.
//!
//! Local operations are synchronous (a broadcast is fire-and-forget, as in the reference); the
//! ones that ask other nodes (`fetch_sockets`, `server_count`, `all_rooms`, ...) are async and
//! must always end: with a result, a partial result, or an error after the request timeout.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use engineio_proto::Frame;
//! use socketio_adapter::{Adapter, AckCallback, BroadcastOptions, InMemoryAdapter, LocalSocket, Room, SocketId};
//! use socketio_proto::{AckId, Namespace, Packet, Payload};
//!
//! #[derive(Default)]
//! struct Probe { id: SocketId, got: Mutex<Vec<Frame>> }
//! impl LocalSocket for Probe {
//!     fn id(&self) -> &SocketId { &self.id }
//!     fn send(&self, frames: &[Frame], _volatile: bool) { self.got.lock().unwrap().extend_from_slice(frames) }
//!     fn register_ack(&self, _: AckId, _: AckCallback) {}
//!     fn disconnect(&self) {}
//! }
//!
//! let adapter = InMemoryAdapter::new(Namespace::main());
//! let a = Arc::new(Probe { id: SocketId::from("a"), ..Default::default() });
//! let b = Arc::new(Probe { id: SocketId::from("b"), ..Default::default() });
//! adapter.add_socket(a.clone());
//! adapter.add_socket(b.clone());
//! adapter.join(&SocketId::from("a"), &[Room::from("lobby")]);
//! let packet = Packet::Event { ns: Namespace::main(), data: Payload::from_json(r#"["hi"]"#), ack: None };
//! let n = adapter.broadcast(&packet, &BroadcastOptions::new().to(Room::from("lobby"))).unwrap();
//! assert_eq!((n, a.got.lock().unwrap().len(), b.got.lock().unwrap().len()), (1, 1, 0));
//! ```

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod memory;
mod types;

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use engineio_proto::Frame;
use socketio_proto::{AckId, Packet, Payload};

pub use memory::{Clock, InMemoryAdapter, RecoveryConfig};
pub use types::{
    AdapterError, BroadcastFlags, BroadcastOptions, PartialReplies, RecoveredSession, Room,
    Session, SocketId, SocketInfo,
};

/// Called with each acknowledgement a socket receives for a broadcast.
pub type AckCallback = Arc<dyn Fn(Payload) + Send + Sync>;

/// Answers another server's `serverSideEmit` with acknowledgement: takes the reply's arguments
/// (`[arg, ...]`; the classic Redis protocol carries the first one). Called at most once.
pub type ServerAck = Box<dyn FnOnce(Payload) + Send>;

/// What only the namespace knows and a cluster adapter needs: handed to the adapter once, by
/// [`Adapter::bind`], right after the namespace created it.
pub trait NamespaceHooks: Send + Sync + 'static {
    /// A fresh acknowledgement id from the namespace's counter (the one its sockets' own acks
    /// use, so a broadcast with acks from another node cannot collide with them).
    fn next_ack_id(&self) -> AckId;
    /// Another server's `serverSideEmit`: `data` is `[event, args...]`; `ack` is set when the
    /// sender waits for an answer.
    fn server_side_emit(&self, data: Payload, ack: Option<ServerAck>);
}

/// A socket connected to this node, as the adapter sees it.
pub trait LocalSocket: Send + Sync + 'static {
    /// The socket id (also the name of its own room).
    fn id(&self) -> &SocketId;
    /// Queues encoded frames (shared buffers) for the client; `volatile` drops them instead
    /// of queueing when the client cannot take them now.
    fn send(&self, frames: &[Frame], volatile: bool);
    /// Routes the acknowledgement with `id` from this socket to `callback`.
    fn register_ack(&self, id: AckId, callback: AckCallback);
    /// Disconnects the socket from the namespace (`server namespace disconnect`).
    fn disconnect(&self);
    /// Disconnects the socket and closes its underlying connection (Node's
    /// `disconnect(true)`). The default only disconnects it from the namespace.
    fn close(&self) {
        self.disconnect();
    }
    /// Forgets the acknowledgement `id` if it is still pending (its wait is over). The default
    /// does nothing.
    fn forget_ack(&self, id: AckId) {
        let _ = id;
    }
    /// The handshake details other nodes see in `fetchSockets` (JSON: `headers`, `address`,
    /// `url`, `query`, `auth`, ...). The default is `null`.
    fn handshake(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// The application data other nodes see in `fetchSockets` (`socket.data`). The default is
    /// `null`.
    fn data(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The operations of one namespace that involve more than one socket.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// Registers a connected socket; it joins its own room.
    fn add_socket(&self, socket: Arc<dyn LocalSocket>);
    /// Unregisters a socket; it leaves every room.
    fn remove_socket(&self, id: &SocketId);
    /// Adds a local socket to rooms.
    fn join(&self, id: &SocketId, rooms: &[Room]);
    /// Removes a local socket from a room.
    fn leave(&self, id: &SocketId, room: &Room);
    /// The rooms of a local socket (its own room included).
    fn rooms_of(&self, id: &SocketId) -> Vec<Room>;
    /// The local sockets selected by `opts`, each once.
    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<Arc<dyn LocalSocket>>;

    /// How many rooms a local socket is in (its own room included). The default counts
    /// [`Adapter::rooms_of`]; an adapter that can answer without copying overrides it.
    fn room_count(&self, id: &SocketId) -> usize {
        self.rooms_of(id).len()
    }

    /// Whether a local socket is in `room`. The default searches [`Adapter::rooms_of`].
    fn is_in(&self, id: &SocketId, room: &Room) -> bool {
        self.rooms_of(id).contains(room)
    }

    /// Sends `packet` to every socket selected by `opts`, on every node unless
    /// `opts.flags.local`. Encodes once; recipients share the frames. Returns the number of
    /// local recipients.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when the packet cannot be handed to other nodes (local delivery has
    /// happened already).
    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) -> Result<usize, AdapterError>;

    /// As [`Adapter::broadcast`] for a packet carrying an ack id: `on_count` is called once
    /// per node with the number of clients it sent to, `on_ack` with every acknowledgement.
    /// The caller waits for [`Adapter::server_count`] counts and as many acks, or a timeout.
    ///
    /// # Errors
    ///
    /// As [`Adapter::broadcast`].
    fn broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_count: Arc<dyn Fn(usize) + Send + Sync>,
        on_ack: AckCallback,
    ) -> Result<(), AdapterError>;

    /// Makes the selected sockets join `rooms`, on every node unless local.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    async fn add_sockets(
        &self,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Result<(), AdapterError>;

    /// Makes the selected sockets leave `rooms`, on every node unless local.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    async fn del_sockets(
        &self,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Result<(), AdapterError>;

    /// Disconnects the selected sockets, on every node unless local.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    async fn disconnect_sockets(&self, opts: &BroadcastOptions) -> Result<(), AdapterError>;

    /// Disconnects the selected sockets and closes their connections (Node's
    /// `disconnectSockets(true)`), on every node unless local. The default closes the local
    /// ones only: a cluster adapter overrides it.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    async fn close_sockets(&self, opts: &BroadcastOptions) -> Result<(), AdapterError> {
        for s in self.local_sockets(opts) {
            s.close();
        }
        Ok(())
    }

    /// The selected sockets of every node (unless local).
    ///
    /// # Errors
    ///
    /// [`AdapterError::Timeout`] (with what arrived) when a node does not answer in time.
    async fn fetch_sockets(&self, opts: &BroadcastOptions)
    -> Result<Vec<SocketInfo>, AdapterError>;

    /// Every room with at least one member, on every node.
    ///
    /// # Errors
    ///
    /// As [`Adapter::fetch_sockets`].
    async fn all_rooms(&self) -> Result<Vec<Room>, AdapterError>;

    /// Number of nodes serving this namespace (1 for the in-memory adapter).
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when the cluster cannot be asked.
    async fn server_count(&self) -> Result<usize, AdapterError>;

    /// Receives the namespace's hooks, once, right after the namespace created the adapter. An
    /// adapter that serves one node needs none; the default ignores them.
    fn bind(&self, hooks: Weak<dyn NamespaceHooks>) {
        let _ = hooks;
    }

    /// Sends `data` (`[event, args...]`) to the namespace on every *other* server
    /// (`serverSideEmit`). The default (one node) has nobody to send to.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when other nodes cannot be reached.
    fn server_side_emit(&self, data: &Payload) -> Result<(), AdapterError> {
        let _ = data;
        Ok(())
    }

    /// As [`Adapter::server_side_emit`], and waits for one reply per other server, each as
    /// `[args...]`, for at most `timeout` (the adapter's request timeout when `None`). The
    /// default (one node) answers at once with no replies.
    ///
    /// # Errors
    ///
    /// [`PartialReplies`]: the error and the replies that arrived before it.
    async fn server_side_emit_with_ack(
        &self,
        data: &Payload,
        timeout: Option<Duration>,
    ) -> Result<Vec<Payload>, PartialReplies> {
        let _ = (data, timeout);
        Ok(Vec::new())
    }

    /// Whether this adapter keeps sessions and packets for connection state recovery. When it
    /// does, [`Adapter::broadcast`] appends an offset (a string, as the last argument) to
    /// every EVENT without ack that is not volatile and keeps the packet, and the server
    /// routes a socket's own emits through [`Adapter::broadcast`] too. The default is `false`.
    fn supports_recovery(&self) -> bool {
        false
    }

    /// Keeps a disconnected socket's state for recovery. The default keeps nothing.
    fn persist_session(&self, session: Session) {
        let _ = session;
    }

    /// Takes the session `pid` and the packets broadcast after `offset` that its rooms
    /// received. `Ok(None)` when the session is unknown or expired, or `offset` is not (or no
    /// longer) in the packet log: the client then gets a fresh socket. The default recovers
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`AdapterError`] when the store cannot be reached (the client gets a fresh socket).
    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RecoveredSession>, AdapterError> {
        let _ = (pid, offset);
        Ok(None)
    }
}
