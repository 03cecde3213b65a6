//! Bytes on the wire: TCP or TLS streams, polling requests over hyper, the WebSocket over
//! tungstenite.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
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
            .map_err(|e| Error::with_source(ErrorKind::Io, "cannot connect", e))?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| Error::with_source(ErrorKind::Tls, "invalid server name", e))?;
        let stream = TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| Error::with_source(ErrorKind::Tls, "TLS handshake failed", e))?;
        Ok(Stream::Tls(Box::new(stream)))
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

/// Performs one polling request on a fresh connection. Every failure is `HttpResult::Failed`;
/// a body larger than `max_payload` is one too.
pub(crate) async fn http(ep: &Endpoint, req: HttpRequest) -> HttpResult {
    match try_http(ep, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "polling request failed");
            HttpResult::Failed
        }
    }
}

async fn try_http(ep: &Endpoint, req: HttpRequest) -> Result<HttpResult, Error> {
    let stream = ep.connect().await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::with_source(ErrorKind::Http, "HTTP handshake failed", e))?;
    let conn = tokio::spawn(conn);
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
    let request = builder
        .body(Full::new(req.body.unwrap_or_default()))
        .map_err(|e| Error::with_source(ErrorKind::Http, "invalid request", e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Error::with_source(ErrorKind::Http, "request failed", e))?;
    let status = response.status().as_u16();
    let limit = usize::try_from(ep.max_payload).unwrap_or(usize::MAX);
    let body = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| Error::new(ErrorKind::Http, format!("cannot read response body: {e}")))?
        .to_bytes();
    drop(sender);
    conn.abort();
    Ok(HttpResult::Response { status, body })
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
        .map_err(|e| Error::with_source(ErrorKind::WebSocket, "WebSocket handshake failed", e))?;
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

/// Runs a WebSocket: frames from `out` are written (`None` closes it), frames read are
/// forwarded to `input` until the socket closes. Ends when either side ends.
pub(crate) async fn ws_run(
    ws: WsStream,
    mut out: mpsc::UnboundedReceiver<Option<WsMessage>>,
    input: impl Fn(WsInput) + Send,
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
                    let _ = sink.close().await;
                    return;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(TMessage::Text(t))) => match Utf8Bytes::try_from_bytes(Bytes::from(t)) {
                    Ok(t) => input(WsInput::Message(WsMessage::Text(t))),
                    Err(_) => break WsInput::Failed,
                },
                Some(Ok(TMessage::Binary(b))) => input(WsInput::Message(WsMessage::Binary(b))),
                Some(Ok(TMessage::Ping(_) | TMessage::Pong(_) | TMessage::Frame(_))) => {}
                Some(Ok(TMessage::Close(_))) | None => break WsInput::Closed,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "WebSocket failed");
                    break WsInput::Failed;
                }
            },
        }
    };
    input(end);
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
