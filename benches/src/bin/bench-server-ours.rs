//! The socketio-rs server under test in the end-to-end benchmark suite (`benches/run.py`).
//!
//! One tokio worker (a `current_thread` runtime), default Engine.IO settings (ping 25 s / 20 s,
//! maxPayload 1 MB, both transports, no permessage-deflate). Binds 127.0.0.1:`$PORT` (`0`
//! picks a free port) and prints `listening <port>` once bound.
//!
//! Handlers, the same in every server of the suite:
//! - `echo` (one argument, acknowledged): acknowledges with the decoded argument;
//! - `join` (room name, acknowledged): joins the room, acknowledges `true`;
//! - `fan` (one argument): emits `m` with the decoded argument to the room `bench`.

use std::io::Write;

use serde_json::Value;
use socketio_server::{Socket, SocketIo, SocketIoConfig};

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut config = SocketIoConfig::default();
        config.engine.session.max_payload = 1_000_000;
        let io = SocketIo::new(config).map_err(std::io::Error::other)?;
        io.ns("/", |socket: Socket| {
            socket.on("echo", |_, args, ack| async move {
                if let (Ok(v), Some(ack)) = (args.first::<Value>(), ack) {
                    let _ = ack.send(&(v,));
                }
            });
            socket.on("join", |s, args, ack| async move {
                if let Ok(room) = args.first::<String>() {
                    s.join(&room);
                }
                if let Some(ack) = ack {
                    let _ = ack.send(&true);
                }
            });
            socket.on("fan", |s, args, _| async move {
                if let Ok(v) = args.first::<Value>() {
                    let _ = s.to("bench").emit("m", &(v,));
                }
            });
        });
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        announce(listener.local_addr()?.port())?;
        io.serve(listener).await
    })
}

fn announce(port: u16) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()
}
