//! Socket.IO inside an axum application: `SocketIoLayer` takes `/socket.io/`, the router
//! serves everything else. Listens on 127.0.0.1:3000 (`PORT` overrides).
//!
//! ```sh
//! cargo run -p socketio-server --example axum
//! ```

use axum::Router;
use axum::routing::get;
use socketio_server::{Socket, SocketIo, SocketIoConfig, SocketIoLayer};

fn on_connect(socket: Socket) {
    let _ = socket.emit("welcome", &socket.id());
    socket.on("chat", |s, args, _| async move {
        if let Ok(text) = args.first::<String>() {
            let _ = s.broadcast().emit("chat", &text);
        }
    });
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(SocketIoConfig::default()).map_err(std::io::Error::other)?;
    io.ns("/", on_connect);
    let app = Router::new()
        .route(
            "/",
            get(|| async { "Hello from axum; Socket.IO is at /socket.io/" }),
        )
        .layer(SocketIoLayer::new(io));
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
