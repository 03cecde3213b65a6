//! A Socket.IO v5 server on tokio, hyper and tungstenite.
//!
//! [`SocketIo`] is the server; the [`engine`] module is the Engine.IO v4 server on its own; [`serve_with`] is a plain
//! accept loop for either.

pub mod engine;
mod io;
mod serve;
mod tower;

pub use io::{
    AckError, AckSender, AdapterFactory, Args, Broadcast, ConnectError, ConnectionStateRecovery,
    DynamicNsp, EmitError, IoConnection, IoHandler, JoinError, NsStats, Nsp, RemoteSocket,
    ServerAckSender, Socket, SocketIo, SocketIoConfig,
};

pub use serve::{not_found, serve_with};
pub use socketio_adapter::{self as adapter, AdapterError, Room, SocketId, SocketInfo};
pub use socketio_proto::{ArgsError, Binary};
pub use tower::{SocketIoLayer, SocketIoService};
