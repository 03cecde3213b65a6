//! The Socket.IO server the official Socket.IO v5 test suite expects: `/socket.io/` on
//! 127.0.0.1:3000 (`PORT` overrides), pingInterval 300 ms, pingTimeout 200 ms, connectTimeout
//! 1000 ms, CORS `*`. Namespace `/` emits `auth` with the CONNECT payload, echoes `message` as
//! `message-back` and acknowledges `message-with-ack` with its arguments; namespace `/custom`
//! emits `auth`. Every other namespace is refused.

use std::time::Duration;

use socketio_server::engine::Cors;
use socketio_server::{Socket, SocketIo, SocketIoConfig};

fn on_main(socket: Socket) {
    let _ = socket.emit("auth", socket.auth());
    socket.on("message", |s, args, _| async move {
        let _ = s.emit_args("message-back", &args);
    });
    socket.on("message-with-ack", |_, args, ack| async move {
        if let Some(ack) = ack {
            let _ = ack.send_args(&args);
        }
    });
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut config = SocketIoConfig::default();
    config.engine.session.ping_interval = Duration::from_millis(300);
    config.engine.session.ping_timeout = Duration::from_millis(200);
    config.engine.cors = Some(Cors::Any);
    config.connect_timeout = Duration::from_millis(1000);
    let io = SocketIo::new(config).map_err(std::io::Error::other)?;
    io.ns("/", on_main);
    io.ns("/custom", |socket: Socket| {
        let _ = socket.emit("auth", socket.auth());
    });
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!(
        "socket.io conformance server on http://{}/socket.io/",
        listener.local_addr()?
    );
    io.serve(listener).await
}
