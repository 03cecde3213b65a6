//! The task that owns one session: it alone touches the `ServerSession`, so no lock is needed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use engineio_proto::{
    CloseReason, Event, Frame, HttpResponse, ProtocolError, ServerSession, Sid, Transmit,
    Utf8Bytes, WsMessage,
};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as TFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::{Connection, Tasks};

pub(crate) type WsStream = WebSocketStream<TokioIo<Upgraded>>;

/// The clock of the proto layer: tokio's, so paused-time tests control it too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the HTTP side and the application ask of a session task.
pub(crate) enum Cmd {
    Poll {
        id: u64,
        reply: oneshot::Sender<HttpResponse>,
    },
    PollAborted {
        id: u64,
    },
    Post {
        body: Bytes,
        reply: oneshot::Sender<Result<(), HttpResponse>>,
    },
    TransportError(ProtocolError),
    Upgrade(Box<WsStream>),
    Send(Frame),
    SendGroup(Vec<Frame>),
}

/// State shared between a session task and the handles to it, including its command queue.
///
/// The queue is a `VecDeque` behind a short lock plus a `Notify`, rather than a tokio `mpsc`
/// channel: it allocates nothing until the first command and stays small, where a channel
/// allocates about 2 KiB per session up front (measured with massif at 2,000 idle sockets).
#[derive(Debug)]
pub(crate) struct Shared {
    close: Notify,
    closing: AtomicBool,
    queue: Mutex<Queue>,
    wake: Notify,
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    cmds: std::collections::VecDeque<Cmd>,
    /// The session task has stopped: nothing will be received any more.
    closed: bool,
}

/// Extra room for HTTP requests (a GET and a POST in flight, their aborts, an upgrade) so a
/// queue filled by the application never turns the client's own requests away.
const HTTP_HEADROOM: usize = 8;

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.cmds.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Shared {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            close: Notify::new(),
            closing: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a command if the queue is open and below `limit`.
    fn push_within(&self, cmd: Cmd, limit: usize) -> Result<(), (Cmd, SocketSendError)> {
        {
            let mut q = self.lock();
            if q.closed {
                return Err((cmd, SocketSendError::Closed));
            }
            if q.cmds.len() >= limit {
                return Err((cmd, SocketSendError::Full));
            }
            q.cmds.push_back(cmd);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Queues an application command (bounded by the configured capacity).
    fn push(&self, cmd: Cmd) -> Result<(), SocketSendError> {
        self.push_within(cmd, self.capacity).map_err(|(_, e)| e)
    }

    /// Queues a command of the HTTP side; hands it back when the session is gone or flooded.
    pub(crate) fn push_http(&self, cmd: Cmd) -> Result<(), Cmd> {
        self.push_within(cmd, self.capacity + HTTP_HEADROOM)
            .map_err(|(c, _)| c)
    }

    fn pop(&self) -> Option<Cmd> {
        let mut q = self.lock();
        let cmd = q.cmds.pop_front();
        if q.cmds.is_empty() && q.cmds.capacity() > 16 {
            // Give back what a burst grew, so an idle session stays small.
            q.cmds.shrink_to_fit();
        }
        cmd
    }

    /// The next command; `None` once the queue is closed.
    async fn recv(&self) -> Option<Cmd> {
        loop {
            {
                let mut q = self.lock();
                if let Some(cmd) = q.cmds.pop_front() {
                    return Some(cmd);
                }
                if q.closed {
                    return None;
                }
            }
            // A push between the unlock and here leaves a permit, so no wake-up is lost.
            self.wake.notified().await;
        }
    }

    /// Stops the queue; pending commands are dropped (their HTTP requests see the session
    /// gone).
    fn close_queue(&self) {
        let pending = {
            let mut q = self.lock();
            q.closed = true;
            std::mem::take(&mut q.cmds)
        };
        drop(pending);
    }

    fn is_queue_closed(&self) -> bool {
        self.lock().closed
    }

    /// Asks the session task to close the session (once).
    pub(crate) fn close(&self) {
        if !self.closing.swap(true, Ordering::Relaxed) {
            self.close.notify_one();
        }
    }
}

/// A handle to one Engine.IO session: send frames to it, close it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EngineSocket {
    sid: Sid,
    shared: Arc<Shared>,
}

/// A frame the session could not take.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum SocketSendError {
    /// The session has ended.
    Closed,
    /// The session's command queue is full: the client reads too slowly.
    Full,
}

