//! Bytes on the wire: TCP or TLS streams, polling requests over hyper, the WebSocket over
//! tungstenite.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use engineio_proto::{HttpRequest, HttpResult, Method, Utf8Bytes, WsMessage};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as TFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::error::{Error, ErrorKind};

/// Where the Engine.IO endpoint is and how to reach it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The Engine.IO path, with a trailing slash (`/socket.io/`).
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) max_payload: u64,
    pub(crate) pool: Arc<Pool>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    async fn connect(&self) -> Result<Stream, Error> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| Error::with_source(ErrorKind::Io, describe_io(&e), e))?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
            Error::with_source(ErrorKind::Tls, format!("invalid server name: {e}"), e)
        })?;
        let stream = TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                Error::with_source(ErrorKind::Tls, format!("TLS handshake failed: {e}"), e)
            })?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

/// An I/O error in a few words: `connection refused` for a plain OS error (without its
/// number), the message otherwise (`failed to lookup address information: ...`).
fn describe_io(e: &io::Error) -> String {
    if e.get_ref().is_none() {
        e.kind().to_string()
    } else {
        e.to_string()
    }
}

/// A TCP stream, with or without TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Performs one polling request (on an idle keep-alive connection or a fresh one). A body
/// larger than `max_payload` is an error too; the caller hands every error to the session as
/// `HttpResult::Failed` and keeps it as the cause.
pub(crate) async fn http(ep: &Endpoint, req: HttpRequest) -> Result<HttpResult, Error> {
    let mut request = build_request(ep, req)?;
    // An idle keep-alive connection first; a request it could not even send (the server
    // closed it meanwhile) goes out on the next one, or on a fresh connection.
    while let Some(mut sender) = ep.pool.take() {
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => return read_response(ep, sender, response).await,
            Err(mut e) => match e.take_message() {
                Some(r) => request = r,
                None => {
                    let e = e.into_error();
                    return Err(Error::with_source(
                        ErrorKind::Http,
                        format!("request failed: {e}"),
                        e,
                    ));
                }
            },
        }
    }
    let stream = ep.connect().await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| {
            Error::with_source(ErrorKind::Http, format!("HTTP handshake failed: {e}"), e)
        })?;
    // The connection ends when its last sender is dropped (taken out of the pool, or with the
    // pool when the manager goes away).
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Error::with_source(ErrorKind::Http, format!("request failed: {e}"), e))?;
    read_response(ep, sender, response).await
}

fn build_request(ep: &Endpoint, req: HttpRequest) -> Result<Request<Full<Bytes>>, Error> {
    let method = match req.method {
        Method::Post => http::Method::POST,
        _ => http::Method::GET,
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}?{}", ep.path, req.query))
        .header(http::header::HOST, ep.authority());
    if let Some(h) = builder.headers_mut() {
        for (k, v) in &ep.headers {
            h.append(k, v.clone());
        }
        if req.body.is_some() {
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain;charset=UTF-8"),
            );
        }
    }
    builder
        .body(Full::new(req.body.unwrap_or_default()))
        .map_err(|e| Error::with_source(ErrorKind::Http, "invalid request", e))
}

