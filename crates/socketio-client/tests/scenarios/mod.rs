//! Scenarios run against our server (`client.rs`) and the official npm `socket.io` server
//! (`interop.rs`): transports, namespaces, auth, acks, binary, rooms, offline buffering,
//! reconnection, retries, disconnect reasons, connection state recovery.

#![allow(dead_code, reason = "each test binary uses its own subset")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use socketio_client::{
    AckError, AckSender, Binary, DisconnectReason, ErrorKind, Manager, ManagerEvent, Socket,
    Transport, TransportMode,
};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, timeout};

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A Socket.IO server with the test handlers (`echo`, `noreply`, `record`, `job`, `upload`,
/// `ask`, `join`, `shout`, `kick`, and `/admin` behind an auth middleware) that a test can
/// kill and start again on the same port.
///
/// Every server also emits `recovered` (its `socket.recovered`) to each socket of `/` that
/// connects, and has `drop-transport`, which closes the caller's Engine.IO connection (not
/// the namespace), so that the client reconnects.
#[allow(async_fn_in_trait, reason = "used by the test binaries only")]
pub(crate) trait Backend: Sized {
    /// Starts on `port` (0: any free port).
    async fn start(port: u16) -> Self;
    /// Starts on any free port with connection state recovery on.
    async fn start_with_recovery() -> Self;
    /// The port it listens on.
    fn port(&self) -> u16;
    /// Stops it the way a crash does.
    async fn kill(self);
    /// The next `(event, args as a JSON array)` the server recorded.
    async fn next_seen(&mut self) -> (String, String);
    /// The server's URL.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }
}

pub(crate) fn builder(url: &str) -> socketio_client::ManagerBuilder {
    Manager::builder(url)
        .reconnection_delay(Duration::from_millis(50))
        .reconnection_delay_max(Duration::from_millis(200))
}

pub(crate) async fn next_event(rx: &mut broadcast::Receiver<ManagerEvent>) -> ManagerEvent {
    timeout(WAIT, rx.recv()).await.unwrap().unwrap()
}

pub(crate) async fn wait_for(
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
pub(crate) fn collect(socket: &Socket, event: &str) -> mpsc::UnboundedReceiver<serde_json::Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.on(event, move |_, (v,): (serde_json::Value,), _| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(v);
        }
    });
    rx
}

pub(crate) async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    timeout(WAIT, rx.recv()).await.unwrap().unwrap()
}

pub(crate) async fn every_transport_mode_connects_emits_and_acks<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn two_namespaces_share_one_connection<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn auth_is_accepted_or_refused_with_message_and_data<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn auth_callback_runs_again_on_reconnection<B: Backend>() {
    let server = B::start(0).await;
    let port = server.port();
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
    server.kill().await;
    wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await;
    let _server = B::start(port).await;
    let second = recv(&mut connects).await;
    assert_ne!(first, second);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(admin.connected());
}