impl std::fmt::Display for SocketSendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Closed => "session closed",
            Self::Full => "session send queue full",
        })
    }
}

impl std::error::Error for SocketSendError {}

impl EngineSocket {
    pub(crate) fn new(sid: Sid, shared: Arc<Shared>) -> Self {
        Self { sid, shared }
    }

    /// The session id.
    #[must_use]
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// Queues one frame without waiting.
    ///
    /// # Errors
    ///
    /// [`SocketSendError::Closed`] after the session ended, [`SocketSendError::Full`] when
    /// its queue is full (the caller applies its slow-client policy).
    pub fn send(&self, frame: Frame) -> Result<(), SocketSendError> {
        self.try_cmd(Cmd::Send(frame))
    }

    /// Queues frames that must go out back to back (a Socket.IO packet and its attachments).
    ///
    /// # Errors
    ///
    /// As [`EngineSocket::send`].
    pub fn send_group(&self, frames: &[Frame]) -> Result<(), SocketSendError> {
        // Clones share the encoded bytes; a single frame needs no vector at all.
        match frames {
            [frame] => self.try_cmd(Cmd::Send(frame.clone())),
            _ => self.try_cmd(Cmd::SendGroup(frames.to_vec())),
        }
    }

    fn try_cmd(&self, cmd: Cmd) -> Result<(), SocketSendError> {
        if self.shared.closing.load(Ordering::Relaxed) {
            return Err(SocketSendError::Closed);
        }
        self.shared.push(cmd)
    }

    /// Closes the session (`forced close`) after the frames already queued.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the session has ended or is closing.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.closing.load(Ordering::Relaxed) || self.shared.is_queue_closed()
    }
}

/// The sid map: the only state shared between sessions.
pub(crate) type Registry = Mutex<HashMap<Sid, SessionEntry>>;

/// What the HTTP side needs to reach a session.
#[derive(Clone, Debug)]
pub(crate) struct SessionEntry {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct SessionTask<C> {
    pub(crate) session: ServerSession,
    pub(crate) conn: C,
    pub(crate) tasks: Tasks,
    pub(crate) shared: Arc<Shared>,
    pub(crate) ws: Option<Box<WsStream>>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) max_tasks: usize,
    /// A POST held back while the handler tasks are at `max_tasks`: its response waits, so a
    /// polling client cannot queue handlers without bound either.
    pub(crate) parked_post: Option<(Bytes, oneshot::Sender<Result<(), HttpResponse>>)>,
}

/// Converts an outgoing frame for tungstenite without copying or re-validating text.
fn to_tungstenite(msg: WsMessage) -> TMessage {
    match msg {
        WsMessage::Text(t) => TMessage::Frame(TFrame::message(
            t.into_bytes(),
            OpCode::Data(Data::Text),
            true,
        )),
        WsMessage::Binary(b) => TMessage::Binary(b),
        _ => TMessage::Binary(Bytes::new()),
    }
}

enum WsInput {
    Message(WsMessage),
    Closed,
    Error,
    Ignore,
}

fn from_tungstenite(
    msg: Option<Result<TMessage, tokio_tungstenite::tungstenite::Error>>,
) -> WsInput {
    match msg {
        Some(Ok(TMessage::Text(t))) => match Utf8Bytes::try_from_bytes(Bytes::from(t)) {
            Ok(t) => WsInput::Message(WsMessage::Text(t)),
            Err(_) => WsInput::Error,
        },
        Some(Ok(TMessage::Binary(b))) => WsInput::Message(WsMessage::Binary(b)),
        Some(Ok(TMessage::Ping(_) | TMessage::Pong(_) | TMessage::Frame(_))) => WsInput::Ignore,
        Some(Ok(TMessage::Close(_))) | None => WsInput::Closed,
        Some(Err(_)) => WsInput::Error,
    }
}

