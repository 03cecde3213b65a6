//! Loopback tests of the server: raw HTTP and WebSocket clients against `SocketIo`, including
//! hostile input from the reliability catalogue (sections A, B, C, D).

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use socketio_server::{Binary, ConnectError, Socket, SocketIo, SocketIoConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

mod csr;
mod hostile;
mod wsconn;

async fn start(config: SocketIoConfig) -> (SocketIo, String) {
    let io = SocketIo::new(config).unwrap();
    io.ns("/", |socket: Socket| {
        socket.use_event_middleware(|_, name, _| async move {
            if name == "forbidden" {
                Err("not allowed".to_owned())
            } else {
                Ok(())
            }
        });
        socket.on_error(|s, message| {
            let _ = s.emit("error-seen", &message);
        });
        socket.on("forbidden", |s, _, _| async move {
            let _ = s.emit("reached", &());
        });
        socket.on("echo", |s, args, ack| async move {
            match ack {
                Some(ack) => drop(ack.send_args(&args)),
                None => drop(s.emit_args("echo", &args)),
            }
        });
        socket.on("join", |s, args, _| async move {
            let room: String = args.first().unwrap();
            s.join(&room);
        });
        socket.on("upload", |s, args, ack| async move {
            // Typed arguments with binary: (name, bytes) in, (size, bytes back) out.
            let (name, data): (String, Binary) = args.decode().unwrap();
            let len = data.len();
            let _ = s.emit("stored", &(name, len, data));
            if let Some(ack) = ack {
                let _ = ack.send(&(len,));
            }
        });
        socket.on("ask-many", |s, _, _| async move {
            // D11: acks that never come time out and free their entries.
            let nums: Vec<u32> = (0..200).collect();
            let asks = nums
                .iter()
                .map(|i| s.emit_with_ack("ping", i, Duration::from_millis(50)));
            let results = futures_util::future::join_all(asks).await;
            let timeouts = results
                .iter()
                .filter(|r| matches!(r, Err(socketio_server::AckError::Timeout(_))))
                .count();
            let _ = s.emit("asked", &(timeouts, s.pending_acks()));
        });
        socket.on("arm-bad-disconnect", |s, _, ack| async move {
            s.on_disconnect(|_, _| panic!("a disconnect handler bug"));
            if let Some(ack) = ack {
                let _ = ack.send(&());
            }
        });
        socket.on("boom", |_, _, _| async move {
            panic!("a handler bug");
        });
        socket.on("shout", |s, args, _| async move {
            let (room, text): (String, String) = args.decode().unwrap();
            let _ = s.to(room).emit("shout", &text);
        });
        socket.on("flood", |s, args, _| async move {
            // B16: `count` messages of `size` bytes to a client that may not read them.
            let (count, size): (usize, usize) = args.decode().unwrap();
            let blob = "x".repeat(size);
            for _ in 0..count {
                if s.emit("blob", &blob).is_err() {
                    break;
                }
            }
        });
        socket.on("join-many", |s, args, ack| async move {
            // D13: rooms named from client input; answers (joined, first refusal).
            let (prefix, count): (String, usize) = args.decode().unwrap();
            let mut joined = 0;
            let mut refusal = None;
            for i in 0..count {
                match s.try_join(&format!("{prefix}{i}")) {
                    Ok(()) => joined += 1,
                    Err(e) => {
                        refusal.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            if let Some(ack) = ack {
                let _ = ack.send(&(joined, refusal));
            }
        });
        socket.on("join-long", |s, args, ack| async move {
            let len: usize = args.first().unwrap();
            let result = s.try_join(&"r".repeat(len)).map_err(|e| e.to_string());
            if let Some(ack) = ack {
                let _ = ack.send(&(result.err(), s.rooms().len()));
            }
        });
    });
    let io2 = io.clone();
    io.ns("/cluster", move |socket: Socket| {
        let io = io2.clone();
        socket.on("poll-all", move |s, _, _| {
            let io = io.clone();
            async move {
                let ns = io.of("/cluster").unwrap();
                let replies = ns
                    .broadcast()
                    .timeout(Duration::from_secs(2))
                    .emit_with_ack("q", &1)
                    .await;
                let answers: Vec<u32> = replies
                    .unwrap()
                    .iter()
                    .map(|a| a.first().unwrap())
                    .collect();
                let _ = s.emit("result", &(answers.len(), answers.iter().sum::<u32>()));
            }
        });
        let io = io2.clone();
        socket.on("gather", move |s, _, _| {
            let io = io.clone();
            async move {
                let ns = io.of("/cluster").unwrap();
                ns.broadcast().join("g").await.unwrap();
                let found = ns.broadcast().to("g").fetch_sockets().await.unwrap();
                let _ = s.emit("gathered", &(found.len(),));
                ns.broadcast()
                    .to("g")
                    .except(s.id())
                    .disconnect()
                    .await
                    .unwrap();
            }
        });
    });
    io.dynamic_ns(
        |name, _auth| name.starts_with("/room-") && name.len() < 64,
        |socket: Socket| {
            let _ = socket.emit("child", &socket.ns());
        },
    )
    .use_middleware(|s: Socket| async move {
        if s.auth()["token"] == "secret" {
            Ok(())
        } else {
            Err(ConnectError::new("not authorized"))
        }
    });
    io.ns("/admin", |_socket: Socket| {})
        .use_middleware(|s: Socket| async move {
            if s.auth()["token"] == "secret" {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized").with_data(serde_json::json!({"code": 7})))
            }
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    (io, addr)
}

async fn http(
    addr: &str,
    method: &str,
    path_query: &str,
    body: &'static [u8],
    content_type: &str,
) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    // No Nagle delay: back-to-back small writes must not leave the runtime idle (paused-time
    // tests would see the clock jump).
    stream.set_nodelay(true).unwrap();
    let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path_query)
        .header("host", addr)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn ws(addr: &str, query: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    // No Nagle delay: back-to-back small writes must not leave the runtime idle (paused-time
    // tests would see the clock jump).
    stream.set_nodelay(true).unwrap();
    let url = format!("ws://{addr}/socket.io/?{query}");
    let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    ws
}

/// Next text frame, skipping pings; binary frames are shown as `<bin N>`.
async fn next_text(ws: &mut Ws) -> Option<String> {
    next_text_within(ws, Duration::from_secs(5)).await
}

/// As [`next_text`], waiting at most `wait` for each frame.
async fn next_text_within(ws: &mut Ws, wait: Duration) -> Option<String> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) if t.as_str() == "2" => {}
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Binary(b)) => return Some(format!("<bin {}>", b.len())),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn connected(addr: &str) -> Ws {
    let mut ws = ws(addr, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.unwrap().starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40{\"sid\":"));
    ws
}

#[tokio::test]
async fn event_and_ack_round_trip() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(r#"421["echo",1,"2",{"3":[true]}]"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"431[1,"2",{"3":[true]}]"#
    );
    ws.send(Message::text(r#"42["echo","x"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), r#"42["echo","x"]"#);
}

#[tokio::test]
async fn binary_attachments_are_echoed() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(
        r#"451-["echo",{"_placeholder":true,"num":0}]"#,
    ))
    .await
    .unwrap();
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"451-["echo",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(next_text(&mut ws).await.unwrap(), "<bin 3>");
}

#[tokio::test]
async fn typed_arguments_with_binary_both_ways() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(
        r#"451-7["upload","a.bin",{"_placeholder":true,"num":0}]"#,
    ))
    .await
    .unwrap();
    ws.send(Message::binary(vec![9u8, 8, 7, 6])).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"451-["stored","a.bin",4,{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(next_text(&mut ws).await.unwrap(), "<bin 4>");
    assert_eq!(next_text(&mut ws).await.unwrap(), "437[4]");
}