pub(crate) async fn acks_both_ways_with_timeouts<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn binary_both_ways<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn server_broadcast_reaches_the_room<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn offline_emits_are_delivered_in_order_after_a_server_restart<B: Backend>() {
    let mut server = B::start(0).await;
    let port = server.port();
    let manager = builder(&server.url()).build().unwrap();
    let mut events = manager.events();
    let socket = manager.socket("/").connect();
    socket.wait_connected().await.unwrap();
    socket.emit("record", &("before",)).unwrap();
    assert_eq!(server.next_seen().await.1, r#"["before"]"#);
    server.kill().await;
    wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await;
    assert!(!socket.connected());
    for i in 0..5 {
        socket.emit("record", &(format!("offline {i}"),)).unwrap();
    }
    socket.volatile().emit("record", &("volatile",)).unwrap();
    assert_eq!(socket.buffered(), 5, "volatile emits are not buffered");
    let mut server = B::start(port).await;
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

pub(crate) async fn reconnection_backs_off_within_bounds_and_resets<B: Backend>() {
    let server = B::start(0).await;
    let port = server.port();
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
    server.kill().await;
    assert_eq!(
        recv(&mut disconnects).await,
        DisconnectReason::TransportClose
    );
    // Attempts 1..=4 against a dead port: each delay is min·2^(n-1) ± 50 %, capped at max,
    // and the attempt starts once it has passed.
    for n in 1..=4u32 {
        let e = wait_for(&mut events, |e| {
            matches!(e, ManagerEvent::ReconnectScheduled(_))
        })
        .await;
        let scheduled = Instant::now();
        let ManagerEvent::ReconnectScheduled(delay) = e else {
            unreachable!()
        };
        let base = min * 2u32.pow(n - 1);
        let (lo, hi) = ((base / 2).min(max), (base * 3 / 2).min(max));
        assert!(
            delay >= lo && delay <= hi,
            "attempt {n}: delay {delay:?} outside [{lo:?}, {hi:?}]"
        );
        let e = wait_for(&mut events, |e| {
            matches!(e, ManagerEvent::ReconnectAttempt(_))
        })
        .await;
        assert_eq!(e, ManagerEvent::ReconnectAttempt(n));
        // Both events pass through the same channel; the tolerance covers how late the test
        // task saw the first one.
        let waited = scheduled.elapsed();
        assert!(
            waited + Duration::from_millis(50) >= delay,
            "attempt {n} after {waited:?}, scheduled in {delay:?}"
        );
        assert!(
            waited <= delay + Duration::from_secs(2),
            "attempt {n} after {waited:?}"
        );
    }
    let _server = B::start(port).await;
    let e = wait_for(&mut events, |e| matches!(e, ManagerEvent::Reconnect(_))).await;
    assert!(matches!(e, ManagerEvent::Reconnect(n) if n >= 5));
    recv(&mut connects).await;
}

pub(crate) async fn retries_deliver_each_event_once_when_the_first_ack_is_lost<B: Backend>() {
    let mut server = B::start(0).await;
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
    assert_eq!(
        seen,
        [
            r#"["1:1"]"#,
            r#"["1:2"]"#,
            r#"["2:1"]"#,
            r#"["2:2"]"#,
            r#"["3:1"]"#,
            r#"["3:2"]"#
        ]
    );
    assert_eq!(socket.pending_acks(), 0);
}

pub(crate) async fn server_side_disconnect_does_not_reconnect<B: Backend>() {
    let server = B::start(0).await;
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

pub(crate) async fn client_disconnect_does_not_reconnect_and_fails_pending_acks<B: Backend>() {
    let server = B::start(0).await;
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

/// An emit followed at once by `disconnect` or `close` reaches the server's handler: the
/// close goes after it, on the same transport, as the JS client does it.
///
/// Over polling only: the reference server runs an event's handlers on the next tick and
/// skips them if the socket has disconnected by then, so over WebSocket, where the event and
/// the DISCONNECT (or the close) arrive in one read, it drops the event whatever the client
/// does (the JS client included). `tests/close.rs` checks every transport against our server.
pub(crate) async fn an_emit_followed_by_disconnect_or_close_is_delivered<B: Backend>() {
    let mut server = B::start(0).await;
    for (n, close) in [(1u32, false), (2, true)] {
        let manager = builder(&server.url())
            .transports(TransportMode::PollingOnly)
            .build()
            .unwrap();
        let socket = manager.socket("/").connect();
        socket.wait_connected().await.unwrap();
        socket.emit("record", &(n,)).unwrap();
        if close {
            manager.close();
        } else {
            socket.disconnect();
        }
        timeout(WAIT, manager.closed()).await.unwrap();
        assert_eq!(
            server.next_seen().await,
            ("record".to_owned(), format!("[{n}]")),
            "close: {close}"
        );
    }
}

/// Connection state recovery, over WebSocket and over polling. An explicit disconnect followed by `connect` does not recover:
/// a fresh id, outside the old rooms. After a transport drop (not a disconnect), the automatic
/// reconnection gets the same socket id and rooms back, and the events emitted to the socket
/// and to its room while it was away arrive, in order, with `recovered` true.
///
/// The explicit disconnect comes first: the reference server keeps a recovered session (until
/// `maxDisconnectionDuration`), so a later CONNECT with the same pid, which the client keeps
/// as the JS client does, would recover it again there; ours recovers a session once.
pub(crate) async fn connection_state_recovery_restores_id_rooms_and_missed_events<B: Backend>() {
    for mode in [TransportMode::WebSocketOnly, TransportMode::PollingOnly] {
        recovery_over::<B>(mode).await;
    }
}

/// [`connection_state_recovery_restores_id_rooms_and_missed_events`] over one transport.
async fn recovery_over<B: Backend>(mode: TransportMode) {
    let server = B::start_with_recovery().await;
    let manager = Manager::builder(&server.url())
        .transports(mode)
        // Long enough for another client to connect and emit while this one is away (the
        // test checks that no reconnection attempt started before those emits were done).
        .reconnection_delay(Duration::from_millis(1000))
        .reconnection_delay_max(Duration::from_millis(1000))
        .randomization_factor(0.0)
        .build()
        .unwrap();
    let mut events = manager.events();
    let (dtx, mut disconnects) = mpsc::unbounded_channel();
    let socket = manager
        .socket("/")
        .on_disconnect(move |_, r| {
            let _ = dtx.send(r);
        })
        .build();
    let mut recovered = collect(&socket, "recovered");
    let mut shouts = collect(&socket, "shout");
    socket.connect();
    socket.wait_connected().await.unwrap();
    assert_eq!(recv(&mut recovered).await, false);
    assert!(!socket.recovered());
    let first = socket.id().unwrap();
    socket
        .emit_with_ack::<(), _>("join", &("r",))
        .await
        .unwrap();
    let other_manager = builder(&server.url()).build().unwrap();
    let other = other_manager.socket("/").connect();
    other.wait_connected().await.unwrap();

    // An explicit disconnect is not recoverable: the next connect gets a fresh socket.
    socket.disconnect();
    assert_eq!(
        recv(&mut disconnects).await,
        DisconnectReason::IoClientDisconnect
    );
    socket.connect();
    socket.wait_connected().await.unwrap();
    assert_eq!(recv(&mut recovered).await, false);
    assert!(!socket.recovered());
    let id = socket.id().unwrap();
    assert_ne!(id, first);
    // Not in the room any more: of a shout to the room then one to the new id, only the
    // second arrives.
    other.emit("shout", &("r", "old room")).unwrap();
    other.emit("shout", &(id.as_str(), "fresh")).unwrap();
    assert_eq!(recv(&mut shouts).await, "fresh");
    socket
        .emit_with_ack::<(), _>("join", &("r",))
        .await
        .unwrap();
    // Only the checked socket is connected while the transport is dropped.
    other_manager.close();
    timeout(WAIT, other_manager.closed()).await.unwrap();

    // The server closes the transport: the socket is gone on its side, kept for recovery.
    // Forget the events of the explicit disconnect's close and reopen.
    while events.try_recv().is_ok() {}
    socket.emit("drop-transport", &()).unwrap();
    assert_eq!(
        recv(&mut disconnects).await,
        DisconnectReason::TransportClose
    );
    assert!(socket.active(), "a transport close reconnects");

    // Meanwhile another client emits to the room and to the socket's id.
    let other_manager = builder(&server.url()).build().unwrap();
    let other = other_manager.socket("/").connect();
    other.wait_connected().await.unwrap();
    other.emit("shout", &("r", "room 1")).unwrap();
    other.emit("shout", &(id.as_str(), "socket")).unwrap();
    other.emit("shout", &("r", "room 2")).unwrap();
    // A round trip after the shouts: the server has handled them.
    other
        .emit_with_ack::<(), _>("join", &("other",))
        .await
        .unwrap();
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, ManagerEvent::ReconnectAttempt(_)),
            "the reconnection started before the shouts were handled"
        );
    }

    // The reconnection recovers the session: same id, the missed events in order.
    wait_for(&mut events, |e| matches!(e, ManagerEvent::Reconnect(_))).await;
    assert_eq!(recv(&mut recovered).await, true);
    socket.wait_connected().await.unwrap();
    assert!(socket.recovered(), "{mode:?}");
    assert_eq!(socket.id().as_deref(), Some(id.as_str()), "{mode:?}");
    for text in ["room 1", "socket", "room 2"] {
        assert_eq!(recv(&mut shouts).await, text);
    }
    // Still in its room, and nothing else arrived.
    other.emit("shout", &("r", "live")).unwrap();
    assert_eq!(recv(&mut shouts).await, "live");
    assert!(shouts.try_recv().is_err());
}
