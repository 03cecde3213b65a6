//! A chat client: reads lines from stdin and sends them as `chat message` events; prints the
//! messages of others.
//!
//! ```sh
//! cargo run -p socketio-client --example chat -- http://127.0.0.1:3000 alice
//! ```
//!
//! The server is expected to broadcast `chat message` (as the Socket.IO chat tutorial does).
//! Lines typed while the connection is down are buffered and sent once it is back.

use socketio_client::{Manager, ManagerEvent};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let nick = args.next().unwrap_or_else(|| "anonymous".to_owned());

    let manager = Manager::builder(&url).build()?;
    let mut events = manager.events();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            match e {
                ManagerEvent::ReconnectAttempt(n) => eprintln!("* reconnecting (attempt {n})"),
                ManagerEvent::Reconnect(_) => eprintln!("* reconnected"),
                ManagerEvent::ReconnectFailed => eprintln!("* giving up"),
                _ => {}
            }
        }
    });

    let socket = manager
        .socket("/")
        .auth(&serde_json::json!({ "nick": nick }))
        .on("chat message", |_, (text,): (String,), _| async move {
            println!("{text}");
        })
        .on_connect(|s| eprintln!("* connected as {}", s.id().unwrap_or_default()))
        .on_disconnect(|_, reason| eprintln!("* disconnected: {reason}"))
        .on_connect_error(|_, e| eprintln!("* cannot connect: {}", e.message))
        .connect();

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" {
            break;
        }
        if let Err(e) = socket.emit("chat message", &(format!("{nick}: {line}"),)) {
            eprintln!("* not sent: {e}");
        }
    }
    socket.disconnect();
    // The last messages and the DISCONNECT are written before the runtime stops.
    socket.manager().closed().await;
    Ok(())
}
