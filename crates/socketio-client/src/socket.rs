//! Namespace sockets: handlers, emits, acks.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use socketio_proto::{AckId, EncodeError, Encoded, Namespace, Packet, Payload};
use tokio::sync::{oneshot, watch};

use crate::error::{AckError, ConnectError, EmitError, Error, ErrorKind};
use crate::manager::{AckWaiter, Manager, now};
use crate::sans_io::{AckFailure, BufferFull, DisconnectReason, EmitOptions, NamespaceConfig};

pub(crate) type AuthFn = Arc<dyn Fn() -> BoxFuture<'static, serde_json::Value> + Send + Sync>;

/// How a socket authenticates in its CONNECT packet.
#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    Static(Payload),
    Callback(AuthFn),
}

/// Where a socket stands, for [`Socket::wait_connected`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Idle,
    Connecting,
    Connected(String),
    Disconnected(DisconnectReason),
    Refused(ConnectError),
    Failed,
}

type EventFn =
    Arc<dyn Fn(Socket, Payload, Option<AckSender>) -> Option<BoxFuture<'static, ()>> + Send + Sync>;
type AnyFn =
    Arc<dyn Fn(Socket, String, Payload, Option<AckSender>) -> BoxFuture<'static, ()> + Send + Sync>;
type ConnectFn = Arc<dyn Fn(Socket) + Send + Sync>;
type DisconnectFn = Arc<dyn Fn(Socket, DisconnectReason) + Send + Sync>;
type ConnectErrorFn = Arc<dyn Fn(Socket, ConnectError) + Send + Sync>;

/// The handlers of one namespace socket.
#[derive(Default)]
pub(crate) struct Handlers {
    inner: Mutex<HandlerSet>,
}

#[derive(Default)]
struct HandlerSet {
    events: Vec<(String, EventFn)>,
    any: Vec<AnyFn>,
    connect: Vec<ConnectFn>,
    disconnect: Vec<DisconnectFn>,
    connect_error: Vec<ConnectErrorFn>,
}

impl Handlers {
    fn with<R>(&self, f: impl FnOnce(&mut HandlerSet) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn connect_handlers(&self) -> Vec<ConnectFn> {
        self.with(|h| h.connect.clone())
    }

    pub(crate) fn disconnect_handlers(&self) -> Vec<DisconnectFn> {
        self.with(|h| h.disconnect.clone())
    }

    pub(crate) fn connect_error_handlers(&self) -> Vec<ConnectErrorFn> {
        self.with(|h| h.connect_error.clone())
    }

    /// The futures of the handlers for one incoming event: the catch-all handlers first (as
    /// JS calls `onAny` listeners first), then the ones registered for the name. The ack
    /// sender goes to the first handler registered for the name, else to a catch-all one.
    pub(crate) fn event_futures(
        &self,
        socket: &Socket,
        name: &str,
        data: Payload,
        ack: Option<AckSender>,
    ) -> Vec<BoxFuture<'static, ()>> {
        let (any, named) = self.with(|h| {
            let named: Vec<EventFn> = h
                .events
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, f)| f.clone())
                .collect();
            (h.any.clone(), named)
        });
        let mut ack = ack;
        let mut out = Vec::new();
        let any_gets_ack = named.is_empty();
        for f in any {
            let a = if any_gets_ack { ack.take() } else { None };
            out.push(f(socket.clone(), name.to_owned(), data.clone(), a));
        }
        for f in named {
            if let Some(fut) = f(socket.clone(), data.clone(), ack.take()) {
                out.push(fut);
            }
        }
        out
    }
}

/// A socket of one namespace, on a [`Manager`]'s connection.
///
/// Cheap to clone; every clone is the same socket. Emits while not connected are buffered and
/// sent in order once connected (see [`SocketBuilder::max_buffered`] for the bound).
#[derive(Clone)]
pub struct Socket {
    manager: Manager,
    ns: Arc<str>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(manager: Manager, ns: String) -> Self {
        Self {
            manager,
            ns: ns.into(),
        }
    }

    pub(crate) fn handlers(&self) -> Arc<Handlers> {
        let mut st = self.manager.shared().lock();
        st.slot(&self.ns, NamespaceConfig::default())
            .handlers
            .clone()
    }

