//! Our client against our server on loopback: the shared scenarios (transports, namespaces,
//! auth, acks, binary, rooms, offline buffering, reconnection, retries, disconnect reasons)
//! and what needs no server.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod scenarios;

use std::sync::Arc;
use std::time::Duration;

use scenarios::WAIT;
use socketio_client::{ErrorKind, Manager, ManagerEvent};
use socketio_server::{Binary, ConnectError, SocketIo, SocketIoConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// A server the tests can kill and restart on the same port.
struct Server {
    io: SocketIo,
    port: u16,
    task: JoinHandle<()>,
    /// `(event, args JSON)` for every event the server handled.
    seen: mpsc::UnboundedReceiver<(String, String)>,
}

impl Server {
    async fn start(port: u16) -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        let io = SocketIo::new(SocketIoConfig::default()).unwrap();
        let tx2 = tx.clone();
        io.ns("/", move |socket: socketio_server::Socket| {
            let tx = tx2.clone();
            socket.on("echo", |s, args, ack| async move {
                match ack {
                    Some(ack) => drop(ack.send_args(&args)),
                    None => drop(s.emit_args("echo", &args)),
                }
            });
            socket.on("noreply", |_, _, _| async move {});
            let t = tx.clone();
            socket.on("record", move |_, args, ack| {
                let t = t.clone();
                async move {
                    let _ = t.send(("record".into(), args.json_array()));
                    if let Some(ack) = ack {
                        let _ = ack.send(&());
                    }
                }
            });
            // Acks only the second delivery of each id: the first ack is "lost".
            let t = tx;
            let tries = Arc::new(std::sync::Mutex::new(
                std::collections::HashMap::<u64, u32>::new(),
            ));
            socket.on("job", move |_, args, ack| {
                let t = t.clone();
                let tries = tries.clone();
                async move {
                    let (id,): (u64,) = args.decode().unwrap();
                    let n = {
                        let mut m = tries.lock().unwrap();
                        let n = m.entry(id).or_insert(0);
                        *n += 1;
                        *n
                    };
                    let _ = t.send(("job".into(), format!(r#"["{id}:{n}"]"#)));
                    if n >= 2
                        && let Some(ack) = ack
                    {
                        let _ = ack.send(&(id,));
                    }
                }
            });
            socket.on("upload", |s, args, ack| async move {
                let (name, data): (String, Binary) = args.decode().unwrap();
                let len = data.len();
                let _ = s.emit("stored", &(name, len, data));
                if let Some(ack) = ack {
                    let _ = ack.send(&(len,));
                }
            });
            socket.on("ask", |s, args, _| async move {
                // The server's emitWithAck to the client, then the answer back.
                let (question, wait_ms): (String, u64) = args.decode().unwrap();
                let reply = s
                    .emit_with_ack("question", &(question,), Duration::from_millis(wait_ms))
                    .await;
                let text = match reply {
                    Ok(args) => args.first::<String>().unwrap_or_default(),
                    Err(socketio_server::AckError::Timeout(_)) => "timeout".to_owned(),
                    Err(_) => "error".to_owned(),
                };
                let _ = s.emit("answer", &(text,));
            });
            socket.on("join", |s, args, ack| async move {
                let room: String = args.first().unwrap();
                s.join(&room);
                if let Some(ack) = ack {
                    let _ = ack.send(&());
                }
            });
            socket.on("shout", |s, args, _| async move {
                let (room, text): (String, String) = args.decode().unwrap();
                let _ = s.to(room).emit("shout", &text);
            });
            socket.on("kick", |s, _, _| async move {
                s.disconnect();
            });
        });
        io.ns("/admin", |socket: socketio_server::Socket| {
            let _ = socket.emit("welcome", &("admin",));
            socket.on("echo", |_, args, ack| async move {
                if let Some(ack) = ack {
                    let _ = ack.send_args(&args);
                }
            });
        })
        .use_middleware(|s: socketio_server::Socket| async move {
            if s.auth()["token"] == "secret" {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized").with_data(serde_json::json!({"code": 7})))
            }
        });
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn({
            let io = io.clone();
            async move {
                let _ = io.serve(listener).await;
            }
        });
        Self {
            io,
            port,
            task,
            seen,
        }
    }

    /// Stops accepting and closes every session, like a process that goes away.
    fn kill(&self) {
        self.task.abort();
        self.io.close();
    }

    async fn next_seen(&mut self) -> (String, String) {
        timeout(WAIT, self.seen.recv()).await.unwrap().unwrap()
    }
}

#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
impl scenarios::Backend for Server {
    async fn start(port: u16) -> Self {
        Self::start(port).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    async fn kill(self) {
        Self::kill(&self);
    }

    async fn next_seen(&mut self) -> (String, String) {
        Self::next_seen(self).await
    }
}

#[tokio::test]
async fn every_transport_mode_connects_emits_and_acks() {
    scenarios::every_transport_mode_connects_emits_and_acks::<Server>().await;
}

#[tokio::test]
async fn two_namespaces_share_one_connection() {
    scenarios::two_namespaces_share_one_connection::<Server>().await;
}

#[tokio::test]
async fn auth_is_accepted_or_refused_with_message_and_data() {
    scenarios::auth_is_accepted_or_refused_with_message_and_data::<Server>().await;
}

#[tokio::test]
async fn auth_callback_runs_again_on_reconnection() {
    scenarios::auth_callback_runs_again_on_reconnection::<Server>().await;
}

#[tokio::test]
async fn acks_both_ways_with_timeouts() {
    scenarios::acks_both_ways_with_timeouts::<Server>().await;
}

#[tokio::test]
async fn binary_both_ways() {
    scenarios::binary_both_ways::<Server>().await;
}

#[tokio::test]
async fn server_broadcast_reaches_the_room() {
    scenarios::server_broadcast_reaches_the_room::<Server>().await;
}

#[tokio::test]
async fn offline_emits_are_delivered_in_order_after_a_server_restart() {
    scenarios::offline_emits_are_delivered_in_order_after_a_server_restart::<Server>().await;
}

#[tokio::test]
async fn reconnection_backs_off_within_bounds_and_resets() {
    scenarios::reconnection_backs_off_within_bounds_and_resets::<Server>().await;
}

#[tokio::test]
async fn retries_deliver_each_event_once_when_the_first_ack_is_lost() {
    scenarios::retries_deliver_each_event_once_when_the_first_ack_is_lost::<Server>().await;
}

#[tokio::test]
async fn server_side_disconnect_does_not_reconnect() {
    scenarios::server_side_disconnect_does_not_reconnect::<Server>().await;
}

#[tokio::test]
async fn client_disconnect_does_not_reconnect_and_fails_pending_acks() {
    scenarios::client_disconnect_does_not_reconnect_and_fails_pending_acks::<Server>().await;
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    // A port with nothing listening.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let manager = Manager::builder(&format!("http://127.0.0.1:{port}"))
        .reconnection_delay(Duration::from_millis(10))
        .reconnection_delay_max(Duration::from_millis(20))
        .reconnection_attempts(3)
        .build()
        .unwrap();
    let mut events = manager.events();
    let socket = manager.socket("/").connect();
    let err = socket.wait_connected().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReconnectFailed);
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    let attempts = seen
        .iter()
        .filter(|e| matches!(e, ManagerEvent::ReconnectAttempt(_)))
        .count();
    assert_eq!(attempts, 3, "{seen:?}");
    assert_eq!(seen.last(), Some(&ManagerEvent::ReconnectFailed));
}
