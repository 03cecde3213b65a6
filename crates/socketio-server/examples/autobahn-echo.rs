//! A WebSocket echo server for the Autobahn test suite (`interop/autobahn/run.sh`, case B18
//! of the reliability catalogue): the WebSocket layer of the engine without Engine.IO on top.
//!
//! It upgrades through hyper and runs tokio-tungstenite with the engine's settings (1 KiB read
//! buffer, no write buffering, message and frame limits), and answers a read error with the
//! close code the engine sends (1002 protocol, 1009 size, 1007 UTF-8). The message limit is
//! 16 MiB here, the largest Autobahn message, so the limit cases measure the framing rather
//! than the limit.
//!
//! Binds 127.0.0.1:`$PORT` (required; `0` picks a free port) and prints `listening <port>`.

use std::io::Write;

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};

const MAX_MESSAGE: usize = 16 << 20;

fn close_code(e: &Error) -> Option<CloseCode> {
    match e {
        Error::Protocol(_) => Some(CloseCode::Protocol),
        Error::Capacity(_) => Some(CloseCode::Size),
        Error::Utf8(_) => Some(CloseCode::Invalid),
        _ => None,
    }
}

async fn echo(upgraded: hyper::upgrade::Upgraded) {
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).await.is_err() {
                    return;
                }
            }
            Ok(Message::Close(_)) => {
                // Send tungstenite's queued reply.
                let _ = ws.flush().await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(code) = close_code(&e) {
                    let frame = CloseFrame {
                        code,
                        reason: "".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                }
                return;
            }
        }
    }
}

async fn handle(mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let key = req.headers().get("sec-websocket-key").cloned();
    let Some(key) = key else {
        let mut res = Response::new(Full::new(Bytes::from_static(b"websocket only")));
        *res.status_mut() = StatusCode::BAD_REQUEST;
        return res;
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            echo(upgraded).await;
        }
    });
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = derive_accept_key(key.as_bytes()).parse() {
        h.insert("sec-websocket-accept", accept);
    }
    res
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").map_err(|_| std::io::Error::other("PORT is required"))?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let bound = listener.local_addr()?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {bound}")?;
    stdout.flush()?;
    drop(stdout);
    socketio_server::serve_with(listener, handle).await
}