    fn status(&self) -> watch::Receiver<Status> {
        let mut st = self.manager.shared().lock();
        st.slot(&self.ns, NamespaceConfig::default())
            .status
            .subscribe()
    }

    /// The namespace.
    #[must_use]
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The manager this socket belongs to.
    #[must_use]
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The socket id the server gave, while connected.
    #[must_use]
    pub fn id(&self) -> Option<String> {
        let st = self.manager.shared().lock();
        st.sockets
            .get(&*self.ns)
            .and_then(|s| s.core.sid().map(str::to_owned))
    }

    /// Whether the socket is connected to its namespace.
    #[must_use]
    pub fn connected(&self) -> bool {
        let st = self.manager.shared().lock();
        st.sockets
            .get(&*self.ns)
            .is_some_and(|s| s.core.is_connected())
    }

    /// Whether the socket wants to be connected (it reconnects with the manager).
    #[must_use]
    pub fn active(&self) -> bool {
        let st = self.manager.shared().lock();
        st.sockets
            .get(&*self.ns)
            .is_some_and(|s| s.core.is_active())
    }

    /// Whether the last connect restored the previous session (the server's connection state
    /// recovery): the events missed while disconnected were delivered.
    #[must_use]
    pub fn recovered(&self) -> bool {
        let st = self.manager.shared().lock();
        st.sockets
            .get(&*self.ns)
            .is_some_and(|s| s.core.recovered())
    }

    /// Acknowledgements this socket waits for.
    #[must_use]
    pub fn pending_acks(&self) -> usize {
        let st = self.manager.shared().lock();
        st.sockets
            .get(&*self.ns)
            .map_or(0, |s| s.core.pending_acks())
    }

    /// Packets held in the offline buffer.
    #[must_use]
    pub fn buffered(&self) -> usize {
        let st = self.manager.shared().lock();
        st.sockets.get(&*self.ns).map_or(0, |s| s.core.buffered())
    }

