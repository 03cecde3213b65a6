//! The server the interop suite (`interop/tests/*.test.mjs`) drives with the official npm
//! `socket.io-client` and `engine.io-client`.
//!
//! Binds 127.0.0.1:`$PORT` (required; `0` picks a free port) with the default configuration
//! (path `/socket.io/`, default ping interval and timeout) and prints `listening <port>` on
//! stdout once bound.
//!
//! Namespace `/`:
//! - on connect: emits `welcome` with the socket id;
//! - `echo` (any args, binary included): emits `echo` with the same args;
//! - `ack` (any args): acknowledges with the same args;
//! - `join` (room): joins the room, then acknowledges `true` if asked;
//! - `to-room` (room, payload): emits `room-message` with payload to the room, sender excluded;
//! - `broadcast-except` (room, payload): emits `broadcast-message` with payload to the whole
//!   namespace except the room's members (sender included if not a member);
//! - `ask-ack` (payload): emits `question` with payload and waits up to 2 s for the client's
//!   acknowledgement, then emits `answer` with the first reply argument, or `"timeout"`;
//! - `disconnect-me`: disconnects the socket from the server side;
//! - `last-reason`: acknowledges with the most recent disconnect reason the server saw
//!   (any namespace; `""` before the first disconnect);
//! - `await-disconnect` (socket id): acknowledges with the reason once that socket has
//!   disconnected, or `"timeout"` after 5 s.
//!
//! With `CONNECTION_STATE_RECOVERY=1` in the environment, connection state recovery is on
//! (reference defaults): CONNECT replies carry a `pid` and events an offset. With
//! `MAX_PACKETS_PER_POLL=N`, a polling response holds at most N packets.
//!
//! Namespace `/admin`: a middleware accepts only the auth `{"token":"secret"}` and refuses
//! anything else with `not authorized` and data `{"reason":"bad token"}`; on connect, emits
//! `welcome-admin` with the auth.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socketio_server::{
    AckError, ConnectError, ConnectionStateRecovery, Socket, SocketIo, SocketIoConfig,
};
use tokio::sync::watch;

/// The most recent disconnect (socket id, reason), shared by every socket.
type LastReason = Arc<watch::Sender<(String, String)>>;

fn record_disconnects(socket: &Socket, last: &LastReason) {
    let last = Arc::clone(last);
    socket.on_disconnect(move |s, reason| {
        last.send_replace((s.id().to_owned(), reason));
    });
}

fn on_main(io: &SocketIo, socket: &Socket, last: &LastReason) {
    record_disconnects(socket, last);
    let _ = socket.emit("welcome", &socket.id());
    socket.on("echo", |s, args, _| async move {
        let _ = s.emit_args("echo", &args);
    });
    socket.on("ack", |_, args, ack| async move {
        if let Some(ack) = ack {
            let _ = ack.send_args(&args);
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
    socket.on("to-room", |s, args, _| async move {
        if let Ok((room, payload)) = args.decode::<(String, Value)>() {
            let _ = s.to(room).emit("room-message", &(payload,));
        }
    });
    let io2 = io.clone();
    socket.on("broadcast-except", move |_, args, _| {
        let io = io2.clone();
        async move {
            if let (Ok((room, payload)), Some(ns)) = (args.decode::<(String, Value)>(), io.of("/"))
            {
                let _ = ns
                    .broadcast()
                    .except(room)
                    .emit("broadcast-message", &(payload,));
            }
        }
    });
    socket.on("ask-ack", |s, args, _| async move {
        let payload = args.first::<Value>().unwrap_or(Value::Null);
        let answer = match s
            .emit_with_ack("question", &(payload,), Duration::from_secs(2))
            .await
        {
            Ok(reply) => reply.first::<Value>().unwrap_or(Value::Null),
            Err(AckError::Timeout(_)) => json!("timeout"),
            Err(e) => json!(e.to_string()),
        };
        let _ = s.emit("answer", &(answer,));
    });
    socket.on("disconnect-me", |s, _, _| async move {
        s.disconnect();
    });
    let last2 = Arc::clone(last);
    socket.on("last-reason", move |_, _, ack| {
        let reason = last2.borrow().1.clone();
        async move {
            if let Some(ack) = ack {
                let _ = ack.send(&reason);
            }
        }
    });
    let last = Arc::clone(last);
    socket.on("await-disconnect", move |_, args, ack| {
        let mut rx = last.subscribe();
        async move {
            let id = args.first::<String>().unwrap_or_default();
            let seen = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|(s, _)| *s == id))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|r| r.1.clone());
            if let Some(ack) = ack {
                let _ = ack.send(&seen.unwrap_or_else(|| "timeout".to_owned()));
            }
        }
    });
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").map_err(|_| std::io::Error::other("PORT is required"))?;
    let mut config = SocketIoConfig::default();
    if std::env::var("CONNECTION_STATE_RECOVERY").is_ok_and(|v| v == "1") {
        config.connection_state_recovery = Some(ConnectionStateRecovery::default());
    }
    if let Some(n) = std::env::var("MAX_PACKETS_PER_POLL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.engine.session.max_packets_per_poll = Some(n);
    }
    let io = SocketIo::new(config).map_err(std::io::Error::other)?;
    let last: LastReason = Arc::new(watch::Sender::new((String::new(), String::new())));

    let (io2, last2) = (io.clone(), Arc::clone(&last));
    io.ns("/", move |socket: Socket| on_main(&io2, &socket, &last2));

    let last2 = Arc::clone(&last);
    let admin = io.ns("/admin", move |socket: Socket| {
        record_disconnects(&socket, &last2);
        let _ = socket.emit("welcome-admin", socket.auth());
    });
    admin.use_middleware(|socket: Socket| {
        let ok = socket.auth() == &json!({ "token": "secret" });
        async move {
            if ok {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized").with_data(json!({ "reason": "bad token" })))
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let bound = listener.local_addr()?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {bound}")?;
    stdout.flush()?;
    drop(stdout);
    io.serve(listener).await
}
