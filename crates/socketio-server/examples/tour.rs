//! The server API of the README's tour, compiled: a main namespace with a welcome event,
//! rooms, and a chat event relayed to a room with an acknowledgement. Listens on
//! 127.0.0.1:3000.
//!
//! ```sh
//! cargo run -p socketio-server --example tour
//! ```

use socketio_server::{Socket, SocketIo, SocketIoConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let io = SocketIo::new(SocketIoConfig::default())?;
    io.ns("/", |socket: Socket| {
        let _ = socket.emit("welcome", &socket.id());
        socket.on("join", |s, args, _| async move {
            if let Ok(room) = args.first::<String>() {
                s.join(&room);
            }
        });
        socket.on("chat", |s, args, ack| async move {
            let (room, text): (String, String) = args.decode().unwrap_or_default();
            let _ = s.to(room).emit("chat", &text); // the room, without the sender
            if let Some(ack) = ack {
                let _ = ack.send(&"delivered");
            }
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    io.serve(listener).await?;
    Ok(())
}