    /// Handles event `event`: `T` is the argument list (a tuple for several arguments, one
    /// type for the first argument only, `()` for none; [`socketio_proto::Binary`] for binary
    /// values). The handler also gets the ack sender when the server waits for an answer.
    /// Events whose arguments do not match `T` are logged and skipped.
    pub fn on<T, F, Fut>(&self, event: &str, handler: F) -> &Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Self, T, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = event.to_owned();
        let f: EventFn = Arc::new(
            move |socket, data: Payload, ack| match data.event_args::<T>() {
                Ok(args) => Some(handler(socket, args, ack).boxed()),
                Err(e) => {
                    tracing::warn!(event = %name, error = %e, "event arguments do not match");
                    None
                }
            },
        );
        self.handlers()
            .with(|h| h.events.push((event.to_owned(), f)));
        self
    }

    /// Handles every event (the JS `onAny`): the handler gets the name and the raw payload
    /// (`[name, args...]`; decode it with [`Payload::event_args`]), and the ack sender when no
    /// handler is registered for that name.
    pub fn on_any<F, Fut>(&self, handler: F) -> &Self
    where
        F: Fn(Self, String, Payload, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: AnyFn = Arc::new(move |s, n, p, a| handler(s, n, p, a).boxed());
        self.handlers().with(|h| h.any.push(f));
        self
    }

    /// Removes the handlers of `event` (the JS `off(event)`).
    pub fn off(&self, event: &str) -> &Self {
        self.handlers()
            .with(|h| h.events.retain(|(n, _)| n != event));
        self
    }

    /// Removes the catch-all handlers (the JS `offAny()`).
    pub fn off_any(&self) -> &Self {
        self.handlers().with(|h| h.any.clear());
        self
    }

    /// Called each time the socket connects (or reconnects) to its namespace.
    pub fn on_connect(&self, handler: impl Fn(Self) + Send + Sync + 'static) -> &Self {
        self.handlers().with(|h| h.connect.push(Arc::new(handler)));
        self
    }

    /// Called each time the socket disconnects, with the reason.
    pub fn on_disconnect(
        &self,
        handler: impl Fn(Self, DisconnectReason) + Send + Sync + 'static,
    ) -> &Self {
        self.handlers()
            .with(|h| h.disconnect.push(Arc::new(handler)));
        self
    }

    /// Called when the server refuses the namespace (`CONNECT_ERROR`, after which the socket
    /// stays disconnected) and when a connection attempt fails (reconnection continues).
    pub fn on_connect_error(
        &self,
        handler: impl Fn(Self, ConnectError) + Send + Sync + 'static,
    ) -> &Self {
        self.handlers()
            .with(|h| h.connect_error.push(Arc::new(handler)));
        self
    }

    /// Connects to the namespace (again); a no-op while connected or connecting.
    pub fn connect(&self) -> &Self {
        let shared = self.manager.shared().clone();
        {
            let mut st = shared.lock();
            st.activate(now(), &self.ns, &shared.opts);
        }
        shared.wake.notify_one();
        self
    }

    /// Waits until the socket is connected.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectRefused`] (with the server's [`ConnectError`] as source) when the
    /// server refuses the namespace, [`ErrorKind::ReconnectFailed`] when the manager gives up
    /// (also after the one attempt made without reconnection), with the cause of the last
    /// failed attempt as source (the I/O error: `connection refused`, a name that does not
    /// resolve, a TLS failure; or the protocol failure), [`ErrorKind::Closed`] when the
    /// socket is disconnected and not trying.
    pub async fn wait_connected(&self) -> Result<(), Error> {
        let mut rx = self.status();
        loop {
            let status = rx.borrow_and_update().clone();
            match status {
                Status::Connected(_) => return Ok(()),
                Status::Refused(e) => {
                    return Err(Error::with_source(
                        ErrorKind::ConnectRefused,
                        "the server refused the namespace",
                        e,
                    ));
                }
                Status::Failed => {
                    let cause = self.manager.shared().lock().last_failure.clone();
                    return Err(match cause {
                        Some(cause) => Error::with_source(
                            ErrorKind::ReconnectFailed,
                            format!("the connection could not be established: {cause}"),
                            cause,
                        ),
                        None => Error::new(
                            ErrorKind::ReconnectFailed,
                            "the connection could not be established",
                        ),
                    });
                }
                Status::Idle => return Err(Error::new(ErrorKind::Closed, "socket not connecting")),
                // A disconnect reported after a new `connect` (the events reach the status
                // after the call) does not end the wait: the socket is trying again.
                Status::Disconnected(r) if !r.reconnects() && !self.active() => {
                    return Err(Error::new(ErrorKind::Closed, format!("socket closed: {r}")));
                }
                Status::Connecting | Status::Disconnected(_) => {}
            }
            if rx.changed().await.is_err() {
                return Err(Error::new(ErrorKind::Closed, "manager closed"));
            }
        }
    }

    /// Leaves the namespace: sends DISCONNECT, fires `on_disconnect` with
    /// `io client disconnect`, and does not reconnect. The manager's connection closes with
    /// its last socket.
    pub fn disconnect(&self) {
        let shared = self.manager.shared().clone();
        {
            let mut st = shared.lock();
            if let Some(slot) = st.sockets.get_mut(&*self.ns) {
                slot.core.disconnect();
            }
        }
        shared.wake.notify_one();
    }

    /// Emits `event` with `args` (a tuple for several arguments, `()` for none).
    ///
    /// # Errors
    ///
    /// [`EmitError::Encode`] for a reserved name or arguments serde cannot write,
    /// [`EmitError::BufferFull`] when disconnected with a full offline buffer (or connected
    /// with 65 536 packets already waiting for the transport),
    /// [`EmitError::Closed`] after [`Manager::close`].
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.emitter().emit(event, args)
    }

    /// Emits `event` and waits for the server's acknowledgement, decoded as `R` (the ack's
    /// argument list, as in [`Socket::on`]). Chain [`EmitWithAck::timeout`] for a deadline;
    /// the event is sent when the returned value is awaited.
    pub fn emit_with_ack<R, T>(&self, event: &str, args: &T) -> EmitWithAck<R>
    where
        R: DeserializeOwned,
        T: Serialize + ?Sized,
    {
        self.emitter().emit_with_ack(event, args)
    }

    /// Emits without buffering: the packet is dropped when it cannot be written at once.
    pub fn volatile(&self) -> Emitter {
        self.emitter().volatile()
    }

    /// Sets the ack deadline of the next emit (`socket.timeout(ms).emit(...)` in JS).
    pub fn timeout(&self, timeout: Duration) -> Emitter {
        self.emitter().timeout(timeout)
    }

    fn emitter(&self) -> Emitter {
        Emitter {
            socket: self.clone(),
            opts: EmitOptions::default(),
        }
    }

    fn send_event(
        &self,
        payload: Payload,
        waiter: Option<AckWaiter>,
        opts: EmitOptions,
    ) -> Result<(), EmitError> {
        let shared = self.manager.shared().clone();
        let result = {
            let mut st = shared.lock();
            if st.is_closed() {
                return Err(EmitError::Closed);
            }
            if st.congested() && !opts.volatile {
                return Err(EmitError::BufferFull);
            }
            let writable = st.writable();
            let slot = st.slot(&self.ns, NamespaceConfig::default());
            slot.core.emit(now(), payload, waiter, opts, writable)
        };
        shared.wake.notify_one();
        match result {
            Ok(_) => Ok(()),
            Err(BufferFull(_)) => Err(EmitError::BufferFull),
        }
    }

    pub(crate) fn send_ack(
        &self,
        id: AckId,
        encoded: Result<Encoded, EncodeError>,
    ) -> Result<(), EmitError> {
        let encoded = encoded?;
        let shared = self.manager.shared().clone();
        let sent = shared.lock().send_raw(&encoded);
        shared.wake.notify_one();
        let _ = id;
        if sent { Ok(()) } else { Err(EmitError::Closed) }
    }
}

