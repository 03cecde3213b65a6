//! socketioxide (crates.io) under test in the end-to-end benchmark suite (`benches/run.py`),
//! served by hyper's HTTP/1 connection with upgrades, as its own examples do.
//!
//! One tokio worker (a `current_thread` runtime), ping 25 s / 20 s, maxPayload 1 MB, both
//! transports, a per-socket buffer of 256 packets (our server's command capacity). Binds
//! 127.0.0.1:`$PORT` (`0` picks a free port) and prints `listening <port>` once bound.
//!
//! Handlers, the same in every server of the suite:
//! - `echo` (one argument, acknowledged): acknowledges with the decoded argument;
//! - `join` (room name, acknowledged): joins the room, acknowledges `true`;
//! - `fan` (one argument): emits `m` with the decoded argument to the room `bench`.

use std::io::Write;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (svc, io) = SocketIo::builder()
            .max_payload(1_000_000)
            .max_buffer_size(256)
            .build_svc();
        io.ns("/", async |socket: SocketRef| {
            socket.on("echo", async |Data::<Value>(v), ack: AckSender| {
                let _ = ack.send(&v);
            });
            socket.on(
                "join",
                async |socket: SocketRef, Data::<String>(room), ack: AckSender| {
                    socket.join(room);
                    let _ = ack.send(&true);
                },
            );
            socket.on("fan", async |socket: SocketRef, Data::<Value>(v)| {
                let _ = socket.to("bench").emit("m", &v).await;
            });
        });
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        announce(listener.local_addr()?.port())?;
        loop {
            let (stream, _) = listener.accept().await?;
            let svc = svc.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    })
}

fn announce(port: u16) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()
}
