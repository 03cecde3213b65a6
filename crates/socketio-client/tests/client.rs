//! Our client against our server on loopback: transports, namespaces, auth, acks, binary,
//! rooms, offline buffering, reconnection, retries, disconnect reasons.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use socketio_client::{
    AckError, AckSender, Binary, DisconnectReason, ErrorKind, Manager, ManagerEvent, Socket,
    Transport, TransportMode,
};
use socketio_server::{ConnectError, SocketIo, SocketIoConfig};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(10);

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
                    let _ = t.send(("job".into(), format!("{id}:{n}")));
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

fn builder(url: &str) -> socketio_client::ManagerBuilder {
    Manager::builder(url)
        .reconnection_delay(Duration::from_millis(50))
        .reconnection_delay_max(Duration::from_millis(200))
}

async fn next_event(rx: &mut broadcast::Receiver<ManagerEvent>) -> ManagerEvent {
    timeout(WAIT, rx.recv()).await.unwrap().unwrap()
}

async fn wait_for(
    rx: &mut broadcast::Receiver<ManagerEvent>,
    pred: impl Fn(&ManagerEvent) -> bool,
) -> ManagerEvent {
    loop {
        let e = next_event(rx).await;
        if pred(&e) {
            return e;
        }
    }
}

/// A channel of the named event's first argument (as JSON).
fn collect(socket: &Socket, event: &str) -> mpsc::UnboundedReceiver<serde_json::Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.on(event, move |_, (v,): (serde_json::Value,), _| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(v);
        }
    });
    rx
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    timeout(WAIT, rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn every_transport_mode_connects_emits_and_acks() {
    let server = Server::start(0).await;
    for mode in [
        TransportMode::PollingThenUpgrade,
        TransportMode::WebSocketOnly,
        TransportMode::PollingOnly,
    ] {
        let manager = builder(&server.url()).transports(mode).build().unwrap();
        let mut events = manager.events();
        let socket = manager.socket("/").build();
        let mut echoes = collect(&socket, "echo");
        socket.connect();
        socket.wait_connected().await.unwrap();
        assert!(socket.id().is_some());
        if mode == TransportMode::PollingThenUpgrade {
            wait_for(&mut events, |e| *e == ManagerEvent::Upgrade).await;
        }
        let expected = match mode {
            TransportMode::PollingOnly => Transport::Polling,
            _ => Transport::WebSocket,
        };
        assert_eq!(manager.transport(), Some(expected), "{mode:?}");
        socket.emit("echo", &("plain",)).unwrap();
        assert_eq!(recv(&mut echoes).await, "plain");
        let (a, b): (String, u32) = socket
            .emit_with_ack("echo", &("x", 5))
            .timeout(WAIT)
            .await
            .unwrap();
        assert_eq!((a.as_str(), b), ("x", 5), "{mode:?}");
        socket.disconnect();
        assert!(!socket.connected());
    }
}

#[tokio::test]
async fn two_namespaces_share_one_connection() {
    let server = Server::start(0).await;
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let main = manager.socket("/").connect();
    let admin = manager
        .socket("/admin")
        .auth(&serde_json::json!({"token": "secret"}))
        .build();
    let mut welcome = collect(&admin, "welcome");
    admin.connect();
    main.wait_connected().await.unwrap();
    admin.wait_connected().await.unwrap();
    assert_eq!(recv(&mut welcome).await, "admin");
    assert_ne!(main.id(), admin.id());
    let (m,): (String,) = main.emit_with_ack("echo", &("m",)).await.unwrap();
    let (a,): (String,) = admin.emit_with_ack("echo", &("a",)).await.unwrap();
    assert_eq!((m.as_str(), a.as_str()), ("m", "a"));
    // One Engine.IO handshake for both.
    assert_eq!(next_event(&mut events).await, ManagerEvent::Open);
    // `io(url)` shares one manager per server across namespaces, unless force_new.
    let s1 = socketio_client::io(builder(&format!("{}/", server.url())))
        .unwrap()
        .connect();
    let s2 = socketio_client::io(builder(&format!("{}/admin", server.url())))
        .unwrap()
        .auth(&serde_json::json!({"token": "secret"}))
        .connect();
    let s3 = socketio_client::io(builder(&format!("{}/admin", server.url())).force_new(true))
        .unwrap()
        .auth(&serde_json::json!({"token": "secret"}))
        .connect();
    for s in [&s1, &s2, &s3] {
        s.wait_connected().await.unwrap();
    }
    assert!(s1.manager().same_connection(s2.manager()));
    assert!(!s2.manager().same_connection(s3.manager()));
    // Leaving one namespace keeps the other one connected.
    admin.disconnect();
    let (m,): (String,) = main.emit_with_ack("echo", &("still",)).await.unwrap();
    assert_eq!(m, "still");
    assert!(manager.is_open());
}

#[tokio::test]
async fn auth_is_accepted_or_refused_with_message_and_data() {
    let server = Server::start(0).await;
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let (tx, mut errors) = mpsc::unbounded_channel();
    let refused = manager
        .socket("/admin")
        .auth(&serde_json::json!({"token": "wrong"}))
        .on_connect_error(move |_, e| {
            let _ = tx.send(e);
        })
        .connect();
    let err = refused.wait_connected().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectRefused);
    let e = recv(&mut errors).await;
    assert_eq!(e.message, "not authorized");
    assert_eq!(
        e.data::<serde_json::Value>().unwrap(),
        serde_json::json!({"code": 7})
    );
    assert!(!refused.active(), "a refused socket does not retry");
    // The refused socket was the only one: the connection closes, and nothing reconnects.
    wait_for(&mut events, |e| {
        *e == ManagerEvent::Close(DisconnectReason::ForcedClose)
    })
    .await;

    // The auth callback runs before every CONNECT, so a reconnection sends a fresh token.
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let manager = builder(&server.url()).build().unwrap();
    let admin = manager
        .socket("/admin")
        .auth_with(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { serde_json::json!({"token": "secret", "n": n}) }
        })
        .connect();
    admin.wait_connected().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn auth_callback_runs_again_on_reconnection() {
    let server = Server::start(0).await;
    let port = server.port;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let (tx, mut connects) = mpsc::unbounded_channel();
    let admin = manager
        .socket("/admin")
        .auth_with(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { serde_json::json!({"token": "secret", "n": n}) }
        })
        .on_connect(move |s| {
            let _ = tx.send(s.id());
        })
        .connect();
    let first = recv(&mut connects).await;
    server.kill();
    drop(server);
    wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await;
    let _server = Server::start(port).await;
    let second = recv(&mut connects).await;
    assert_ne!(first, second);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(admin.connected());
}