/// Emit options for one emit: [`Socket::volatile`], [`Socket::timeout`].
#[derive(Debug)]
#[must_use]
pub struct Emitter {
    socket: Socket,
    opts: EmitOptions,
}

impl Emitter {
    /// Drop the packet instead of buffering it when it cannot be written right away.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Ack deadline for [`Emitter::emit_with_ack`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// Emits (see [`Socket::emit`]).
    ///
    /// # Errors
    ///
    /// As [`Socket::emit`].
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, args: &T) -> Result<(), EmitError> {
        let payload = event_payload(&self.socket.ns, event, args)?;
        self.socket.send_event(payload, None, self.opts)
    }

    /// Emits and waits for the acknowledgement (see [`Socket::emit_with_ack`]).
    pub fn emit_with_ack<R, T>(self, event: &str, args: &T) -> EmitWithAck<R>
    where
        R: DeserializeOwned,
        T: Serialize + ?Sized,
    {
        EmitWithAck {
            socket: self.socket.clone(),
            payload: event_payload(&self.socket.ns, event, args),
            opts: self.opts,
            _reply: PhantomData,
        }
    }
}

fn event_payload<T: Serialize + ?Sized>(
    ns: &str,
    event: &str,
    args: &T,
) -> Result<Payload, EncodeError> {
    let ns = Namespace::new(ns.to_owned()).unwrap_or_default();
    match Packet::event(ns, event, args, None)? {
        Packet::Event { data, .. } => Ok(data),
        _ => Err(EncodeError::Serialize("not an event".into())),
    }
}

