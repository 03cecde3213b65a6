//! The HTTP side: routes each request to the router or to a session task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use engineio_proto::{
    ConfigError, HttpResponse, Method, ProtocolError, RequestError, Route, Server, Transport,
};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::Instrument as _;

use super::session::{
    Cmd, EngineSocket, Refusal, Registry, SessionEntry, SessionTask, Shared, accept_ws, now,
};
use super::{Cors, EngineConfig, EngineHandler, Handshake, Tasks};

/// An Engine.IO server: a hyper-compatible request handler plus the sid registry.
///
/// Cheap to clone; every clone serves the same sessions.
pub struct Engine<H: EngineHandler> {
    inner: Arc<Inner<H>>,
}

impl<H: EngineHandler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: EngineHandler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.inner.config.path)
            .finish_non_exhaustive()
    }
}

struct Inner<H> {
    config: EngineConfig,
    router: Mutex<Server>,
    registry: Arc<Registry>,
    handler: H,
    next_poll: AtomicU64,
}

/// The response body type of the engine.
pub type EngineBody = Full<Bytes>;

impl<H: EngineHandler> Engine<H> {
    /// An engine serving `config.path` with `handler`, seeding its session-id generator from
    /// the operating system.
    ///
    /// # Panics
    ///
    /// When the operating system cannot provide 32 bytes of entropy.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the protocol settings are out of range.
    pub fn new(config: EngineConfig, handler: H) -> Result<Self, ConfigError> {
        let mut seed = [0u8; 32];
        // Session ids are bearer secrets: without the OS's entropy there is no safe server.
        getrandom::fill(&mut seed).expect("the operating system provides entropy");
        let router = Server::new(Arc::new(config.session.clone()), seed)?;
        let registry = Registry::new(config.max_concurrent_tasks, config.ws_write_timeout);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                router: Mutex::new(router),
                registry: Arc::new(registry),
                handler,
                next_poll: AtomicU64::new(0),
            }),
        })
    }

    /// The application handler.
    #[must_use]
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Number of open sessions.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// A watch of the number of open sessions: it changes when a session is registered and
    /// when a session's task has finished its cleanup, so a caller can wait for sessions to
    /// be gone (`rx.wait_for(|n| *n == 0)`) instead of polling [`Engine::session_count`].
    #[must_use]
    pub fn watch_session_count(&self) -> watch::Receiver<usize> {
        self.inner.registry.watch()
    }

    /// Closes every session (`forced close`).
    pub fn close_all(&self) {
        for e in self.inner.registry.entries() {
            e.shared.close();
        }
    }

    /// Whether a request path belongs to this engine (a prefix match, as the reference does).
    #[must_use]
    pub fn matches(&self, path: &str) -> bool {
        path.starts_with(&self.inner.config.path)
    }

    /// Handles one HTTP request for this engine's path.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<EngineBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let cors = self.cors_headers(&req);
        let mut res = if req.method() == http::Method::OPTIONS && self.inner.config.cors.is_some() {
            empty(StatusCode::NO_CONTENT)
        } else {
            self.route(req).await
        };
        let headers = res.headers_mut();
        for (k, v) in cors {
            headers.insert(k, v);
        }
        res
    }

    async fn route<B>(&self, mut req: Request<B>) -> Response<EngineBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = Method::from_name(req.method().as_str());
        let upgrade = is_ws_upgrade(req.headers());
        let query = req.uri().query().unwrap_or("").to_owned();
        let route = self
            .inner
            .router
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .route(method, &query, upgrade);
        let route = match route {
            Ok(r) => r,
            Err(e) => return error_response(&e, upgrade),
        };
        match route {
            Route::Handshake(incoming) => self.handshake(&mut req, incoming, upgrade),
            Route::Poll { sid } => match self.entry(sid) {
                Some(entry) => self.poll(entry).await,
                None => error_response(&RequestError::UnknownSid, false),
            },
            Route::Post { sid } => match self.entry(sid) {
                Some(entry) => self.post(entry, req).await,
                None => error_response(&RequestError::UnknownSid, false),
            },
            Route::Upgrade { sid } => match self.entry(sid) {
                Some(entry) => self.upgrade(&mut req, entry),
                None => error_response(&RequestError::UnknownSid, true),
            },
            _ => error_response(&RequestError::BadRequest, upgrade),
        }
    }

    fn entry(&self, sid: engineio_proto::Sid) -> Option<SessionEntry> {
        self.inner.registry.get(&sid)
    }

    fn handshake<B>(
        &self,
        req: &mut Request<B>,
        incoming: engineio_proto::Incoming,
        upgrade: bool,
    ) -> Response<EngineBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
    {
        let transport = incoming.transport();
        let parts = request_parts(req);
        if let Err(message) = self.inner.handler.allow_request(&parts) {
            tracing::debug!(%message, "handshake refused by allow_request");
            let refusal = self
                .inner
                .router
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .refuse(&incoming, Some(&message));
            return to_response(refusal);
        }
        let ip = req.extensions().get::<SocketAddr>().map(SocketAddr::ip);
        let admission = match self.inner.registry.admit(
            ip,
            self.inner.config.max_sessions,
            self.inner.config.max_sessions_per_ip,
        ) {
            Ok(a) => a,
            Err(refusal) => {
                tracing::debug!(?refusal, "handshake refused: session cap reached");
                let body = self
                    .inner
                    .router
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .refuse(&incoming, Some("Too many sessions"));
                let mut res = to_response(body);
                *res.status_mut() = match refusal {
                    Refusal::Server => StatusCode::SERVICE_UNAVAILABLE,
                    Refusal::Ip => StatusCode::TOO_MANY_REQUESTS,
                };
                return res;
            }
        };
        let ws_accept = if transport == Transport::WebSocket {
            match ws_accept_key(req.headers()) {
                Some(k) => Some(k),
                None => return error_response(&RequestError::BadRequest, upgrade),
            }
        } else {
            None
        };
        let session = self
            .inner
            .router
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accept(now(), incoming);
        let sid = session.sid();
        let shared = Arc::new(Shared::new(self.inner.config.command_capacity));
        let socket = EngineSocket::new(sid, Arc::clone(&shared));
        let handshake = Handshake {
            sid,
            transport,
            uri: detached_uri(req.uri()),
            headers: detached_headers(req.headers()),
            remote_addr: req.extensions().get::<SocketAddr>().copied(),
            issued: std::time::SystemTime::now(),
        };
        let mut tasks = Tasks::default();
        let conn = self.inner.handler.on_open(socket, handshake, &mut tasks);
        self.inner
            .registry
            .insert(sid, Arc::clone(&shared), admission);
        let mut task = SessionTask {
            session,
            conn,
            tasks,
            shared,
            ws: None,
            registry: Arc::clone(&self.inner.registry),
            parked_post: None,
            ws_dirty: false,
            ws_reads: 0,
        };
        match ws_accept {
            None => {
                let first = task.session.poll_transmit(now());
                tokio::spawn(task.run().instrument(session_span(sid)));
                match first {
                    Some(engineio_proto::Transmit::PollResponse(r)) => to_response(r),
                    _ => empty(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
            Some(accept) => {
                let on_upgrade = hyper::upgrade::on(req);
                let config = self.ws_config();
                let timeout = self.inner.config.upgrade_io_timeout;
                let registry = Arc::clone(&self.inner.registry);
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, on_upgrade).await {
                        Ok(Ok(upgraded)) => {
                            let ws = accept_ws(upgraded, config).await;
                            task.ws = Some(Box::new(ws));
                            // A task of its own, so the upgrade's state is freed.
                            tokio::spawn(task.run().instrument(session_span(sid)));
                        }
                        _ => registry.remove(&sid),
                    }
                });
                switching_protocols(&accept)
            }
        }
    }

    async fn poll(&self, entry: SessionEntry) -> Response<EngineBody> {
        let id = self.inner.next_poll.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        if entry.shared.push_http(Cmd::Poll { id, reply }).is_err() {
            return error_response(&RequestError::UnknownSid, false);
        }
        // If hyper drops this future (the client went away), tell the session.
        let guard = AbortGuard {
            shared: entry.shared,
            id,
            armed: true,
        };
        let result = rx.await;
        guard.disarm();
        match result {
            Ok(r) => to_response(r),
            Err(_) => error_response(&RequestError::UnknownSid, false),
        }
    }

    async fn post<B>(&self, entry: SessionEntry, req: Request<B>) -> Response<EngineBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // One POST at a time, as the reference: a second one while the first is still being
        // read or handled is refused before its body is read, and closes the session (A9).
        if entry.shared.posting.swap(true, Ordering::AcqRel) {
            let _ = entry
                .shared
                .push_http(Cmd::TransportError(ProtocolError::OverlappingPost));
            return empty(StatusCode::BAD_REQUEST);
        }
        let _posting = PostingGuard(Arc::clone(&entry.shared));
        let binary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
        if binary {
            let _ = entry
                .shared
                .push_http(Cmd::TransportError(ProtocolError::BinaryPost));
            return empty(StatusCode::BAD_REQUEST);
        }
        let max = usize::try_from(self.inner.config.session.max_payload).unwrap_or(usize::MAX);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.inner.config.session.max_payload) {
            let err = ProtocolError::PayloadTooLarge {
                len: usize::MAX,
                max: self.inner.config.session.max_payload,
            };
            let _ = entry.shared.push_http(Cmd::TransportError(err));
            return error_response(&RequestError::PayloadTooLarge, false);
        }
        let read = Limited::new(req.into_body(), max).collect();
        let Ok(read) = tokio::time::timeout(self.inner.config.body_read_timeout, read).await else {
            // A body that stalls (A12) must not hold the request, its connection and the
            // session: answer 408, which ends the connection, and close the session.
            tracing::debug!("polling body not received in time");
            let _ = entry
                .shared
                .push_http(Cmd::TransportError(ProtocolError::TransportFailure));
            let mut res = empty(StatusCode::REQUEST_TIMEOUT);
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return res;
        };
        let body = match read {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    let err = ProtocolError::PayloadTooLarge {
                        len: max + 1,
                        max: self.inner.config.session.max_payload,
                    };
                    let _ = entry.shared.push_http(Cmd::TransportError(err));
                    return error_response(&RequestError::PayloadTooLarge, false);
                }
                return empty(StatusCode::BAD_REQUEST);
            }
        };
        let (reply, rx) = oneshot::channel();
        if entry.shared.push_http(Cmd::Post { body, reply }).is_err() {
            return error_response(&RequestError::UnknownSid, false);
        }
        match rx.await {
            Ok(Ok(())) => to_response(HttpResponse::ok()),
            Ok(Err(r)) => to_response(r),
            Err(_) => error_response(&RequestError::UnknownSid, false),
        }
    }

    fn upgrade<B>(&self, req: &mut Request<B>, entry: SessionEntry) -> Response<EngineBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
    {
        let Some(accept) = ws_accept_key(req.headers()) else {
            return error_response(&RequestError::BadRequest, true);
        };
        let on_upgrade = hyper::upgrade::on(req);
        let config = self.ws_config();
        let timeout = self.inner.config.upgrade_io_timeout;
        tokio::spawn(async move {
            if let Ok(Ok(upgraded)) = tokio::time::timeout(timeout, on_upgrade).await {
                let ws = accept_ws(upgraded, config).await;
                if let Err(Cmd::Upgrade(mut ws)) =
                    entry.shared.push_http(Cmd::Upgrade(Box::new(ws)))
                {
                    // The session is gone: accept, then close (clients without an error
                    // handler need the 101 first).
                    let _ = ws.close(None).await;
                }
            }
        });
        switching_protocols(&accept)
    }

    fn ws_config(&self) -> WebSocketConfig {
        let max = usize::try_from(self.inner.config.session.max_payload).unwrap_or(usize::MAX);
        WebSocketConfig::default()
            .read_buffer_size(1024)
            // Frames collect until the session loop flushes (when no more input is ready) or
            // this much is pending, so replies to messages read together share one write.
            .write_buffer_size(WS_WRITE_BATCH)
            .max_message_size(Some(max))
            .max_frame_size(Some(max))
    }

    fn cors_headers<B>(&self, req: &Request<B>) -> Vec<(header::HeaderName, HeaderValue)> {
        let Some(cors) = &self.inner.config.cors else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let origin = req.headers().get(header::ORIGIN).cloned();
        match cors {
            Cors::Any => out.push((
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            )),
            Cors::Origins(list) => {
                let Some(origin) = origin else { return out };
                if !list.iter().any(|o| o.as_bytes() == origin.as_bytes()) {
                    return out;
                }
                out.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin));
                out.push((
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                ));
                out.push((header::VARY, HeaderValue::from_static("Origin")));
            }
        }
        out.push((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
        ));
        if let Some(h) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            out.push((header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone()));
        }
        out
    }
}

