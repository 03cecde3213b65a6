//! Our client against our server on loopback: the shared scenarios (transports, namespaces,
//! auth, acks, binary, rooms, offline buffering, reconnection, retries, disconnect reasons)
//! and what needs no server.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod scenarios;

use std::sync::Arc;
use std::time::Duration;

use scenarios::WAIT;
use socketio_client::{ErrorKind, Manager, ManagerEvent, TransportMode};
use socketio_server::{Binary, ConnectError, ConnectionStateRecovery, SocketIo, SocketIoConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// A server the tests can kill and restart on the same port.
struct Server {
    io: SocketIo,
    /// What `drop-transport` upgrades (a weak reference, so the handlers hold no cycle).
    _handle: Arc<SocketIo>,
    port: u16,
    task: JoinHandle<()>,
    /// `(event, args JSON)` for every event the server handled.
    seen: mpsc::UnboundedReceiver<(String, String)>,
}

impl Server {
    async fn start(port: u16) -> Self {
        Self::start_with(port, false).await
    }

    /// Starts on `port` (0: any free port), with connection state recovery when `csr`.
    async fn start_with(port: u16, csr: bool) -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        let mut config = SocketIoConfig::default();
        if csr {
            config.connection_state_recovery = Some(ConnectionStateRecovery::default());
        }
        let io = SocketIo::new(config).unwrap();
        let handle = Arc::new(io.clone());
        let weak = Arc::downgrade(&handle);
        let tx2 = tx.clone();
        io.ns("/", move |socket: socketio_server::Socket| {
            let tx = tx2.clone();
            let _ = socket.emit("recovered", &(socket.recovered(),));
            // Closes the Engine.IO connection, not the namespace (the client reconnects).
            // Every session: the scenario that uses it has only the caller's then.
            let weak = weak.clone();
            socket.on("drop-transport", move |_, _, _| {
                let weak = weak.clone();
                async move {
                    if let Some(io) = weak.upgrade() {
                        io.engine().close_all();
                    }
                }
            });
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
            socket.on("handshake", |s, _, ack| async move {
                let h = s.handshake();
                let header = h
                    .headers
                    .get("x-test")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let reply = (h.query().to_owned(), header, h.transport.as_str());
                if let Some(ack) = ack {
                    let _ = ack.send(&reply);
                }
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
            _handle: handle,
            port,
            task,
            seen,
        }
    }

    /// Stops accepting and closes every session, like a process that goes away.
    async fn kill(self) {
        self.task.abort();
        self.io.close();
        // The listener is closed once the aborted task is dropped.
        let _ = self.task.await;
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

    async fn start_with_recovery() -> Self {
        Self::start_with(0, true).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    async fn kill(self) {
        Self::kill(self).await;
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
async fn an_emit_followed_by_disconnect_or_close_is_delivered() {
    scenarios::an_emit_followed_by_disconnect_or_close_is_delivered::<Server>().await;
}

#[tokio::test]
async fn connection_state_recovery_restores_id_rooms_and_missed_events() {
    scenarios::connection_state_recovery_restores_id_rooms_and_missed_events::<Server>().await;
}

#[tokio::test]
async fn query_headers_and_path_reach_the_server() {
    let mut config = SocketIoConfig::default();
    config.engine.path = "/custom/".to_owned();
    let io = SocketIo::new(config).unwrap();
    io.ns("/", |socket: socketio_server::Socket| {
        let h = socket.handshake();
        let header = h
            .headers
            .get("x-test")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let _ = socket.emit("seen", &(h.query().to_owned(), header));
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(io.serve(listener));
    for mode in [TransportMode::PollingOnly, TransportMode::WebSocketOnly] {
        let manager = Manager::builder(&format!("http://127.0.0.1:{port}?from=url"))
            .path("/custom")
            .transports(mode)
            .query("x", "1 2&3")
            .header("x-test", "yes")
            .build()
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let socket = manager
            .socket("/")
            .on("seen", move |_, (query, header): (String, String), _| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((query, header));
                }
            })
            .connect();
        let (query, header) = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
        assert!(query.contains("from=url&x=1%202%263"), "{query}");
        assert!(query.contains("EIO=4"), "{query}");
        assert_eq!(header, "yes", "{mode:?}");
        socket.disconnect();
    }
}

#[tokio::test]
async fn a_remembered_upgrade_reconnects_straight_over_websocket() {
    let server = Server::start(0).await;
    let port = server.port;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{port}"))
        .remember_upgrade(true)
        .build()
        .unwrap();
    let mut events = manager.events();
    let socket = manager.socket("/").connect();
    scenarios::wait_for(&mut events, |e| *e == ManagerEvent::Upgrade).await;
    let (_, _, first): (String, String, String) =
        socket.emit_with_ack("handshake", &()).await.unwrap();
    assert_eq!(first, "polling");
    server.kill().await;
    let _server = Server::start(port).await;
    scenarios::wait_for(&mut events, |e| matches!(e, ManagerEvent::Reconnect(_))).await;
    socket.wait_connected().await.unwrap();
    let (_, _, second): (String, String, String) =
        socket.emit_with_ack("handshake", &()).await.unwrap();
    assert_eq!(second, "websocket");
    assert_eq!(
        manager.transport(),
        Some(socketio_client::Transport::WebSocket)
    );
}

#[tokio::test]
async fn a_panicking_handler_does_not_take_the_connection_down() {
    let server = Server::start(0).await;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
        .build()
        .unwrap();
    let socket = manager
        .socket("/")
        .on("echo", |_, (): (), _| async move {
            panic!("a handler bug");
        })
        .connect();
    socket.wait_connected().await.unwrap();
    socket.emit("echo", &()).unwrap();
    let (v,): (u32,) = socket.emit_with_ack("echo", &(1,)).await.unwrap();
    assert_eq!(v, 1);
    assert!(socket.connected());
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection() {
    let server = Server::start(0).await;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
        .transports(TransportMode::WebSocketOnly)
        .build()
        .unwrap();
    let mut events = manager.events();
    let socket = manager.socket("/").connect();
    socket.wait_connected().await.unwrap();
    drop(socket);
    drop(manager);
    assert_eq!(
        scenarios::wait_for(&mut events, |e| matches!(e, ManagerEvent::Close(_))).await,
        ManagerEvent::Close(socketio_client::DisconnectReason::ForcedClose)
    );
}

#[tokio::test]
async fn emits_after_close_are_refused() {
    let server = Server::start(0).await;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
        .build()
        .unwrap();
    let socket = manager.socket("/").max_buffered(2).build();
    socket.emit("echo", &(1,)).unwrap();
    socket.emit("echo", &(2,)).unwrap();
    assert_eq!(
        socket.emit("echo", &(3,)),
        Err(socketio_client::EmitError::BufferFull)
    );
    assert!(matches!(
        socket.emit("connect", &()),
        Err(socketio_client::EmitError::Encode(_))
    ));
    manager.close();
    assert_eq!(
        socket.emit("echo", &(4,)),
        Err(socketio_client::EmitError::Closed)
    );
    let err = socket
        .emit_with_ack::<(), _>("echo", &())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        socketio_client::AckError::Emit(socketio_client::EmitError::Closed)
    );
}

#[tokio::test]
async fn the_catch_all_handler_sees_every_event_and_answers_unhandled_acks() {
    let server = Server::start(0).await;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
        .build()
        .unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let (qtx, mut answers) = mpsc::unbounded_channel();
    let socket = manager
        .socket("/")
        .on_any(move |_, name, payload, ack| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((name.clone(), payload.json().to_string()));
                // `question` has no handler of its own, so the ack comes here.
                if let Some(ack) = ack {
                    let (q,): (String,) = payload.event_args().unwrap();
                    ack.send(&(format!("any: {q}"),)).unwrap();
                }
            }
        })
        .on("answer", move |_, (a,): (String,), _| {
            let qtx = qtx.clone();
            async move {
                let _ = qtx.send(a);
            }
        })
        .connect();
    socket.wait_connected().await.unwrap();
    // The server's own emit on connect.
    assert_eq!(
        timeout(WAIT, seen.recv()).await.unwrap().unwrap(),
        ("recovered".to_owned(), r#"["recovered",false]"#.to_owned())
    );
    socket.emit("echo", &(1, "two")).unwrap();
    assert_eq!(
        timeout(WAIT, seen.recv()).await.unwrap().unwrap(),
        ("echo".to_owned(), r#"["echo",1,"two"]"#.to_owned())
    );
    socket.emit("ask", &("q?", 2000)).unwrap();
    assert_eq!(
        timeout(WAIT, seen.recv()).await.unwrap().unwrap().0,
        "question"
    );
    assert_eq!(
        timeout(WAIT, answers.recv()).await.unwrap().unwrap(),
        "any: q?"
    );
    // The catch-all also sees events that have their own handler.
    assert_eq!(
        timeout(WAIT, seen.recv()).await.unwrap().unwrap().0,
        "answer"
    );
    // Without handlers, events go nowhere.
    socket.off_any().off("answer");
    socket.emit("echo", &(2,)).unwrap();
    let (v,): (u32,) = socket.emit_with_ack("echo", &(3,)).await.unwrap();
    assert_eq!(v, 3);
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn polling_reuses_keep_alive_connections() {
    let server = Server::start(0).await;
    // A counting proxy in front of the server.
    let upstream = format!("127.0.0.1:{}", server.port);
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = proxy.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut a, _)) = proxy.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut b = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            });
        }
    });
    let manager = scenarios::builder(&format!("http://127.0.0.1:{port}"))
        .transports(TransportMode::PollingOnly)
        .build()
        .unwrap();
    let socket = manager.socket("/").connect();
    socket.wait_connected().await.unwrap();
    for i in 0..50u32 {
        let (v,): (u32,) = socket.emit_with_ack("echo", &(i,)).await.unwrap();
        assert_eq!(v, i);
    }
    // About 100 requests (a POST and a GET per round trip) over a few connections.
    let n = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n <= 4, "{n} connections");
}