/// An emit waiting for its acknowledgement; await it (it is sent then), optionally after
/// setting a [`timeout`](EmitWithAck::timeout).
#[must_use = "the event is sent when this is awaited"]
pub struct EmitWithAck<R> {
    socket: Socket,
    payload: Result<Payload, EncodeError>,
    opts: EmitOptions,
    _reply: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for EmitWithAck<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmitWithAck")
            .field("ns", &self.socket.ns)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> EmitWithAck<R> {
    /// Fails with [`AckError::Timeout`] if no reply comes within `timeout` (the pending entry
    /// is freed then; a late reply is ignored).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// Drops the packet instead of buffering it when it cannot be written right away.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Sends now and returns the future of the reply.
    pub fn send(self) -> AckFuture<R> {
        AckFuture {
            raw: self.raw(),
            _reply: PhantomData,
        }
    }

    /// Sends now and returns the future of the reply as it came, undecoded: a [`Payload`]
    /// holding the JSON array of the reply's arguments (binary values as their
    /// `{"_placeholder":true,"num":N}`) and the attachments the placeholders refer to, as the
    /// catch-all handlers of [`Socket::on_any`] get events. Decode it with
    /// [`Payload::ack_args`] (placeholders become [`Binary`](crate::Binary)) or read the
    /// JSON and the attachments; `R` plays no part.
    ///
    /// ```no_run
    /// # async fn f(socket: socketio_client::Socket) -> Result<(), socketio_client::AckError> {
    /// let reply = socket.emit_with_ack::<(), _>("echo", &(1, 2)).raw().await?;
    /// assert_eq!(reply.json(), "[1,2]");
    /// assert!(reply.attachments().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn raw(self) -> RawAckFuture {
        let payload = match self.payload {
            Ok(p) => p,
            Err(e) => return RawAckFuture::failed(EmitError::Encode(e).into()),
        };
        let (tx, rx) = oneshot::channel();
        match self.socket.send_event(payload, Some(tx), self.opts) {
            Ok(()) => RawAckFuture {
                rx: Some(rx),
                error: None,
                socket: Some(self.socket),
            },
            Err(e) => RawAckFuture::failed(e.into()),
        }
    }
}

impl<R: DeserializeOwned> IntoFuture for EmitWithAck<R> {
    type Output = Result<R, AckError>;
    type IntoFuture = AckFuture<R>;

    fn into_future(self) -> AckFuture<R> {
        self.send()
    }
}

/// The reply to an emit, decoded as `R`.
#[must_use = "futures do nothing unless awaited"]
pub struct AckFuture<R> {
    raw: RawAckFuture,
    _reply: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for AckFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckFuture").finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> Future for AckFuture<R> {
    type Output = Result<R, AckError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut this.raw).poll(cx).map(|reply| {
            reply.and_then(|payload| payload.ack_args::<R>().map_err(AckError::Decode))
        })
    }
}

/// The reply to an emit as it came (see [`EmitWithAck::raw`]).
#[must_use = "futures do nothing unless awaited"]
pub struct RawAckFuture {
    rx: Option<oneshot::Receiver<Result<Payload, AckFailure>>>,
    error: Option<AckError>,
    /// Told when the future is dropped before its reply, so the entry is freed.
    socket: Option<Socket>,
}

impl Drop for RawAckFuture {
    fn drop(&mut self) {
        if let (Some(_), Some(socket)) = (self.rx.take(), self.socket.take()) {
            let shared = socket.manager.shared();
            shared.lock().prune_acks = true;
            shared.wake.notify_one();
        }
    }
}

impl std::fmt::Debug for RawAckFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAckFuture").finish_non_exhaustive()
    }
}

impl RawAckFuture {
    fn failed(e: AckError) -> Self {
        Self {
            rx: None,
            error: Some(e),
            socket: None,
        }
    }
}

impl Future for RawAckFuture {
    type Output = Result<Payload, AckError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(Err(AckError::Emit(EmitError::Closed)));
        };
        match Pin::new(rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                this.rx = None;
                Poll::Ready(match result {
                    Ok(Ok(payload)) => Ok(payload),
                    Ok(Err(f)) => Err(f.into()),
                    Err(_) => Err(AckError::Emit(EmitError::Closed)),
                })
            }
        }
    }
}

/// Answers the server's `emitWithAck` for one event; sending consumes it, so an event is
/// answered at most once.
pub struct AckSender {
    socket: Socket,
    id: AckId,
}

impl std::fmt::Debug for AckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSender")
            .field("ns", &self.socket.ns)
            .field("id", &self.id)
            .finish()
    }
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: AckId) -> Self {
        Self { socket, id }
    }

    /// The ack id.
    #[must_use]
    pub fn id(&self) -> AckId {
        self.id
    }

    /// Sends the acknowledgement with `args` (a tuple for several arguments).
    ///
    /// # Errors
    ///
    /// [`EmitError::Encode`] when `args` cannot be serialised, [`EmitError::Closed`] when
    /// the connection is gone (the server has then given up on this ack anyway).
    pub fn send<T: Serialize + ?Sized>(self, args: &T) -> Result<(), EmitError> {
        let ns = Namespace::new(self.socket.ns.to_string()).unwrap_or_default();
        let encoded = Encoded::ack(&ns, self.id, args);
        self.socket.send_ack(self.id, encoded)
    }
}