/// Tells the session its waiting GET went away when the request future is dropped early.
struct AbortGuard {
    shared: Arc<Shared>,
    id: u64,
    armed: bool,
}

impl AbortGuard {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.shared.push_http(Cmd::PollAborted { id: self.id });
        }
    }
}

/// Clears the session's POST-in-progress mark when the POST ends or its future is dropped.
struct PostingGuard(Arc<Shared>);

impl Drop for PostingGuard {
    fn drop(&mut self) {
        self.0.posting.store(false, Ordering::Release);
    }
}

/// A copy of the headers that owns its bytes: hyper's header values are slices of the
/// connection's 8 KiB read buffer, and keeping them would keep that buffer alive for the
/// whole session.
fn detached_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes());
        if let (Ok(name), Ok(v)) = (name, HeaderValue::from_bytes(value.as_bytes())) {
            out.append(name, v);
        }
    }
    out
}

/// A copy of the URI that owns its bytes (see [`detached_headers`]).
fn detached_uri(uri: &http::Uri) -> http::Uri {
    uri.path_and_query()
        .and_then(|pq| http::Uri::try_from(pq.as_str()).ok())
        .unwrap_or_default()
}

/// Bytes of WebSocket frames written before tungstenite writes them out without a flush.
const WS_WRITE_BATCH: usize = 16 * 1024;

