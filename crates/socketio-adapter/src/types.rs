//! Identifiers, broadcast options and errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A socket id: 20 URL-safe characters, and the name of the socket's own room.
#[derive(Clone, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct SocketId(Arc<str>);

/// A room name.
#[derive(Clone, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Room(Arc<str>);

macro_rules! name_type {
    ($t:ident) => {
        impl $t {
            /// The name as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                Self(Arc::from(s))
            }
        }

        impl From<String> for $t {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }

        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(SocketId);
name_type!(Room);

impl From<&SocketId> for Room {
    /// A socket's own room.
    fn from(id: &SocketId) -> Self {
        Self(Arc::clone(&id.0))
    }
}

/// Per-broadcast flags.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct BroadcastFlags {
    /// Drop the packet for clients that cannot take it now.
    pub volatile: bool,
    /// This node only.
    pub local: bool,
    /// How long to wait for acknowledgements or cluster answers.
    pub timeout: Option<Duration>,
}

/// Which sockets an operation targets: the union of `rooms` (every socket when empty), minus
/// the members of `except`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct BroadcastOptions {
    /// Target rooms; empty means the whole namespace.
    pub rooms: Vec<Room>,
    /// Rooms whose members are excluded (a sender excludes its own room).
    pub except: Vec<Room>,
    /// Flags.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    /// The whole namespace, no flags.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a target room.
    #[must_use]
    pub fn to(mut self, room: Room) -> Self {
        self.rooms.push(room);
        self
    }

    /// Excludes a room's members.
    #[must_use]
    pub fn except(mut self, room: Room) -> Self {
        self.except.push(room);
        self
    }

    /// Sets the flags.
    #[must_use]
    pub fn with_flags(mut self, flags: BroadcastFlags) -> Self {
        self.flags = flags;
        self
    }
}

/// What a node reports about one of its sockets (`fetchSockets`).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket id.
    pub id: SocketId,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its handshake as its node describes it (JSON; `null` when unknown).
    pub handshake: serde_json::Value,
    /// Its application data (`socket.data`; `null` when unset).
    pub data: serde_json::Value,
}

impl SocketInfo {
    /// Builds the description of a socket (no handshake, no data).
    #[must_use]
    pub fn new(id: SocketId, rooms: Vec<Room>) -> Self {
        Self {
            id,
            rooms,
            handshake: serde_json::Value::Null,
            data: serde_json::Value::Null,
        }
    }

    /// Adds the handshake and the application data.
    #[must_use]
    pub fn with_details(mut self, handshake: serde_json::Value, data: serde_json::Value) -> Self {
        self.handshake = handshake;
        self.data = data;
        self
    }
}

/// A cluster request that ended early: why, and the replies that arrived before.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{error}")]
#[non_exhaustive]
pub struct PartialReplies {
    /// Why the request ended early.
    pub error: AdapterError,
    /// The replies received until then, each `[args...]`.
    pub replies: Vec<socketio_proto::Payload>,
}

impl PartialReplies {
    /// An early end with the replies received so far.
    #[must_use]
    pub fn new(error: AdapterError, replies: Vec<socketio_proto::Payload>) -> Self {
        Self { error, replies }
    }
}

/// A disconnected socket's state, kept for connection state recovery: its private session id
/// (a bearer secret, never logged), its socket id, its rooms (its own room included) and its
/// application data.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Session {
    /// The private session id the client presents to recover (`pid`).
    pub pid: String,
    /// The socket id, restored on recovery.
    pub sid: SocketId,
    /// The rooms the socket was in.
    pub rooms: Vec<Room>,
    /// The socket's application data (`socket.data`).
    pub data: serde_json::Value,
}

impl Session {
    /// Describes a socket's state.
    #[must_use]
    pub fn new(pid: String, sid: SocketId, rooms: Vec<Room>, data: serde_json::Value) -> Self {
        Self {
            pid,
            sid,
            rooms,
            data,
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pid is a bearer secret: never in logs.
        f.debug_struct("Session")
            .field("pid", &"<redacted>")
            .field("sid", &self.sid)
            .field("rooms", &self.rooms)
            .field("data", &self.data)
            .finish()
    }
}

/// A session restored by [`crate::Adapter::restore_session`], with the packets its client
/// missed, in the order they were broadcast (each carries its offset as last argument).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecoveredSession {
    /// The stored state.
    pub session: Session,
    /// The EVENT packets the client missed.
    pub missed: Vec<socketio_proto::Packet>,
}

impl RecoveredSession {
    /// A restored session and its missed packets.
    #[must_use]
    pub fn new(session: Session, missed: Vec<socketio_proto::Packet>) -> Self {
        Self { session, missed }
    }
}

/// A cluster operation that did not complete.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// Not every node answered in time; what arrived is in the error's partial result, where
    /// the operation has one.
    #[error("cluster request timed out")]
    Timeout,
    /// The bus between nodes is unavailable.
    #[error("adapter bus unavailable")]
    Unavailable,
    /// A packet could not be encoded for the bus.
    #[error("cannot encode for the adapter bus")]
    Encode,
}
