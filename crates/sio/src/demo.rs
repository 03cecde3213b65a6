//! The demo behaviour of `sio serve` (documented in its `--help`): echo with ack, rooms,
//! broadcasts to a room, and a `/chat` namespace with nicknames.

use serde_json::{Value, json};
use socketio_server::{Args, Broadcast, Socket, SocketIo};

/// Longest nickname accepted from the `/chat` auth payload, in characters.
const MAX_NAME: usize = 32;

/// Registers the demo namespaces on `io`; `log` prints connects and disconnects on stderr.
pub(crate) fn register(io: &SocketIo, log: bool) {
    io.ns("/", move |socket: Socket| {
        if log {
            log_connect(&socket);
        }
        socket.on_disconnect(move |s, reason| {
            if log {
                log_disconnect(&s, &reason);
            }
        });
        main_ns(&socket);
    });
    io.ns("/chat", move |socket: Socket| {
        if log {
            log_connect(&socket);
        }
        socket.on_disconnect(move |s, reason| {
            if log {
                log_disconnect(&s, &reason);
            }
            let _ = s.broadcast().emit("left", &json!({ "name": nick(&s) }));
        });
        chat_ns(&socket);
    });
}

fn log_connect(socket: &Socket) {
    let hs = socket.handshake();
    let from = hs
        .remote_addr
        .map_or_else(|| "?".to_owned(), |a| a.to_string());
    eprintln!(
        "sio: connect {} {} from {from} ({})",
        socket.ns(),
        socket.id(),
        hs.transport
    );
}

fn log_disconnect(socket: &Socket, reason: &str) {
    eprintln!("sio: disconnect {} {}: {reason}", socket.ns(), socket.id());
}

/// The socket's rooms without its own room, sorted.
fn rooms(socket: &Socket) -> Vec<String> {
    let mut rooms: Vec<String> = socket
        .rooms()
        .into_iter()
        .filter(|r| r != socket.id())
        .collect();
    rooms.sort();
    rooms
}

fn main_ns(socket: &Socket) {
    let _ = socket.emit("welcome", &socket.id());
    socket.on("echo", |s, args, ack| async move {
        let _ = match ack {
            Some(ack) => ack.send_args(&args),
            None => s.emit_args("echo", &args),
        };
    });
    socket.on("join", |s, args, ack| async move {
        if let Ok(room) = args.first::<String>() {
            s.join(&room);
        }
        if let Some(ack) = ack {
            let _ = ack.send(&(rooms(&s),));
        }
    });
    socket.on("leave", |s, args, ack| async move {
        if let Ok(room) = args.first::<String>() {
            s.leave(&room);
        }
        if let Some(ack) = ack {
            let _ = ack.send(&(rooms(&s),));
        }
    });
    socket.on("to-room", |s, args: Args, ack| async move {
        let Ok(room) = args.first::<String>() else {
            return;
        };
        let to = s.to(room);
        let recipients = recipients(&to).await;
        let _ = to.emit_args("room-message", &args);
        if let Some(ack) = ack {
            let _ = ack.send(&recipients);
        }
    });
    socket.on("broadcast", |s, args, ack| async move {
        let to = s.broadcast();
        let recipients = recipients(&to).await;
        let _ = to.emit_args("broadcast", &args);
        if let Some(ack) = ack {
            let _ = ack.send(&recipients);
        }
    });
}

/// How many sockets a broadcast reaches: on every server of a cluster (`--redis`), or on
/// this one when the others cannot be asked.
async fn recipients(to: &Broadcast) -> usize {
    match to.fetch_sockets().await {
        Ok(sockets) => sockets.len(),
        Err(_) => to.sockets().len(),
    }
}

/// A `/chat` socket's nickname, kept in its extensions.
#[derive(Clone, Debug)]
struct Nick(String);

fn nick(socket: &Socket) -> String {
    socket
        .extensions()
        .get::<Nick>()
        .map(|n| n.0.clone())
        .unwrap_or_default()
}

fn chat_ns(socket: &Socket) {
    let name = match socket.auth().get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.trim().chars().take(MAX_NAME).collect(),
        _ => format!("anon-{}", socket.id().chars().take(6).collect::<String>()),
    };
    socket.extensions().insert(Nick(name.clone()));
    let others = socket.broadcast();
    let users: Vec<String> = others.sockets().iter().map(nick).collect();
    let _ = socket.emit("welcome", &json!({ "name": name, "users": users }));
    let _ = others.emit("joined", &json!({ "name": name }));
    socket.on("message", |s, args, ack| async move {
        let text: String = args.first().unwrap_or_default();
        let to = s.broadcast();
        let recipients = to.sockets().len();
        let _ = to.emit("message", &json!({ "from": nick(&s), "text": text }));
        if let Some(ack) = ack {
            let _ = ack.send(&recipients);
        }
    });
}