#[tokio::test]
async fn acks_both_ways_with_timeouts() {
    let server = Server::start(0).await;
    let manager = builder(&server.url()).build().unwrap();
    let socket = manager
        .socket("/")
        .on(
            "question",
            |_, (q,): (String,), ack: Option<AckSender>| async move {
                if q == "ignore me" {
                    return; // the server's emitWithAck times out
                }
                ack.unwrap().send(&(format!("re: {q}"),)).unwrap();
            },
        )
        .build();
    let mut answers = collect(&socket, "answer");
    socket.connect();
    socket.wait_connected().await.unwrap();

    // Client to server: a reply, and a timeout that fires although no reply ever comes.
    let (v,): (u32,) = socket.emit_with_ack("echo", &(7,)).await.unwrap();
    assert_eq!(v, 7);
    let started = Instant::now();
    let err = socket
        .emit_with_ack::<(), _>("noreply", &())
        .timeout(Duration::from_millis(150))
        .await
        .unwrap_err();
    assert_eq!(err, AckError::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(socket.pending_acks(), 0, "the timed-out entry is freed");
    // The JS form: socket.timeout(ms).emitWithAck(...).
    let err = socket
        .timeout(Duration::from_millis(50))
        .emit_with_ack::<(), _>("noreply", &())
        .await
        .unwrap_err();
    assert_eq!(err, AckError::Timeout);

    // Server to client: the handler answers through its ack sender, or not at all.
    socket.emit("ask", &("hello", 2000)).unwrap();
    assert_eq!(recv(&mut answers).await, "re: hello");
    socket.emit("ask", &("ignore me", 100)).unwrap();
    assert_eq!(recv(&mut answers).await, "timeout");

    // A reply of the wrong shape is a typed decode error.
    let err = socket
        .emit_with_ack::<(u32,), _>("echo", &("not a number",))
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Decode(_)));
}