#[tokio::test]
async fn rooms_exclude_the_sender() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut a = connected(&addr).await;
    let mut b = connected(&addr).await;
    let mut c = connected(&addr).await;
    for ws in [&mut a, &mut b] {
        ws.send(Message::text(r#"42["join","r"]"#)).await.unwrap();
    }
    // A round trip on each makes sure the joins were handled.
    for ws in [&mut a, &mut b, &mut c] {
        ws.send(Message::text(r#"429["echo"]"#)).await.unwrap();
        assert_eq!(next_text(ws).await.unwrap(), "439[]");
    }
    a.send(Message::text(r#"42["shout","r","hi"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut b).await.unwrap(), r#"42["shout","hi"]"#);
    c.send(Message::text(r#"4210["echo"]"#)).await.unwrap();
    assert_eq!(
        next_text(&mut c).await.unwrap(),
        "4310[]",
        "c is not in the room"
    );
    a.send(Message::text(r#"4211["echo"]"#)).await.unwrap();
    assert_eq!(
        next_text(&mut a).await.unwrap(),
        "4311[]",
        "the sender is excluded"
    );
}

#[tokio::test]
async fn d1_unknown_namespace_is_refused_and_the_session_kept() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await.unwrap();
    ws.send(Message::text("40/random")).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40{"));
}

#[tokio::test]
async fn middleware_refusal_carries_message_and_data() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await.unwrap();
    ws.send(Message::text(r#"40/admin,{"token":"nope"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"44/admin,{"message":"not authorized","data":{"code":7}}"#
    );
    ws.send(Message::text(r#"40/admin,{"token":"secret"}"#))
        .await
        .unwrap();
    assert!(
        next_text(&mut ws)
            .await
            .unwrap()
            .starts_with("40/admin,{\"sid\":")
    );
}

#[tokio::test]
async fn d2_d3_packets_for_unjoined_namespaces_close_the_connection() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(r#"42/admin,["x"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, None);
    let mut ws = connected(&addr).await;
    ws.send(Message::text("40")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, None, "a second CONNECT closes");
}

#[tokio::test]
async fn c_parser_violations_close_the_connection() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let cases = [
        "4abc",
        "42{}",
        r#"42abc["echo"]"#,
        r#"42["connect"]"#,
        "4511-[\"x\"]",
        r#"42[{"toString":"foo"}]"#,
    ];
    for bad in cases {
        let mut ws = connected(&addr).await;
        ws.send(Message::text(bad)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, None, "{bad} must close");
    }
}

#[tokio::test]
async fn a_http_errors() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let p = "/socket.io/";
    assert_eq!(
        http(&addr, "GET", &format!("{p}?EIO=4"), b"", "text/plain")
            .await
            .0,
        400
    );
    let r = http(
        &addr,
        "GET",
        &format!("{p}?EIO=5&transport=polling"),
        b"",
        "text/plain",
    )
    .await;
    assert_eq!(
        r,
        (
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#.to_owned()
        )
    );
    let r = http(
        &addr,
        "POST",
        &format!("{p}?EIO=4&transport=polling"),
        b"",
        "text/plain",
    )
    .await;
    assert_eq!(
        r,
        (
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#.to_owned()
        )
    );
    let long = "a".repeat(10_000);
    for sid in ["nope", long.as_str(), "%00%00"] {
        let r = http(
            &addr,
            "GET",
            &format!("{p}?EIO=4&transport=polling&sid={sid}"),
            b"",
            "text/plain",
        )
        .await;
        assert_eq!(
            r,
            (
                400,
                r#"{"code":1,"message":"Session ID unknown"}"#.to_owned()
            )
        );
    }
    let r = http(
        &addr,
        "GET",
        &format!("{p}?EIO=4&transport=websocket"),
        b"",
        "text/plain",
    )
    .await;
    assert_eq!(r, (400, r#"{"code":3,"message":"Bad request"}"#.to_owned()));
    assert_eq!(http(&addr, "GET", "/other", b"", "text/plain").await.0, 404);
}

async fn polling_sid(addr: &str) -> String {
    let (status, body) = http(
        addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
        "text/plain",
    )
    .await;
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

/// Waits until the engine reports `n` open sessions: on its session-count watch, which
/// changes when a session task has finished its cleanup (bounded: 60 s, virtual time in paused
/// tests).
async fn wait_sessions(io: &SocketIo, n: usize) {
    let mut rx = io.engine().watch_session_count();
    let reached = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|c| *c == n)).await;
    assert!(
        matches!(reached, Ok(Ok(_))),
        "expected {n} sessions, have {}",
        io.engine().session_count()
    );
}

/// Waits until the engine has no session left.
async fn wait_sessions_gone(io: &SocketIo) {
    wait_sessions(io, 0).await;
}

#[tokio::test]
async fn a14_binary_post_is_refused_and_closes() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(
        http(&addr, "POST", &q, b"40", "application/octet-stream")
            .await
            .0,
        400
    );
    wait_sessions_gone(&io).await;
    assert_eq!(http(&addr, "GET", &q, b"", "text/plain").await.0, 400);
}

#[tokio::test]
async fn a10_oversized_post_is_413_and_closes() {
    let mut config = SocketIoConfig::default();
    config.engine.session.max_payload = 16;
    let (io, addr) = start(config).await;
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let r = http(
        &addr,
        "POST",
        &q,
        b"4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "text/plain",
    )
    .await;
    assert_eq!(r.0, 413);
    wait_sessions_gone(&io).await;
}

#[tokio::test]
async fn polling_event_round_trip() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(
        http(&addr, "POST", &q, b"40", "text/plain;charset=UTF-8").await,
        (200, "ok".to_owned())
    );
    let (_, body) = http(&addr, "GET", &q, b"", "text/plain").await;
    assert!(body.starts_with("40{\"sid\":"), "{body}");
    assert_eq!(
        http(&addr, "POST", &q, br#"423["echo","hi"]"#, "text/plain")
            .await
            .0,
        200
    );
    let (_, body) = http(&addr, "GET", &q, b"", "text/plain").await;
    assert_eq!(body, r#"433["hi"]"#);
}

#[tokio::test]
async fn b1_upgrade_with_unknown_sid_is_refused() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let stream = TcpStream::connect(&addr).await.unwrap();
    let url =
        format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAAAAAA");
    assert!(tokio_tungstenite::client_async(url, stream).await.is_err());
}

#[tokio::test]
async fn b8_websocket_message_over_the_limit_closes() {
    let mut config = SocketIoConfig::default();
    config.engine.session.max_payload = 64;
    let (io, addr) = start(config).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(format!(
        "42[\"echo\",\"{}\"]",
        "x".repeat(100)
    )))
    .await
    .unwrap();
    assert_eq!(next_text(&mut ws).await, None);
    wait_sessions_gone(&io).await;
}

#[tokio::test]
async fn graceful_shutdown_closes_every_session() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut a = connected(&addr).await;
    let mut b = connected(&addr).await;
    io.close();
    assert_eq!(next_text(&mut a).await, None);
    assert_eq!(next_text(&mut b).await, None);
}

#[tokio::test(start_paused = true)]
async fn c12_missing_attachments_time_out_and_close() {
    let mut config = SocketIoConfig::default();
    config.engine.session.ping_interval = Duration::from_secs(600);
    let (io, addr) = start(config).await;
    let mut ws = connected(&addr).await;
    // A complete binary packet first: the watcher must not close a healthy connection.
    ws.send(Message::text(
        r#"451-["echo",{"_placeholder":true,"num":0}]"#,
    ))
    .await
    .unwrap();
    ws.send(Message::binary(vec![1u8])).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("451-"));
    assert_eq!(next_text(&mut ws).await.unwrap(), "<bin 1>");
    // Then a header whose attachment never comes.
    ws.send(Message::text(
        r#"451-["echo",{"_placeholder":true,"num":0}]"#,
    ))
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(
        next_text_within(&mut ws, Duration::from_secs(120)).await,
        None
    );
    // The default attachment timeout (60 s) closed it.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
        "{waited:?}"
    );
    wait_sessions_gone(&io).await;
}

#[tokio::test(start_paused = true)]
async fn polling_posts_wait_while_handlers_are_at_their_limit() {
    let mut config = SocketIoConfig::default();
    // One slow handler reaches the limit.
    config.engine.max_concurrent_tasks = 1;
    let io = SocketIo::new(config).unwrap();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let r = std::sync::Arc::clone(&release);
    io.ns("/", move |socket: Socket| {
        let r = std::sync::Arc::clone(&r);
        socket.on("slow", move |_, _, _| {
            let r = std::sync::Arc::clone(&r);
            async move { r.notified().await }
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(&addr, "POST", &q, b"40", "text/plain").await.0, 200);
    assert_eq!(http(&addr, "GET", &q, b"", "text/plain").await.0, 200);
    assert_eq!(
        http(&addr, "POST", &q, br#"42["slow"]"#, "text/plain")
            .await
            .0,
        200
    );
    // The handler is running: the next POST is held back until it finishes (on paused time,
    // the 100 ms pass only once nothing else can run).
    let (addr2, q2) = (addr.clone(), q.clone());
    let mut held =
        tokio::spawn(
            async move { http(&addr2, "POST", &q2, br#"42["slow"]"#, "text/plain").await },
        );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut held)
            .await
            .is_err()
    );
    release.notify_one();
    assert_eq!(held.await.unwrap().0, 200);
    release.notify_one();
}

async fn connected_ns(addr: &str, ns: &str) -> Ws {
    let mut ws = ws(addr, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.unwrap().starts_with("0{"));
    ws.send(Message::text(format!("40{ns},"))).await.unwrap();
    assert!(
        next_text(&mut ws)
            .await
            .unwrap()
            .starts_with(&format!("40{ns},{{\"sid\":"))
    );
    ws
}

#[tokio::test]
async fn broadcast_with_ack_collects_every_reply() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut a = connected_ns(&addr, "/cluster").await;
    let mut b = connected_ns(&addr, "/cluster").await;
    a.send(Message::text(r#"42/cluster,["poll-all"]"#))
        .await
        .unwrap();
    // Each client gets the question with the namespace's ack id and answers it.
    for (ws, answer) in [(&mut a, 20), (&mut b, 22)] {
        let q = next_text(ws).await.unwrap();
        let id = q
            .strip_prefix("42/cluster,")
            .unwrap()
            .split('[')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(&q[q.len() - 7..], r#"["q",1]"#);
        ws.send(Message::text(format!("43/cluster,{id}[{answer}]")))
            .await
            .unwrap();
    }
    assert_eq!(
        next_text(&mut a).await.unwrap(),
        r#"42/cluster,["result",2,42]"#
    );
}

#[tokio::test]
async fn bulk_operations_go_through_the_adapter() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut a = connected_ns(&addr, "/cluster").await;
    let mut b = connected_ns(&addr, "/cluster").await;
    a.send(Message::text(r#"42/cluster,["gather"]"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut a).await.unwrap(),
        r#"42/cluster,["gathered",2]"#
    );
    // b was disconnected from the namespace by the server; a was excluded.
    assert_eq!(next_text(&mut b).await.unwrap(), "41/cluster,");
    a.send(Message::text(r#"42/cluster,["gather"]"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut a).await.unwrap(),
        r#"42/cluster,["gathered",1]"#
    );
}

#[tokio::test]
async fn tower_layer_serves_socketio_and_passes_the_rest_through() {
    let io = SocketIo::new(SocketIoConfig::default()).unwrap();
    io.ns("/", |_socket: Socket| {});
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "app" }))
        .layer(socketio_server::SocketIoLayer::new(io));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(
        http(&addr, "GET", "/", b"", "text/plain").await,
        (200, "app".to_owned())
    );
    let sid = polling_sid(&addr).await;
    assert!(!sid.is_empty());
    // The WebSocket upgrade goes through the layer too.
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.unwrap().starts_with("0{"));
}

#[tokio::test]
async fn event_middleware_refuses_an_event_and_keeps_the_connection() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(r#"42["forbidden"]"#)).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"42["error-seen","not allowed"]"#
    );
    ws.send(Message::text(r#"421["echo","still here"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), r#"431["still here"]"#);
}

#[tokio::test]
async fn d6_dynamic_namespaces_are_created_only_after_their_middleware_accepts() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await.unwrap();
    // A matching name without valid auth: refused, and no namespace is left behind.
    ws.send(Message::text(r#"40/room-1,{"token":"bad"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"44/room-1,{"message":"not authorized"}"#
    );
    assert!(io.of("/room-1").is_none());
    // A name no matcher accepts is an unknown namespace.
    ws.send(Message::text("40/other,")).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"44/other,{"message":"Invalid namespace"}"#
    );
    // With auth, the child namespace is created and the parent's handler runs.
    ws.send(Message::text(r#"40/room-1,{"token":"secret"}"#))
        .await
        .unwrap();
    assert!(
        next_text(&mut ws)
            .await
            .unwrap()
            .starts_with(r#"40/room-1,{"sid":"#)
    );
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"42/room-1,["child","/room-1"]"#
    );
    assert!(io.of("/room-1").is_some());
}

#[tokio::test]
async fn d6_dynamic_namespace_count_is_capped_and_empty_children_are_reaped() {
    let mut config = SocketIoConfig::default();
    config.max_dynamic_namespaces = 1;
    config.cleanup_empty_child_namespaces = true;
    let (io, addr) = start(config).await;
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await.unwrap();
    ws.send(Message::text(r#"40/room-a,{"token":"secret"}"#))
        .await
        .unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40/room-a,"));
    next_text(&mut ws).await.unwrap();
    ws.send(Message::text(r#"40/room-b,{"token":"secret"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"44/room-b,{"message":"Invalid namespace"}"#
    );
    // Leaving the only child frees its slot.
    ws.send(Message::text("41/room-a,")).await.unwrap();
    ws.send(Message::text(r#"40/room-b,{"token":"secret"}"#))
        .await
        .unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40/room-b,"));
    assert!(io.of("/room-a").is_none());
}

#[tokio::test]
async fn d11_unanswered_server_acks_time_out_and_free_their_entries() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(r#"42["ask-many"]"#)).await.unwrap();
    loop {
        let t = next_text(&mut ws).await.unwrap();
        if t.starts_with(r#"42["asked""#) {
            assert_eq!(t, r#"42["asked",200,0]"#);
            break;
        }
        assert!(t.starts_with("42"), "{t}"); // the 200 questions, never answered
    }
}

#[tokio::test]
async fn a8_concurrent_polls_close_the_session() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    // Whichever GET arrives first waits; the second closes the session: the waiting one gets
    // the close packet, the other 400.
    let (mut a, mut b) = tokio::join!(
        http(&addr, "GET", &q, b"", "text/plain"),
        http(&addr, "GET", &q, b"", "text/plain")
    );
    if a.0 == 400 {
        std::mem::swap(&mut a, &mut b);
    }
    assert_eq!(a, (200, "1".to_owned()));
    assert_eq!(b.0, 400);
    wait_sessions_gone(&io).await;
}

#[tokio::test]
async fn a16_a17_client_control_packets_over_polling() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    // A16: a ping from the client is the wrong heartbeat direction.
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(&addr, "POST", &q, b"2", "text/plain").await.0, 400);
    wait_sessions_gone(&io).await;
    // A17: a close packet ends the session cleanly with `ok`.
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(
        http(&addr, "POST", &q, b"1", "text/plain").await,
        (200, "ok".to_owned())
    );
    wait_sessions_gone(&io).await;
}

#[tokio::test]
async fn b2_b4_upgrade_misuse_leaves_the_session_intact() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let sid = polling_sid(&addr).await;
    let q = format!("EIO=4&transport=websocket&sid={sid}");
    // B4: the probe socket sends something other than `2probe`: that socket is closed.
    let mut probe = ws(&addr, &q).await;
    probe.send(Message::text("4hello")).await.unwrap();
    assert_eq!(next_text(&mut probe).await, None);
    // B2: a proper probe, then a second WebSocket for the same sid: the second is closed.
    let mut probe = ws(&addr, &q).await;
    probe.send(Message::text("2probe")).await.unwrap();
    assert_eq!(next_text(&mut probe).await.unwrap(), "3probe");
    let mut second = ws(&addr, &q).await;
    assert_eq!(next_text(&mut second).await, None);
    // The first probe completes the upgrade and the session works over it.
    probe.send(Message::text("5")).await.unwrap();
    probe.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut probe).await.unwrap().starts_with("40{"));
}

#[tokio::test]
async fn d10_leaving_a_namespace_then_using_it_closes() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text("41")).await.unwrap();
    ws.send(Message::text(r#"42["echo"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, None);
}

#[tokio::test]
async fn cors_headers_when_configured() {
    let mut config = SocketIoConfig::default();
    config.engine.cors = Some(socketio_server::engine::Cors::Origins(vec![
        "http://app.test".into(),
    ]));
    let (_io, addr) = start(config).await;
    let send = |method: &'static str, origin: &'static str| {
        let addr = addr.clone();
        async move {
            let stream = TcpStream::connect(&addr).await.unwrap();
            let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(conn);
            let req = http::Request::builder()
                .method(method)
                .uri("/socket.io/?EIO=4&transport=polling")
                .header("host", &addr)
                .header("origin", origin)
                .header("access-control-request-headers", "content-type")
                .body(Full::new(Bytes::new()))
                .unwrap();
            send.send_request(req).await.unwrap()
        }
    };
    let pre = send("OPTIONS", "http://app.test").await;
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.test");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-headers"], "content-type");
    let res = send("GET", "http://app.test").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://app.test"
    );
    // Another origin gets no CORS headers.
    let res = send("GET", "http://evil.test").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn d14_a_panicking_handler_closes_only_its_connection() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut bad = connected(&addr).await;
    let mut good = connected(&addr).await;
    bad.send(Message::text(r#"42["boom"]"#)).await.unwrap();
    assert_eq!(next_text(&mut bad).await, None);
    good.send(Message::text(r#"421["echo","alive"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut good).await.unwrap(), r#"431["alive"]"#);
    // The panicked session was cleaned up: one session (the good one) remains.
    wait_sessions(&io, 1).await;
    assert_eq!(io.of("/").unwrap().sockets().len(), 1);
}

#[tokio::test]
async fn d14_a_panicking_disconnect_handler_is_contained() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut bad = connected(&addr).await;
    let mut good = connected(&addr).await;
    bad.send(Message::text(r#"421["arm-bad-disconnect"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut bad).await.unwrap(), "431[]");
    bad.send(Message::text("41")).await.unwrap();
    assert_eq!(next_text(&mut bad).await, None);
    good.send(Message::text(r#"422["echo","alive"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut good).await.unwrap(), r#"432["alive"]"#);
    wait_sessions(&io, 1).await;
}
