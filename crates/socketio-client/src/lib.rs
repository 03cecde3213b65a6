//! A Socket.IO v5 client on tokio: HTTP long-polling and WebSocket (with the upgrade between
//! them), TLS through rustls, namespaces multiplexed over one connection, acknowledgements
//! both ways, binary arguments, offline buffering, `retries`, and reconnection with the JS
//! client's backoff.
//!
//! A [`Manager`] is one connection to one server; each namespace gets a [`Socket`] on it.
//! The protocol logic that needs no I/O (backoff, acks, buffers, retries, the connect state of
//! a namespace) lives in [`sans_io`] and is tested with a virtual clock; the Engine.IO session
//! is `engineio_proto::ClientSession`, the codec `socketio_proto`.
//!
//! # Example
//!
//! Against a server that acknowledges `store` and asks `ping` with an ack (the hidden lines
//! start one from `socketio-server` on a free loopback port):
//!
//! ```
//! use std::time::Duration;
//! use socketio_client::{AckSender, Manager, Socket};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let io = socketio_server::SocketIo::new(Default::default())?;
//! # io.ns("/chat", |s: socketio_server::Socket| {
//! #     s.on("store", |_, _, ack| async move { let _ = ack.unwrap().send(&(true,)); });
//! #     s.on("message", |s, _, _| async move {
//! #         let _ = s.emit("message", &("server", "welcome"));
//! #         let _ = s.emit_with_ack("ping", &(), Duration::from_secs(5)).await;
//! #     });
//! # });
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("http://{}", listener.local_addr()?);
//! # tokio::spawn(io.serve(listener));
//! let (tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
//! let manager = Manager::builder(&url).build()?;
//! let socket = manager
//!     .socket("/chat")
//!     .auth(&serde_json::json!({ "token": "secret" }))
//!     .on("message", move |_socket: Socket, (user, text): (String, String), _ack| {
//!         let tx = tx.clone();
//!         async move {
//!             let _ = tx.send(format!("{user}: {text}"));
//!         }
//!     })
//!     // Answer the server's emitWithAck.
//!     .on("ping", |_socket, (): (), ack: Option<AckSender>| async move {
//!         if let Some(ack) = ack {
//!             let _ = ack.send(&("pong",));
//!         }
//!     })
//!     .on_disconnect(|_socket, reason| println!("disconnected: {reason}"))
//!     .connect();
//! socket.wait_connected().await?;
//!
//! socket.emit("message", &("hello",))?;
//! assert_eq!(messages.recv().await.as_deref(), Some("server: welcome"));
//! let (stored,): (bool,) = socket
//!     .emit_with_ack("store", &("key", 42))
//!     .timeout(Duration::from_secs(5))
//!     .await?;
//! assert!(stored);
//! // The DISCONNECT follows what was emitted; wait until both are written.
//! socket.disconnect();
//! manager.closed().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour, as in the JS client
//!
//! - **Reconnection**: on by default; delays `min(1000 · 2ⁿ ± jitter, 5000)` ms with a
//!   randomization factor of 0.5 ([`sans_io::Backoff`]), unlimited attempts, the counter reset
//!   after a success; [`ManagerEvent`]s report each attempt. A socket disconnected by the
//!   server (`io server disconnect`) or by the application (`io client disconnect`) does not
//!   reconnect; every other [`DisconnectReason`] does.
//! - **Offline buffering**: emits while disconnected are held (at most
//!   [`SocketBuilder::max_buffered`], 1024 by default; beyond that `emit` fails with
//!   [`EmitError::BufferFull`]) and sent in order on connect. Volatile emits are dropped
//!   instead.
//! - **Acks**: [`Socket::emit_with_ack`] with [`EmitWithAck::timeout`] fails with
//!   [`AckError::Timeout`] when no reply comes in time, and the pending entry is freed; a
//!   disconnect fails the acks in flight with [`AckError::Disconnected`].
//! - **Retries**: with [`SocketBuilder::retries`] and [`SocketBuilder::ack_timeout`] every
//!   emit is delivered at least once: one packet in flight at a time, re-sent under a new ack
//!   id after each timeout. The server sees a retried event again when only its ack was lost,
//!   so handlers that must run once deduplicate (by an id in the arguments).
//! - **Closing**: [`Socket::disconnect`] of the last socket, [`Manager::close`] and dropping
//!   every handle deliver what was emitted before (the close goes after it, on the same
//!   transport, within [`ManagerBuilder::close_timeout`]); [`Manager::closed`] waits for that,
//!   which a program about to exit needs.
//! - **Connection failures**: [`ConnectError::cause`] and the source of
//!   [`Socket::wait_connected`]'s error name what failed (`connection refused`, a name that
//!   does not resolve, a TLS failure, an HTTP status).
//! - **Connection state recovery**: when the server enables it, the socket keeps the
//!   server's `pid` and the offset of the last event and sends them in the next CONNECT;
//!   [`Socket::recovered`] tells whether the missed events were replayed.

mod config;
mod error;
mod manager;
pub mod sans_io;
mod socket;
mod transport;

pub use config::TransportMode;
pub use engineio_proto::Transport;
pub use error::{AckError, ConnectError, EmitError, Error, ErrorKind};
pub use manager::{Manager, ManagerBuilder, ManagerEvent};
pub use sans_io::DisconnectReason;
pub use socket::{AckFuture, AckSender, EmitWithAck, Emitter, RawAckFuture, Socket, SocketBuilder};
pub use socketio_proto::{Binary, Payload};

/// A socket for the URL's namespace on a manager shared per server (the JS `io(url)`): two
/// namespaces of one server share one connection unless `force_new` is set or the namespace is
/// already in use on the shared manager.
///
/// ```no_run
/// # async fn demo() -> Result<(), socketio_client::Error> {
/// use socketio_client::{io, Manager};
///
/// let admin = io(Manager::builder("http://127.0.0.1:3000/admin"))?.connect();
/// let main = io(Manager::builder("http://127.0.0.1:3000/"))?.connect();
/// assert!(admin.manager().same_connection(main.manager()));
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As [`ManagerBuilder::build`].
///
/// # Panics
///
/// Outside a tokio runtime, when a new manager has to be started.
pub fn io(builder: ManagerBuilder) -> Result<SocketBuilder, Error> {
    let (manager, ns) = manager::cached_manager(builder)?;
    Ok(manager.socket(&ns))
}