#[tokio::test]
async fn a_dropped_ack_future_frees_its_entry() {
    let server = Server::start(0).await;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
        .build()
        .unwrap();
    let socket = manager.socket("/").connect();
    socket.wait_connected().await.unwrap();
    let abandoned = socket.emit_with_ack::<(), _>("noreply", &()).send();
    assert_eq!(socket.pending_acks(), 1);
    drop(abandoned);
    // A round trip through the manager task, which prunes before it sends.
    let (v,): (u32,) = socket.emit_with_ack("echo", &(1,)).await.unwrap();
    assert_eq!(v, 1);
    assert_eq!(socket.pending_acks(), 0);
}

#[tokio::test]
async fn a_burst_larger_than_the_engine_queue_arrives_whole_and_in_order() {
    const N: usize = 10_000;
    let mut server = Server::start(0).await;
    let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
        .transports(TransportMode::PollingOnly)
        .build()
        .unwrap();
    let socket = manager.socket("/").connect();
    socket.wait_connected().await.unwrap();
    // More than the Engine.IO session queues (4096) while a POST is in flight.
    for i in 0..N {
        socket.emit("record", &(i,)).unwrap();
    }
    for i in 0..N {
        assert_eq!(server.next_seen().await.1, format!("[{i}]"));
    }
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

#[tokio::test]
async fn the_raw_ack_reply_keeps_json_and_attachments() {
    let server = Server::start(0).await;
    for mode in [TransportMode::PollingOnly, TransportMode::WebSocketOnly] {
        let manager = scenarios::builder(&format!("http://127.0.0.1:{}", server.port))
            .transports(mode)
            .build()
            .unwrap();
        let socket = manager.socket("/").connect();
        socket.wait_connected().await.unwrap();
        let args = (
            "a",
            serde_json::json!({"n": [1, 2]}),
            Binary::from(vec![1u8, 2, 3]),
            Binary::from(Vec::new()),
        );
        let reply = socket
            .emit_with_ack::<(), _>("echo", &args)
            .timeout(WAIT)
            .raw()
            .await
            .unwrap();
        assert_eq!(
            reply.json(),
            r#"["a",{"n":[1,2]},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            "{mode:?}"
        );
        assert_eq!(reply.attachments().len(), 2);
        assert_eq!(&reply.attachments()[0][..], [1, 2, 3]);
        assert!(reply.attachments()[1].is_empty());
        // The typed decoding of the same payload substitutes the attachments.
        let (_, _, bytes, _): (String, serde_json::Value, Binary, Binary) =
            reply.ack_args().unwrap();
        assert_eq!(&bytes[..], [1, 2, 3]);
        // Failures are the typed future's: a timeout frees the entry.
        let err = socket
            .emit_with_ack::<(), _>("noreply", &())
            .timeout(Duration::from_millis(50))
            .raw()
            .await
            .unwrap_err();
        assert_eq!(err, socketio_client::AckError::Timeout);
        assert_eq!(socket.pending_acks(), 0);
        manager.close();
    }
}

#[tokio::test]
async fn a_refused_connection_carries_its_cause() {
    // A port with nothing listening.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    for mode in [
        TransportMode::PollingOnly,
        TransportMode::WebSocketOnly,
        TransportMode::PollingThenUpgrade,
    ] {
        let manager = Manager::builder(&format!("http://127.0.0.1:{port}"))
            .transports(mode)
            .reconnection(false)
            .build()
            .unwrap();
        let mut events = manager.events();
        let (tx, mut connect_errors) = mpsc::unbounded_channel();
        let socket = manager
            .socket("/")
            .on_connect_error(move |_, e| {
                let _ = tx.send(e);
            })
            .connect();
        let err = timeout(WAIT, socket.wait_connected())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ReconnectFailed, "{mode:?}");
        assert_eq!(
            err.to_string(),
            "the connection could not be established: connection refused",
            "{mode:?}"
        );
        // The chain leads to the I/O error itself.
        let cause = std::error::Error::source(&err).unwrap();
        assert_eq!(cause.to_string(), "connection refused");
        let io = std::error::Error::source(cause)
            .and_then(|e| e.downcast_ref::<std::io::Error>())
            .unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{mode:?}");
        // The same cause reaches the connect_error handlers and the manager's events.
        let e = timeout(WAIT, connect_errors.recv()).await.unwrap().unwrap();
        assert_eq!(e.message, "transport error: connection refused", "{mode:?}");
        let cause = e.cause.unwrap();
        assert_eq!(cause.kind(), ErrorKind::Io, "{mode:?}");
        assert_eq!(
            scenarios::wait_for(&mut events, |e| matches!(e, ManagerEvent::Error(_))).await,
            ManagerEvent::Error("transport error: connection refused".into()),
            "{mode:?}"
        );
    }
}