/// The span every event of a session's task is recorded in. Only the id's first characters
/// appear: session ids are bearer secrets.
fn session_span(sid: engineio_proto::Sid) -> tracing::Span {
    tracing::debug_span!("engine.io session", sid = ?sid)
}

fn is_ws_upgrade(headers: &http::HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let connection = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    upgrade && connection
}

fn ws_accept_key(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    if !version_ok {
        return None;
    }
    HeaderValue::from_str(&derive_accept_key(key.as_bytes())).ok()
}

fn switching_protocols(accept: &HeaderValue) -> Response<EngineBody> {
    let mut res = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept.clone());
    res
}

fn request_parts<B>(req: &Request<B>) -> http::request::Parts {
    let mut b = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .version(req.version());
    if let Some(h) = b.headers_mut() {
        h.clone_from(req.headers());
    }
    let (mut parts, ()) = b.body(()).unwrap_or_default().into_parts();
    if let Some(addr) = req.extensions().get::<SocketAddr>() {
        parts.extensions.insert(*addr);
    }
    parts
}

fn error_response(e: &RequestError, upgrade: bool) -> Response<EngineBody> {
    let mut res = to_response(if upgrade {
        e.to_ws_response()
    } else {
        e.to_response()
    });
    if upgrade {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

pub(crate) fn to_response(r: HttpResponse) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(r.body));
    *res.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn empty(status: StatusCode) -> Response<EngineBody> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}