#[tokio::test]
async fn binary_both_ways() {
    let server = Server::start(0).await;
    for mode in [TransportMode::PollingOnly, TransportMode::WebSocketOnly] {
        let manager = builder(&server.url()).transports(mode).build().unwrap();
        let (tx, mut stored) = mpsc::unbounded_channel();
        let socket = manager
            .socket("/")
            .on(
                "stored",
                move |_, (name, len, data): (String, usize, Binary), _| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send((name, len, data));
                    }
                },
            )
            .connect();
        socket.wait_connected().await.unwrap();
        let payload: Vec<u8> = (0..=255).collect();
        let (len,): (usize,) = socket
            .emit_with_ack("upload", &("a.bin", Binary::from(payload.clone())))
            .await
            .unwrap();
        assert_eq!(len, 256);
        let (name, len, data) = recv(&mut stored).await;
        assert_eq!((name.as_str(), len), ("a.bin", 256));
        assert_eq!(&data[..], &payload[..], "{mode:?}");
        socket.disconnect();
    }
}

#[tokio::test]
async fn server_broadcast_reaches_the_room() {
    let server = Server::start(0).await;
    let mut sockets = Vec::new();
    let mut inboxes = Vec::new();
    for _ in 0..3 {
        let manager = builder(&server.url()).build().unwrap();
        let socket = manager.socket("/").build();
        inboxes.push(collect(&socket, "shout"));
        socket.connect();
        socket.wait_connected().await.unwrap();
        sockets.push(socket);
    }
    for s in &sockets[..2] {
        s.emit_with_ack::<(), _>("join", &("r",)).await.unwrap();
    }
    // The third socket shouts to the room it is not in; a member shouts too.
    sockets[2].emit("shout", &("r", "from outside")).unwrap();
    assert_eq!(recv(&mut inboxes[0]).await, "from outside");
    assert_eq!(recv(&mut inboxes[1]).await, "from outside");
    sockets[0].emit("shout", &("r", "from inside")).unwrap();
    assert_eq!(recv(&mut inboxes[1]).await, "from inside");
    // A round trip on the third socket, then check it received nothing.
    sockets[2]
        .emit_with_ack::<(), _>("join", &("other",))
        .await
        .unwrap();
    assert!(inboxes[2].try_recv().is_err());
    assert!(inboxes[0].try_recv().is_err(), "the sender is excluded");
}

