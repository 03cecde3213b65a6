//! The task that owns one session: it alone touches the `ServerSession`, so no lock is needed.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio_proto::{
    CloseReason, Event, Frame, HttpResponse, ProtocolError, ServerSession, Sid, Transmit,
    Utf8Bytes, WsMessage,
};
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as TFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::{Connection, Tasks};

pub(crate) type WsStream = WebSocketStream<WsConn>;

/// The byte stream under a session's WebSocket: the TCP stream itself when the connection
/// came from a server that hands hyper a `TokioIo<TcpStream>` (ours does; found by downcasting
/// hyper's `Upgraded`), so reads and writes skip hyper's boxed, rewinding wrapper; otherwise
/// the upgraded connection as hyper gives it (any other server the service is mounted in).
#[derive(Debug)]
pub(crate) enum WsConn {
    /// Our own accept loop's TCP stream.
    Tcp(tokio::net::TcpStream),
    /// Any other connection.
    Upgraded(TokioIo<Upgraded>),
}

impl tokio::io::AsyncRead for WsConn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Self::Upgraded(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for WsConn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Self::Upgraded(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Upgraded(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            Self::Upgraded(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            Self::Upgraded(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Self::Upgraded(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Takes an upgraded connection as a server-side WebSocket.
pub(crate) async fn accept_ws(
    upgraded: Upgraded,
    config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
) -> WsStream {
    use tokio_tungstenite::tungstenite::protocol::Role;
    match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
        Ok(parts) if parts.read_buf.is_empty() => {
            WebSocketStream::from_raw_socket(
                WsConn::Tcp(parts.io.into_inner()),
                Role::Server,
                Some(config),
            )
            .await
        }
        Ok(parts) => {
            // The client sent frames right behind its upgrade request: tungstenite reads
            // those bytes first.
            WebSocketStream::from_partially_read(
                WsConn::Tcp(parts.io.into_inner()),
                parts.read_buf.to_vec(),
                Role::Server,
                Some(config),
            )
            .await
        }
        Err(upgraded) => {
            WebSocketStream::from_raw_socket(
                WsConn::Upgraded(TokioIo::new(upgraded)),
                Role::Server,
                Some(config),
            )
            .await
        }
    }
}

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
/// The queue is a `VecDeque` behind a short lock plus one waker, rather than a tokio `mpsc`
/// channel: it allocates nothing until the first command and stays small, where a channel
/// allocates about 2 KiB per session up front (measured with massif at 2,000 idle sockets).
///
/// The session task is woken only when it waits (`idle`): a command queued while it runs (an
/// ack from a handler it is polling, say) is taken in the same pass, without a wake-up or a
/// waiter registered and removed on every pass as a `Notify` would cost.
#[derive(Debug)]
pub(crate) struct Shared {
    closing: AtomicBool,
    /// A close was asked for and the session task has not acted on it yet.
    close_pending: AtomicBool,
    /// A POST body is being read for this session (A9: a second one is an overlap).
    pub(crate) posting: AtomicBool,
    /// The session task registered its waker and is about to wait or waiting.
    idle: AtomicBool,
    queue: Mutex<Queue>,
    waker: AtomicWaker,
    capacity: usize,
}

/// What woke the session task from [`Shared::poll_wait`].
enum Wake {
    /// [`Shared::close`] was called.
    Close,
    /// A command arrived.
    Cmd(Cmd),
    /// The queue is closed.
    Ended,
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
            closing: AtomicBool::new(false),
            close_pending: AtomicBool::new(false),
            posting: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            waker: AtomicWaker::new(),
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
        self.wake_task();
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

    /// Wakes the session task if it waits. Sequentially consistent with the `idle` store and
    /// the re-check in [`Shared::poll_wait`]: either the task sees what was just queued, or
    /// this sees it idle.
    fn wake_task(&self) {
        if self.idle.load(Ordering::SeqCst) && self.idle.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }

    fn try_take(&self) -> Option<Wake> {
        if self.close_pending.load(Ordering::SeqCst)
            && self.close_pending.swap(false, Ordering::SeqCst)
        {
            return Some(Wake::Close);
        }
        let mut q = self.lock();
        if let Some(cmd) = q.cmds.pop_front() {
            return Some(Wake::Cmd(cmd));
        }
        q.closed.then_some(Wake::Ended)
    }

    /// A close request, the next command or the end of the queue; otherwise registers the
    /// task's waker.
    fn poll_wait(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Wake> {
        // Registering first costs a compare when the waker is the same as last time (it is,
        // for the session task), and saves looking at the queue twice.
        self.waker.register(cx.waker());
        self.idle.store(true, Ordering::SeqCst);
        // Whatever was queued before `idle` became visible is seen here.
        match self.try_take() {
            Some(w) => {
                self.idle.store(false, Ordering::Relaxed);
                std::task::Poll::Ready(w)
            }
            None => std::task::Poll::Pending,
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
            self.close_pending.store(true, Ordering::SeqCst);
            self.wake_task();
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

/// The sid map, the only state shared between sessions, with the session counts the
/// handshake caps need and a watch of the number of sessions.
///
/// It also carries the settings every session task reads, so that a session holds one pointer
/// for them rather than a copy each.
#[derive(Debug)]
pub(crate) struct Registry {
    state: Mutex<RegistryState>,
    count: watch::Sender<usize>,
    /// Handler tasks one session runs at once (`max_concurrent_tasks`, at least 1).
    pub(crate) max_tasks: usize,
    /// Longest time one WebSocket write may block (`ws_write_timeout`).
    pub(crate) write_timeout: Duration,
}

#[derive(Debug, Default)]
struct RegistryState {
    sessions: HashMap<Sid, SessionEntry>,
    /// Handshakes admitted whose session is not registered yet.
    pending: usize,
    /// Sessions (registered or pending) per peer address, when a per-address cap is set.
    per_ip: HashMap<IpAddr, usize>,
    /// The address each counted session came from (only when a per-address cap is set, so a
    /// session entry stays one pointer).
    ips: HashMap<Sid, IpAddr>,
}

/// Why a handshake was not admitted.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Refusal {
    /// `max_sessions` reached.
    Server,
    /// `max_sessions_per_ip` reached for the peer's address.
    Ip,
}

/// A handshake admitted under the session caps: it holds its place until the session is
/// registered ([`Registry::insert`]) or the admission is dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    registry: Arc<Registry>,
    ip: Option<IpAddr>,
    armed: bool,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.registry.lock();
            st.pending = st.pending.saturating_sub(1);
            if let Some(ip) = self.ip {
                release_ip(&mut st.per_ip, ip);
            }
        }
    }
}

fn release_ip(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

impl Registry {
    pub(crate) fn new(max_tasks: usize, write_timeout: Duration) -> Self {
        Self {
            state: Mutex::new(RegistryState::default()),
            count: watch::Sender::new(0),
            max_tasks: max_tasks.max(1),
            write_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a handshake from `ip` unless a cap is reached.
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        max_sessions: Option<usize>,
        max_per_ip: Option<usize>,
    ) -> Result<Admission, Refusal> {
        let mut st = self.lock();
        if max_sessions.is_some_and(|max| st.sessions.len() + st.pending >= max) {
            return Err(Refusal::Server);
        }
        if let (Some(ip), Some(max)) = (ip, max_per_ip)
            && st.per_ip.get(&ip).copied().unwrap_or(0) >= max
        {
            return Err(Refusal::Ip);
        }
        st.pending += 1;
        // Addresses are counted only when capped.
        let ip = ip.filter(|_| max_per_ip.is_some());
        if let Some(ip) = ip {
            *st.per_ip.entry(ip).or_insert(0) += 1;
        }
        Ok(Admission {
            registry: Arc::clone(self),
            ip,
            armed: true,
        })
    }

    /// Registers the session of an admitted handshake.
    pub(crate) fn insert(&self, sid: Sid, shared: Arc<Shared>, mut admission: Admission) {
        admission.armed = false;
        let len = {
            let mut st = self.lock();
            st.pending = st.pending.saturating_sub(1);
            st.sessions.insert(sid, SessionEntry { shared });
            if let Some(ip) = admission.ip {
                st.ips.insert(sid, ip);
            }
            st.sessions.len()
        };
        self.count.send_replace(len);
    }

    /// Unregisters a session (no-op when unknown).
    pub(crate) fn remove(&self, sid: &Sid) {
        let len = {
            let mut st = self.lock();
            if st.sessions.remove(sid).is_none() {
                return;
            }
            if let Some(ip) = st.ips.remove(sid) {
                release_ip(&mut st.per_ip, ip);
            }
            st.sessions.len()
        };
        self.count.send_replace(len);
    }

    pub(crate) fn get(&self, sid: &Sid) -> Option<SessionEntry> {
        self.lock().sessions.get(sid).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub(crate) fn entries(&self) -> Vec<SessionEntry> {
        self.lock().sessions.values().cloned().collect()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }
}

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
    /// The sid map and the settings of every session.
    pub(crate) registry: Arc<Registry>,
    /// A POST held back while the handler tasks are at `max_tasks`: its response waits, so a
    /// polling client cannot queue handlers without bound either.
    pub(crate) parked_post: Option<(Bytes, oneshot::Sender<Result<(), HttpResponse>>)>,
    /// Frames were handed to the WebSocket and not flushed yet: the flush waits until no more
    /// input is ready, so the replies to messages read together leave in one write.
    pub(crate) ws_dirty: bool,
    /// WebSocket messages read since the last flush (a flush is forced at [`READ_BATCH`]).
    pub(crate) ws_reads: usize,
}

/// What the WebSocket side of the session loop produced.
enum WsIo {
    /// A message or the end of the stream.
    Input(WsInput),
    /// The flush failed.
    FlushFailed,
    /// The flush could not finish at once (the peer reads slowly): finish it under the write
    /// timeout.
    FlushBlocked,
}

/// Reads the next WebSocket message if `can_read`; when none is ready, flushes what was
/// written (once no more input is ready, or after [`READ_BATCH`] reads in a row).
fn poll_ws_io(
    ws: &mut WsStream,
    can_read: bool,
    dirty: &mut bool,
    reads: &mut usize,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<WsIo> {
    use futures_util::Sink as _;
    use std::task::Poll;
    let force = *dirty && *reads >= READ_BATCH;
    if can_read
        && !force
        && let Poll::Ready(input) = ws.poll_next_unpin(cx)
    {
        *reads += 1;
        return Poll::Ready(WsIo::Input(from_tungstenite(input)));
    }
    if *dirty {
        match std::pin::Pin::new(&mut *ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                *dirty = false;
                *reads = 0;
                if force {
                    // Read on at once: the caller loops back here.
                    cx.waker().wake_by_ref();
                }
            }
            Poll::Ready(Err(_)) => return Poll::Ready(WsIo::FlushFailed),
            Poll::Pending => return Poll::Ready(WsIo::FlushBlocked),
        }
    }
    Poll::Pending
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
    /// The stream ended; `true` when the peer sent a close frame (its reply is queued).
    Closed(bool),
    /// The peer broke the WebSocket protocol or a limit: the close code to answer with, if
    /// the connection can still take one.
    Error(Option<CloseCode>),
    Ignore,
}

/// The close code RFC 6455 (and `ws`) give a read error: 1002 for a protocol violation, 1009
/// for a message or frame over `maxPayload`, 1007 for invalid UTF-8; none for I/O errors.
fn close_code(e: &tokio_tungstenite::tungstenite::Error) -> Option<CloseCode> {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Protocol(_) => Some(CloseCode::Protocol),
        E::Capacity(_) => Some(CloseCode::Size),
        E::Utf8(_) => Some(CloseCode::Invalid),
        _ => None,
    }
}

/// Closes a WebSocket in the background (bounded to 1 s, so a peer that does not read cannot
/// hold anything): sends `code` if given, or flushes a queued close reply.
pub(crate) fn close_ws(mut ws: Box<WsStream>, code: Option<CloseCode>) {
    tokio::spawn(async move {
        let frame = code.map(|code| CloseFrame {
            code,
            reason: "".into(),
        });
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            WebSocketStream::close(&mut ws, frame),
        )
        .await;
    });
}

fn from_tungstenite(
    msg: Option<Result<TMessage, tokio_tungstenite::tungstenite::Error>>,
) -> WsInput {
    match msg {
        Some(Ok(TMessage::Text(t))) => match Utf8Bytes::try_from_bytes(Bytes::from(t)) {
            Ok(t) => WsInput::Message(WsMessage::Text(t)),
            Err(_) => WsInput::Error(Some(CloseCode::Invalid)),
        },
        Some(Ok(TMessage::Binary(b))) => WsInput::Message(WsMessage::Binary(b)),
        Some(Ok(TMessage::Ping(_) | TMessage::Pong(_) | TMessage::Frame(_))) => WsInput::Ignore,
        Some(Ok(TMessage::Close(_))) => WsInput::Closed(true),
        None => WsInput::Closed(false),
        Some(Err(e)) => {
            tracing::debug!(%e, "websocket read error");
            WsInput::Error(close_code(&e))
        }
    }
}

impl<C: Connection> SessionTask<C> {
    /// The session task. An `async` block that owns `self` rather than an `async fn` taking it:
    /// an `async fn` moves its argument into a local and keeps the argument's slot as well, so
    /// every session's future held its state twice (616 bytes more, seen with
    /// `-Zprint-type-sizes`).
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would keep the task's state twice, see above"
    )]
    pub(crate) fn run(mut self) -> impl Future<Output = ()> {
        async move { self.drive().await }
    }

    async fn drive(&mut self) {
        let sid = self.session.sid();
        let mut waiting: Option<(u64, oneshot::Sender<HttpResponse>)> = None;
        let mut closed: Option<CloseReason> = None;
        // One timer for the session's whole life, moved only when the deadline changes (a
        // timer built on every pass is registered and removed on every pass).
        let timer = tokio::time::sleep_until(tokio::time::Instant::now());
        let mut timer = std::pin::pin!(timer);
        let mut armed: Option<tokio::time::Instant> = None;
        loop {
            // Running: a command queued from now on is taken by this pass without a wake-up.
            self.shared.idle.store(false, Ordering::Relaxed);
            self.flush_output(&mut waiting, &mut closed).await;
            if let Some(reason) = closed.take() {
                tracing::debug!(?sid, %reason, "engine.io session closed");
                let conn = &mut self.conn;
                if guarded(|| conn.on_close(&reason)) {
                    tracing::error!(?sid, "the close handler panicked");
                }
                break;
            }
            if self.tasks.len() < self.registry.max_tasks
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
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(d);
                }
                armed = deadline;
            }
            let can_read = self.tasks.len() < self.registry.max_tasks;
            tokio::select! {
                biased;
                wake = std::future::poll_fn(|cx| self.shared.poll_wait(cx)) => match wake {
                    Wake::Close => {
                        // What was queued before the close goes out first, as `close`
                        // promises (a DISCONNECT packet right before `disconnect(true)`).
                        while let Some(cmd) = self.shared.pop() {
                            self.on_cmd(cmd, &mut waiting);
                        }
                        self.session.close(now());
                    }
                    Wake::Cmd(cmd) => self.on_cmd(cmd, &mut waiting),
                    Wake::Ended => self.session.close(now()),
                },
                io = std::future::poll_fn(|cx| match self.ws.as_mut() {
                    Some(ws) => poll_ws_io(ws, can_read, &mut self.ws_dirty, &mut self.ws_reads, cx),
                    None => std::task::Poll::Pending,
                }), if self.ws.is_some() => match io {
                    WsIo::Input(input) => self.on_ws(input),
                    WsIo::FlushFailed => self.ws_write_failed(),
                    WsIo::FlushBlocked => self.flush_ws().await,
                },
                panicked = self.tasks.next() => {
                    if panicked {
                        tracing::error!(sid = ?self.session.sid(), "a handler panicked; closing its connection");
                        self.session.close(now());
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
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
        self.registry.remove(&sid);
        self.shared.close_queue();
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                WebSocketStream::close(&mut ws, None),
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
                            // A peer that stops reading blocks the write once the socket's
                            // buffers are full: bounded, then it counts as gone.
                            let fed =
                                within(self.registry.write_timeout, ws.feed(to_tungstenite(m)))
                                    .await;
                            if matches!(fed, Some(Ok(()))) {
                                wrote = true;
                            } else {
                                self.ws_write_failed();
                            }
                        }
                    }
                    Transmit::WsClose => {
                        if let Some(ws) = self.ws.take() {
                            // A slow peer must not stall the session: close in the background.
                            close_ws(ws, None);
                        }
                    }
                    _ => {}
                }
            }
            if wrote {
                // Flushed by the session loop once no more input is ready.
                self.ws_dirty = true;
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
                        self.run_fresh().await;
                    }
                    Event::Upgraded => {
                        let (conn, tasks) = (&mut self.conn, &mut self.tasks);
                        if guarded(|| conn.on_upgrade(tasks)) {
                            self.session.close(now());
                        }
                        self.run_fresh().await;
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

    /// Finishes a WebSocket flush that could not complete at once, bounded by the write
    /// timeout.
    async fn flush_ws(&mut self) {
        if let Some(ws) = self.ws.as_mut() {
            if matches!(
                within(self.registry.write_timeout, ws.flush()).await,
                Some(Ok(()))
            ) {
                self.ws_dirty = false;
                self.ws_reads = 0;
            } else {
                self.ws_write_failed();
            }
        }
    }

    /// A WebSocket write or flush failed or timed out: the WebSocket is gone.
    fn ws_write_failed(&mut self) {
        tracing::debug!("websocket write failed or timed out");
        self.ws = None;
        self.ws_dirty = false;
        self.session.handle_ws_closed(now());
    }

    /// Gives the task the connection added last its first poll now (see [`Tasks`]).
    async fn run_fresh(&mut self) {
        let tasks = &mut self.tasks;
        let panicked =
            std::future::poll_fn(|cx| std::task::Poll::Ready(tasks.poll_fresh(cx))).await;
        if panicked {
            tracing::error!(sid = ?self.session.sid(), "a handler panicked; closing its connection");
            self.session.close(now());
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
                if self.tasks.len() < self.registry.max_tasks {
                    self.post(body, reply);
                } else if let Err(e) = self.session.handle_post_start(now) {
                    let _ = reply.send(Err(e.to_response()));
                } else {
                    self.parked_post = Some((body, reply));
                }
            }
            Cmd::TransportError(e) => self.session.handle_transport_error(now, e),
            Cmd::Upgrade(ws) => {
                if self.ws.is_some() || self.session.handle_ws_open(now).is_err() {
                    close_ws(ws, None);
                } else {
                    self.ws = Some(ws);
                    self.ws_dirty = false;
                    self.ws_reads = 0;
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
            WsInput::Closed(by_peer) => {
                if let Some(mut ws) = self.ws.take()
                    && by_peer
                {
                    // Send tungstenite's queued reply (1002 for a close code not allowed on
                    // the wire); a write would be refused after the peer's close.
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                    });
                }
                self.session.handle_ws_closed(now);
            }
            WsInput::Error(code) => {
                if let Some(ws) = self.ws.take() {
                    close_ws(ws, code);
                }
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

/// Runs `fut` to completion, or gives up after `limit` (`None`). The timer is allocated only
/// when `fut` does not finish on its first poll (a write blocked on a peer that does not read):
/// an inline `tokio::time::Timeout` would grow every session task's future by a timer entry.
async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready(out) = first {
        return Some(out);
    }
    let timer = Box::pin(tokio::time::sleep(limit));
    tokio::select! {
        out = &mut fut => Some(out),
        () = timer => None,
    }
}

/// Most WebSocket messages one pass of the session loop reads before it handles them and
/// writes the replies.
const READ_BATCH: usize = 32;
