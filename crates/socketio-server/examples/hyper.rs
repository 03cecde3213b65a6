//! Socket.IO in a plain hyper server with its own routes: requests under `/socket.io/` go to
//! `SocketIo::handle`, the rest to the application. Listens on 127.0.0.1:3000 (`PORT`
//! overrides).
//!
//! ```sh
//! cargo run -p socketio-server --example hyper
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use socketio_server::{Socket, SocketIo, SocketIoConfig};

async fn route(io: SocketIo, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if io.engine().matches(req.uri().path()) {
        return Ok(io.handle(req).await);
    }
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello from hyper",
    ))))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(SocketIoConfig::default()).map_err(std::io::Error::other)?;
    io.ns("/", |socket: Socket| {
        socket.on("echo", |s, args, _| async move {
            let _ = s.emit_args("echo", &args);
        });
    });
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let io = io.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| route(io.clone(), req));
            // `with_upgrades` lets WebSocket upgrades through.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}