#[tokio::test]
async fn offline_emits_are_delivered_in_order_after_a_server_restart() {
    let mut server = Server::start(0).await;
    let port = server.port;
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let socket = manager.socket("/").connect();
    socket.wait_connected().await.unwrap();
    socket.emit("record", &("before",)).unwrap();
    assert_eq!(server.next_seen().await.1, r#"["before"]"#);
    server.kill();
    drop(server);
    wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await;
    assert!(!socket.connected());
    for i in 0..5 {
        socket.emit("record", &(format!("offline {i}"),)).unwrap();
    }
    socket.volatile().emit("record", &("volatile",)).unwrap();
    assert_eq!(socket.buffered(), 5, "volatile emits are not buffered");
    let mut server = Server::start(port).await;
    for i in 0..5 {
        assert_eq!(
            server.next_seen().await,
            ("record".to_owned(), format!(r#"["offline {i}"]"#))
        );
    }
    socket
        .emit_with_ack::<(), _>("record", &("after",))
        .await
        .unwrap();
    assert_eq!(
        server.next_seen().await.1,
        r#"["after"]"#,
        "the volatile one was dropped"
    );
}

#[tokio::test]
async fn reconnection_backs_off_within_bounds_and_resets() {
    let server = Server::start(0).await;
    let port = server.port;
    let (min, max) = (Duration::from_millis(100), Duration::from_millis(400));
    let manager = Manager::builder(&server.url())
        .transports(TransportMode::WebSocketOnly)
        .reconnection_delay(min)
        .reconnection_delay_max(max)
        .build()
        .unwrap();
    let mut events = manager.events();
    let (tx, mut connects) = mpsc::unbounded_channel();
    let (dtx, mut disconnects) = mpsc::unbounded_channel();
    let _socket = manager
        .socket("/")
        .on_connect(move |_| {
            let _ = tx.send(());
        })
        .on_disconnect(move |_, r| {
            let _ = dtx.send(r);
        })
        .connect();
    recv(&mut connects).await;
    server.kill();
    drop(server);
    assert_eq!(
        recv(&mut disconnects).await,
        DisconnectReason::TransportClose
    );
    let lost = Instant::now();
    // Attempts 1..=4 against a dead port: each waits min·2^(n-1) ± 50 %, capped at max.
    let mut last = lost;
    for n in 1..=4u32 {
        let e = wait_for(&mut events, |e| {
            matches!(e, ManagerEvent::ReconnectAttempt(_))
        })
        .await;
        let now = Instant::now();
        assert_eq!(e, ManagerEvent::ReconnectAttempt(n));
        let base = min * 2u32.pow(n - 1);
        let lo = (base / 2).min(max);
        let gap = now - last;
        assert!(
            gap >= lo,
            "attempt {n} after {gap:?}, expected at least {lo:?}"
        );
        // Upper bound: the delay plus the failed attempt before it (a refused connect).
        assert!(
            gap <= max + Duration::from_millis(500),
            "attempt {n} after {gap:?}"
        );
        last = now;
    }
    let _server = Server::start(port).await;
    let e = wait_for(&mut events, |e| matches!(e, ManagerEvent::Reconnect(_))).await;
    assert!(matches!(e, ManagerEvent::Reconnect(n) if n >= 5));
    recv(&mut connects).await;
}

#[tokio::test]
async fn retries_deliver_each_event_once_when_the_first_ack_is_lost() {
    let mut server = Server::start(0).await;
    let manager = builder(&server.url()).build().unwrap();
    let socket = manager
        .socket("/")
        .retries(3)
        .ack_timeout(Duration::from_millis(200))
        .connect();
    socket.wait_connected().await.unwrap();
    let acks: Vec<_> = (1..=3u64)
        .map(|id| socket.emit_with_ack::<(u64,), _>("job", &(id,)).send())
        .collect();
    for (i, ack) in acks.into_iter().enumerate() {
        let (id,) = ack.await.unwrap();
        assert_eq!(id, i as u64 + 1, "each emit resolves once, in order");
    }
    // The server saw every job twice (the first ack was dropped), one at a time, in order;
    // deduplicated by id, each was delivered exactly once.
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(server.next_seen().await.1);
    }
    assert_eq!(seen, ["1:1", "1:2", "2:1", "2:2", "3:1", "3:2"]);
    assert_eq!(socket.pending_acks(), 0);
}

#[tokio::test]
async fn server_side_disconnect_does_not_reconnect() {
    let server = Server::start(0).await;
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let (tx, mut reasons) = mpsc::unbounded_channel();
    let socket = manager
        .socket("/")
        .on_disconnect(move |_, r| {
            let _ = tx.send(r);
        })
        .connect();
    socket.wait_connected().await.unwrap();
    socket.emit("kick", &()).unwrap();
    assert_eq!(
        recv(&mut reasons).await,
        DisconnectReason::IoServerDisconnect
    );
    assert!(!socket.active());
    // The last socket left: the manager closes its connection and does not come back.
    assert_eq!(
        wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await,
        ManagerEvent::Close(DisconnectReason::ForcedClose)
    );
    assert!(!manager.is_open());
    // An explicit connect() brings it back.
    socket.connect();
    socket.wait_connected().await.unwrap();
}

#[tokio::test]
async fn client_disconnect_does_not_reconnect_and_fails_pending_acks() {
    let server = Server::start(0).await;
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let (tx, mut reasons) = mpsc::unbounded_channel();
    let socket = manager
        .socket("/")
        .on_disconnect(move |_, r| {
            let _ = tx.send(r);
        })
        .connect();
    socket.wait_connected().await.unwrap();
    let pending = socket.emit_with_ack::<(), _>("noreply", &()).send();
    socket.disconnect();
    assert_eq!(pending.await.unwrap_err(), AckError::Disconnected);
    assert_eq!(
        recv(&mut reasons).await,
        DisconnectReason::IoClientDisconnect
    );
    assert_eq!(
        wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await,
        ManagerEvent::Close(DisconnectReason::ForcedClose)
    );
    assert!(socket.wait_connected().await.is_err());
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
