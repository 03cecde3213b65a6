//! The floor of the end-to-end benchmark suite (`benches/run.py`): a bare tokio-tungstenite
//! WebSocket server that speaks just enough Engine.IO/Socket.IO by string rewriting, with no
//! JSON work, so that `ours / floor` reads as "how close to no protocol work at all".
//!
//! One tokio worker (a `current_thread` runtime), one task per connection, a 4 KiB WebSocket
//! read buffer (tungstenite's 128 KiB default would cost ~137 KB per socket), 1 MB message
//! limit, no permessage-deflate, no heartbeat. Binds 127.0.0.1:`$PORT` (`0` picks a free port)
//! and prints `listening <port>` once bound. Only WebSocket sessions (`transport=websocket`).
//!
//! Wire behaviour, the same shape as the real servers' handlers:
//! - on accept: sends the open packet `0{...}`;
//! - `40` → `40{"sid":...}`;
//! - `42<id>["echo",X]` → `43<id>[X]`;
//! - `42<id>["join",...]` → subscribes to the one room, `43<id>[true]`;
//! - `42["fan",X]` → `42["m",X]` to every room member, one shared buffer for all.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

static NEXT_SID: AtomicU64 = AtomicU64::new(1);

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        announce(listener.local_addr()?.port())?;
        let (room, _) = broadcast::channel::<Utf8Bytes>(1024);
        loop {
            let (stream, _) = listener.accept().await?;
            let room = room.clone();
            tokio::spawn(async move {
                let _ = connection(stream, room).await;
            });
        }
    })
}

/// What a text message from the client asks for.
enum Reply {
    None,
    Send(String),
    Join(String),
    Fan(String),
}

fn rewrite(text: &str) -> Reply {
    if text == "40" {
        let sid = NEXT_SID.fetch_add(1, Ordering::Relaxed);
        return Reply::Send(format!("40{{\"sid\":\"f{sid}\"}}"));
    }
    let Some(rest) = text.strip_prefix("42") else {
        return Reply::None;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, body) = rest.split_at(digits);
    if let Some(arg) = body.strip_prefix("[\"echo\",") {
        Reply::Send(format!("43{id}[{arg}"))
    } else if body.starts_with("[\"join\",") {
        Reply::Join(format!("43{id}[true]"))
    } else if let Some(arg) = body.strip_prefix("[\"fan\",") {
        Reply::Fan(format!("42[\"m\",{arg}"))
    } else {
        Reply::None
    }
}

async fn connection(
    stream: TcpStream,
    room: broadcast::Sender<Utf8Bytes>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(1_000_000))
        .max_frame_size(Some(1_000_000));
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let sid = NEXT_SID.fetch_add(1, Ordering::Relaxed);
    let open = format!(
        "0{{\"sid\":\"f{sid}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
    );
    ws.send(Message::text(open)).await?;
    let mut member: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        let incoming = tokio::select! {
            m = ws.next() => m,
            b = recv(&mut member) => {
                if let Ok(frame) = b {
                    ws.send(Message::Text(frame)).await?;
                }
                continue;
            }
        };
        let Some(msg) = incoming else { return Ok(()) };
        let Message::Text(text) = msg? else { continue };
        match rewrite(text.as_str()) {
            Reply::None => {}
            Reply::Send(s) => ws.send(Message::text(s)).await?,
            Reply::Join(s) => {
                member = Some(room.subscribe());
                ws.send(Message::text(s)).await?;
            }
            Reply::Fan(s) => {
                let _ = room.send(Utf8Bytes::from(s));
            }
        }
    }
}

async fn recv(
    member: &mut Option<broadcast::Receiver<Utf8Bytes>>,
) -> Result<Utf8Bytes, broadcast::error::RecvError> {
    match member {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn announce(port: u16) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(r: Reply) -> Option<String> {
        match r {
            Reply::Send(s) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn echo_with_ack_is_rewritten_to_an_ack_with_the_same_argument() {
        assert_eq!(
            sent(rewrite("4217[\"echo\",\"abc\"]")).as_deref(),
            Some("4317[\"abc\"]")
        );
    }

    #[test]
    fn join_and_fan_are_recognised() {
        assert!(matches!(rewrite("420[\"join\",\"bench\"]"), Reply::Join(s) if s == "430[true]"));
        assert!(
            matches!(rewrite("42[\"fan\",{\"a\":1}]"), Reply::Fan(s) if s == "42[\"m\",{\"a\":1}]")
        );
        assert!(matches!(rewrite("3"), Reply::None));
        assert!(sent(rewrite("40")).is_some_and(|s| s.starts_with("40{\"sid\":")));
    }
}
