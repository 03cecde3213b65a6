//! The Engine.IO echo server the official Engine.IO v4 test suite expects: `/engine.io/` on
//! 127.0.0.1:3000 (`PORT` overrides), pingInterval 300 ms, pingTimeout 200 ms, maxPayload
//! 1e6, both transports, CORS `*`; every message is sent back unchanged.

use std::time::Duration;

use engineio_proto::{CloseReason, Frame, Message};
use socketio_server::engine::{
    Connection, Cors, Engine, EngineConfig, EngineHandler, EngineSocket, Handshake, Tasks,
};

struct Echo;

struct EchoConnection(EngineSocket);

impl EngineHandler for Echo {
    type Connection = EchoConnection;

    fn on_open(&self, socket: EngineSocket, _: Handshake, _: &mut Tasks) -> EchoConnection {
        EchoConnection(socket)
    }
}

impl Connection for EchoConnection {
    fn on_message(&mut self, msg: Message, _: &mut Tasks) {
        let _ = self.0.send(Frame::message(msg));
    }

    fn on_close(&mut self, _: &CloseReason) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut config = EngineConfig::default();
    config.session.ping_interval = Duration::from_millis(300);
    config.session.ping_timeout = Duration::from_millis(200);
    config.cors = Some(Cors::Any);
    let engine = Engine::new(config, Echo).map_err(std::io::Error::other)?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!(
        "engine.io conformance server on http://{}/engine.io/",
        listener.local_addr()?
    );
    socketio_server::serve_with(listener, move |req| {
        let engine = engine.clone();
        async move {
            if engine.matches(req.uri().path()) {
                engine.handle(req).await
            } else {
                socketio_server::not_found()
            }
        }
    })
    .await
}
