//! The Engine.IO v4 server runtime: HTTP long-polling and WebSocket transports on hyper and
//! tungstenite, driving one [`engineio_proto::ServerSession`] per client in one task.
//!
//! Usable on its own (an Engine.IO server at `/engine.io/`), and the base of the Socket.IO
//! server. The application plugs in through [`EngineHandler`] (accept or refuse handshakes,
//! create a [`Connection`] per session) and talks to a session through its [`EngineSocket`].

mod config;
mod service;
mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use engineio_proto::{CloseReason, Message, Sid, Transport};
use futures_util::FutureExt as _;
use futures_util::future::CatchUnwind;
use futures_util::stream::FuturesUnordered;

pub use config::{Cors, EngineConfig};
pub use service::{Engine, EngineBody};
pub use session::{EngineSocket, SocketSendError};

/// The HTTP request that opened a session, kept for the application (Socket.IO's
/// `socket.handshake`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Handshake {
    /// The new session's id.
    pub sid: Sid,
    /// The transport of the handshake request.
    pub transport: Transport,
    /// The request URI (path and query).
    pub uri: http::Uri,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The peer's address, when the server knows it.
    pub remote_addr: Option<SocketAddr>,
    /// When the session was created (wall clock; Socket.IO's `handshake.issued`).
    pub issued: std::time::SystemTime,
}

impl Handshake {
    /// The raw query string, without `?`.
    #[must_use]
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }
}

/// A unit of application work that runs inside the session's task, such as an event handler.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The application's tasks for one connection. They run concurrently inside the session's own
/// task and start in the order they were added, so the handlers of one connection start in the
/// order its packets arrived. Nothing is allocated until a task has to wait.
///
/// The session task gives the task added last its first poll as soon as the code that added it
/// returns, before it reads or writes anything else: a handler that finishes without waiting
/// (most event handlers) is run and dropped there and never enters the set of waiting tasks,
/// and what it queued (an ack) leaves in the same write as the replies to the packets read with
/// it.
///
/// A task that panics does not take the session task down with it: the panic is caught, logged,
/// and the connection is closed (its state may no longer be consistent), so the session is
/// still cleaned up and every other connection keeps running.
#[derive(Default)]
pub struct Tasks {
    /// The task added last, not polled yet (the tasks added before it are in `set`).
    fresh: Option<Task>,
    /// Tasks that were polled and are waiting, or that wait for their first poll behind
    /// `fresh`'s predecessors.
    set: Option<FuturesUnordered<CatchUnwind<AssertUnwindSafe<Task>>>>,
}

impl Tasks {
    /// Adds a task.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.spawn_boxed(Box::pin(task));
    }

    /// Adds a task that is already boxed (no second allocation).
    pub fn spawn_boxed(&mut self, task: Task) {
        // An earlier task not polled yet goes into the set first, so the start order holds:
        // the set polls new members in the order they were pushed.
        if let Some(earlier) = self.fresh.replace(task) {
            self.push_set(earlier);
        }
    }

    fn push_set(&mut self, task: Task) {
        self.set
            .get_or_insert_with(FuturesUnordered::new)
            .push(AssertUnwindSafe(task).catch_unwind());
    }

    /// Number of unfinished tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.set.as_ref().map_or(0, FuturesUnordered::len) + usize::from(self.fresh.is_some())
    }

    /// Whether every task has finished.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives the task added last its first poll (with the session task's context); one that
    /// has to wait joins the set. `true` when it panicked.
    pub(crate) fn poll_fresh(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let Some(mut task) = self.fresh.take() else {
            return false;
        };
        if self.set.as_ref().is_some_and(|set| !set.is_empty()) {
            // Tasks added before it have not all finished: the set keeps the order (and one
            // of them may not have started yet).
            self.push_set(task);
            return false;
        }
        match std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(())) => false,
            Ok(std::task::Poll::Pending) => {
                // Woken through the session task's waker for now; the set polls it once more
                // and from then on through its own.
                self.push_set(task);
                false
            }
            Err(_) => true,
        }
    }

    /// Polls the tasks; resolves when one finishes (never, while there are none), with
    /// `true` when it panicked.
    pub(crate) async fn next(&mut self) -> bool {
        use futures_util::StreamExt as _;
        if let Some(task) = self.fresh.take() {
            self.push_set(task);
        }
        match self.set.as_mut() {
            Some(set) if !set.is_empty() => {
                let panicked = matches!(set.next().await, Some(Err(_)));
                if set.is_empty() {
                    // Give the set back: an idle connection keeps no allocation.
                    self.set = None;
                }
                panicked
            }
            _ => std::future::pending().await,
        }
    }
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("len", &self.len()).finish()
    }
}

/// Plugs an application into the engine.
pub trait EngineHandler: Send + Sync + 'static {
    /// The per-session state.
    type Connection: Connection;

    /// The `allowRequest` hook: look at a handshake request and accept it (`Ok`) or refuse it
    /// with a message (403 over HTTP, 400 for a WebSocket upgrade).
    ///
    /// # Errors
    ///
    /// The refusal message.
    fn allow_request(&self, request: &http::request::Parts) -> Result<(), String> {
        let _ = request;
        Ok(())
    }

    /// A session opened.
    fn on_open(
        &self,
        socket: EngineSocket,
        handshake: Handshake,
        tasks: &mut Tasks,
    ) -> Self::Connection;
}

/// One session's application state. Its methods run in the session's task, in order.
pub trait Connection: Send + 'static {
    /// A message arrived.
    fn on_message(&mut self, msg: Message, tasks: &mut Tasks);

    /// The session upgraded to WebSocket.
    fn on_upgrade(&mut self, tasks: &mut Tasks) {
        let _ = tasks;
    }

    /// The session ended; no more calls follow.
    fn on_close(&mut self, reason: &CloseReason);

    /// When [`Connection::on_deadline`] must run next, if ever: the connection's own timers
    /// share the session task's single timer instead of costing a task each.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        None
    }

    /// The time returned by [`Connection::deadline`] has come (possibly a little later).
    fn on_deadline(&mut self, tasks: &mut Tasks) {
        let _ = tasks;
    }
}