async fn read_response(
    ep: &Endpoint,
    sender: Sender,
    response: http::Response<hyper::body::Incoming>,
) -> Result<HttpResult, Error> {
    let status = response.status().as_u16();
    let limit = usize::try_from(ep.max_payload).unwrap_or(usize::MAX);
    let body = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| Error::new(ErrorKind::Http, format!("cannot read response body: {e}")))?
        .to_bytes();
    ep.pool.put(sender);
    Ok(HttpResult::Response { status, body })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle keep-alive connections for polling requests: at most two (one long-poll GET and one
/// POST are in flight at a time).
#[derive(Default)]
pub(crate) struct Pool(Mutex<Vec<Sender>>);

impl Pool {
    const MAX_IDLE: usize = 2;

    fn take(&self) -> Option<Sender> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Drops every idle connection (a new Engine.IO connection starts on fresh ones).
    pub(crate) fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn put(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < Self::MAX_IDLE {
            idle.push(sender);
        }
    }
}

/// An open WebSocket, split into a writer channel and a reader task.
pub(crate) type WsStream = WebSocketStream<Stream>;

/// Opens the WebSocket to the Engine.IO path.
pub(crate) async fn ws_open(ep: &Endpoint, query: &str) -> Result<WsStream, Error> {
    let stream = ep.connect().await?;
    let url = format!("ws://{}{}?{}", ep.authority(), ep.path, query);
    let mut request = url
        .into_client_request()
        .map_err(|e| Error::with_source(ErrorKind::WebSocket, "invalid WebSocket request", e))?;
    for (k, v) in &ep.headers {
        request.headers_mut().append(k, v.clone());
    }
    let limit = usize::try_from(ep.max_payload).unwrap_or(usize::MAX);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorKind::WebSocket,
                format!("WebSocket handshake failed: {e}"),
                e,
            )
        })?;
    Ok(ws)
}

/// What the reader half of a WebSocket reports.
#[derive(Debug)]
pub(crate) enum WsInput {
    Message(WsMessage),
    /// The peer closed the WebSocket.
    Closed,
    /// The WebSocket failed (a protocol error, an oversized message, a reset).
    Failed,
}

/// Runs a WebSocket: frames from `out` are written (`None` closes it), frames read are sent
/// to `input` (waiting when it is full, which stops reading) until the socket closes. Ends
/// when either side ends.
pub(crate) async fn ws_run<T: Send>(
    ws: WsStream,
    mut out: mpsc::UnboundedReceiver<Option<WsMessage>>,
    input: mpsc::Sender<T>,
    wrap: impl Fn(WsInput) -> T + Send,
) {
    let (mut sink, mut stream) = ws.split();
    let end = loop {
        tokio::select! {
            msg = out.recv() => match msg {
                Some(Some(m)) => {
                    if sink.send(to_tungstenite(m)).await.is_err() {
                        break WsInput::Failed;
                    }
                }
                Some(None) | None => {
                    // The closing handshake: the peer's Close comes back before the socket is
                    // dropped, so nothing unread is left to turn the TCP close into a reset
                    // (which can make the peer discard frames it has not read yet). The
                    // manager bounds this wait (`close_timeout`).
                    if sink.close().await.is_ok() {
                        while let Some(Ok(m)) = stream.next().await {
                            if m.is_close() {
                                break;
                            }
                        }
                    }
                    return;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(TMessage::Text(t))) => match Utf8Bytes::try_from_bytes(Bytes::from(t)) {
                    Ok(t) => {
                        if input.send(wrap(WsInput::Message(WsMessage::Text(t)))).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => break WsInput::Failed,
                },
                Some(Ok(TMessage::Binary(b))) => {
                    if input.send(wrap(WsInput::Message(WsMessage::Binary(b)))).await.is_err() {
                        return;
                    }
                }
                Some(Ok(TMessage::Ping(_) | TMessage::Pong(_) | TMessage::Frame(_))) => {}
                Some(Ok(TMessage::Close(_))) | None => break WsInput::Closed,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "WebSocket failed");
                    break ws_error(&e);
                }
            },
        }
    };
    let _ = input.send(wrap(end)).await;
}

/// A connection that just ends (reset, no closing handshake) is a close, as the JS client
/// reports it; a violation of the WebSocket protocol or the size limit is an error.
fn ws_error(e: &tokio_tungstenite::tungstenite::Error) -> WsInput {
    use tokio_tungstenite::tungstenite::Error as E;
    use tokio_tungstenite::tungstenite::error::ProtocolError as P;
    match e {
        E::ConnectionClosed
        | E::AlreadyClosed
        | E::Io(_)
        | E::Protocol(P::ResetWithoutClosingHandshake) => WsInput::Closed,
        _ => WsInput::Failed,
    }
}

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