async fn next_ws(ws: &mut Option<Box<WsStream>>) -> WsInput {
    match ws.as_mut() {
        Some(w) => from_tungstenite(w.next().await),
        None => std::future::pending().await,
    }
}

impl<C: Connection> SessionTask<C> {
    pub(crate) async fn run(mut self) {
        let sid = self.session.sid();
        let mut waiting: Option<(u64, oneshot::Sender<HttpResponse>)> = None;
        let mut closed: Option<CloseReason> = None;
        loop {
            self.flush_output(&mut waiting, &mut closed).await;
            if let Some(reason) = closed.take() {
                tracing::debug!(?sid, %reason, "engine.io session closed");
                let conn = &mut self.conn;
                if guarded(|| conn.on_close(&reason)) {
                    tracing::error!(?sid, "the close handler panicked");
                }
                break;
            }
            if self.tasks.len() < self.max_tasks
                && let Some((body, reply)) = self.parked_post.take()
            {
                self.post(body, reply);
                continue;
            }
            let deadline = [
                self.session
                    .poll_timeout()
                    .map(tokio::time::Instant::from_std),
                self.conn.deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            let can_read = self.tasks.len() < self.max_tasks;
            tokio::select! {
                biased;
                () = self.shared.close.notified() => self.session.close(now()),
                cmd = self.shared.recv() => match cmd {
                    Some(cmd) => self.on_cmd(cmd, &mut waiting),
                    None => self.session.close(now()),
                },
                input = next_ws(&mut self.ws), if can_read && self.ws.is_some() => {
                    self.on_ws(input);
                }
                panicked = self.tasks.next() => {
                    if panicked {
                        tracing::error!(sid = ?self.session.sid(), "a handler panicked; closing its connection");
                        self.session.close(now());
                    }
                }
                () = sleep_until(deadline) => {
                    let now = now();
                    self.session.handle_timeout(now);
                    if self.conn.deadline().is_some_and(|d| d.into_std() <= now) {
                        let (conn, tasks) = (&mut self.conn, &mut self.tasks);
                        if guarded(|| conn.on_deadline(tasks)) {
                            self.session.close(now);
                        }
                    }
                }
            }
        }
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&sid);
        self.shared.close_queue();
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                WsStream::close(&mut ws, None),
            )
            .await;
        }
        // Handlers still running finish on their own.
        if !self.tasks.is_empty() {
            let mut tasks = std::mem::take(&mut self.tasks);
            tokio::spawn(async move {
                while !tasks.is_empty() {
                    let _ = tasks.next().await;
                }
            });
        }
    }

    async fn flush_output(
        &mut self,
        waiting: &mut Option<(u64, oneshot::Sender<HttpResponse>)>,
        closed: &mut Option<CloseReason>,
    ) {
        loop {
            let mut wrote = false;
            while let Some(t) = self.session.poll_transmit(now()) {
                match t {
                    Transmit::PollResponse(r) => {
                        if let Some((_, reply)) = waiting.take() {
                            let _ = reply.send(r);
                        }
                    }
                    Transmit::Ws(m) => {
                        if let Some(ws) = self.ws.as_mut() {
                            if ws.feed(to_tungstenite(m)).await.is_err() {
                                self.ws = None;
                                self.session.handle_ws_closed(now());
                            } else {
                                wrote = true;
                            }
                        }
                    }
                    Transmit::WsClose => {
                        if let Some(mut ws) = self.ws.take() {
                            // A slow peer must not stall the session: close in the background.
                            tokio::spawn(async move {
                                let _ = tokio::time::timeout(
                                    std::time::Duration::from_secs(1),
                                    WsStream::close(&mut ws, None),
                                )
                                .await;
                            });
                        }
                    }
                    _ => {}
                }
            }
            if wrote
                && let Some(ws) = self.ws.as_mut()
                && ws.flush().await.is_err()
            {
                self.ws = None;
                self.session.handle_ws_closed(now());
            }
            let mut any_event = false;
            while let Some(e) = self.session.poll_event() {
                any_event = true;
                match e {
                    Event::Message(m) => {
                        let (conn, tasks) = (&mut self.conn, &mut self.tasks);
                        if guarded(|| conn.on_message(m, tasks)) {
                            self.session.close(now());
                        }
                    }
                    Event::Upgraded => {
                        let (conn, tasks) = (&mut self.conn, &mut self.tasks);
                        if guarded(|| conn.on_upgrade(tasks)) {
                            self.session.close(now());
                        }
                    }
                    Event::Closed(r) => *closed = Some(r),
                    _ => {}
                }
            }
            // Handlers may have queued commands synchronously: take them before the next wait
            // so a POST's replies are ready for the next GET.
            let mut any_cmd = false;
            if closed.is_none() {
                while let Some(cmd) = self.shared.pop() {
                    any_cmd = true;
                    self.on_cmd(cmd, waiting);
                    if self.session.is_closed() {
                        break;
                    }
                }
            }
            if !any_event && !any_cmd {
                break;
            }
        }
    }

    fn on_cmd(&mut self, cmd: Cmd, waiting: &mut Option<(u64, oneshot::Sender<HttpResponse>)>) {
        let now = now();
        match cmd {
            Cmd::Poll { id, reply } => match self.session.handle_poll(now) {
                Ok(()) => *waiting = Some((id, reply)),
                Err(e) => {
                    let _ = reply.send(e.to_response());
                }
            },
            Cmd::PollAborted { id } => {
                if waiting.as_ref().is_some_and(|(w, _)| *w == id) {
                    *waiting = None;
                    self.session.handle_poll_aborted(now);
                }
            }
            Cmd::Post { body, reply } => {
                if let Some((parked, parked_reply)) = self.parked_post.take() {
                    self.post(parked, parked_reply);
                }
                if self.tasks.len() < self.max_tasks {
                    self.post(body, reply);
                } else if let Err(e) = self.session.handle_post_start(now) {
                    let _ = reply.send(Err(e.to_response()));
                } else {
                    self.parked_post = Some((body, reply));
                }
            }
            Cmd::TransportError(e) => self.session.handle_transport_error(now, e),
            Cmd::Upgrade(mut ws) => {
                if self.ws.is_some() || self.session.handle_ws_open(now).is_err() {
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_secs(1),
                            WsStream::close(&mut ws, None),
                        )
                        .await;
                    });
                } else {
                    self.ws = Some(ws);
                }
            }
            Cmd::Send(frame) => self.send(frame),
            Cmd::SendGroup(frames) => {
                for f in frames {
                    self.send(f);
                }
            }
        }
    }

    fn post(&mut self, body: Bytes, reply: oneshot::Sender<Result<(), HttpResponse>>) {
        let result = self
            .session
            .handle_post(now(), body)
            .map_err(|e| e.to_response());
        let _ = reply.send(result);
    }

    fn send(&mut self, frame: Frame) {
        if let Err(engineio_proto::SendError::Full(_)) = self.session.send_frame(frame) {
            // Slow client: its queue is at the limit. Close it rather than grow or block.
            tracing::debug!(sid = ?self.session.sid(), "send queue full, closing slow client");
            self.session
                .handle_transport_error(now(), ProtocolError::TransportFailure);
        }
    }

    fn on_ws(&mut self, input: WsInput) {
        let now = now();
        match input {
            WsInput::Message(m) => {
                let _ = self.session.handle_ws_message(now, m);
            }
            WsInput::Ignore => {}
            WsInput::Closed => {
                self.ws = None;
                self.session.handle_ws_closed(now);
            }
            WsInput::Error => {
                self.ws = None;
                if self.session.is_upgrading() {
                    self.session.handle_ws_closed(now);
                } else {
                    self.session
                        .handle_transport_error(now, ProtocolError::TransportFailure);
                }
            }
        }
    }
}

/// Runs application code of the connection; a panic is caught and logged, and reported as
/// `true` so the caller closes the session (its state may be inconsistent) instead of losing
/// the session task without cleanup.
fn guarded(f: impl FnOnce()) -> bool {
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    if panicked {
        tracing::error!("connection code panicked; closing the session");
    }
    panicked
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