/// Configures a namespace socket before it connects: auth, retries, handlers.
#[must_use]
pub struct SocketBuilder {
    socket: Socket,
    config: NamespaceConfig,
    auth: Option<Auth>,
}

impl std::fmt::Debug for SocketBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketBuilder")
            .field("ns", &self.socket.ns)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SocketBuilder {
    pub(crate) fn new(manager: Manager, ns: String) -> Self {
        let socket = Socket::new(manager, ns);
        // Registers the slot, so handlers can be added before connecting.
        let _ = socket.handlers();
        Self {
            socket,
            config: NamespaceConfig::default(),
            auth: None,
        }
    }

    /// The auth object sent in every CONNECT of this socket (binary values included). A value
    /// serde cannot write as JSON is logged and the socket connects without auth.
    pub fn auth<T: Serialize + ?Sized>(mut self, auth: &T) -> Self {
        self.auth = Some(match socketio_proto::to_payload(auth) {
            Ok(p) => Auth::Static(p),
            Err(e) => {
                tracing::warn!(error = %e, "auth cannot be serialised; connecting without");
                Auth::None
            }
        });
        self
    }

    /// An async callback producing the auth object, run before every CONNECT (so tokens can
    /// be refreshed on each reconnection).
    pub fn auth_with<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = serde_json::Value> + Send + 'static,
    {
        self.auth = Some(Auth::Callback(Arc::new(move || f().boxed())));
        self
    }

    /// At-least-once delivery (the JS `retries`): non-volatile emits are queued and sent one
    /// at a time; each is sent again, under a new ack id, until acknowledged or tried
    /// `retries + 1` times. Pair with [`SocketBuilder::ack_timeout`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.retries = Some(retries);
        self
    }

    /// The default ack deadline of this socket's emits (none: wait until disconnected).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.config.ack_timeout = Some(timeout);
        self
    }

    /// The most packets held while disconnected (1024); an emit beyond that fails with
    /// [`EmitError::BufferFull`] and the packets already held are kept.
    pub fn max_buffered(mut self, packets: usize) -> Self {
        self.config.max_buffered = packets;
        self
    }

    /// Registers an event handler (see [`Socket::on`]).
    pub fn on<T, F, Fut>(self, event: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Socket, T, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.socket.on(event, handler);
        self
    }

    /// Registers a catch-all handler (see [`Socket::on_any`]).
    pub fn on_any<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Socket, String, Payload, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.socket.on_any(handler);
        self
    }

    /// See [`Socket::on_connect`].
    pub fn on_connect(self, handler: impl Fn(Socket) + Send + Sync + 'static) -> Self {
        self.socket.on_connect(handler);
        self
    }

    /// See [`Socket::on_disconnect`].
    pub fn on_disconnect(
        self,
        handler: impl Fn(Socket, DisconnectReason) + Send + Sync + 'static,
    ) -> Self {
        self.socket.on_disconnect(handler);
        self
    }

    /// See [`Socket::on_connect_error`].
    pub fn on_connect_error(
        self,
        handler: impl Fn(Socket, ConnectError) + Send + Sync + 'static,
    ) -> Self {
        self.socket.on_connect_error(handler);
        self
    }

    /// The socket, configured but not connecting yet (emits are buffered).
    pub fn build(self) -> Socket {
        {
            let shared = self.socket.manager.shared().clone();
            let mut st = shared.lock();
            let slot = st.slot(&self.socket.ns, self.config.clone());
            if !slot.core.is_active() && slot.core.buffered() == 0 && slot.core.queued() == 0 {
                slot.core =
                    crate::sans_io::NamespaceSocket::new(slot.core.ns().clone(), self.config);
            }
            if let Some(auth) = self.auth {
                slot.auth = auth;
            }
        }
        self.socket
    }

    /// The socket, connecting (the JS `autoConnect`); see [`Socket::wait_connected`].
    pub fn connect(self) -> Socket {
        let socket = self.build();
        socket.connect();
        socket
    }
}
