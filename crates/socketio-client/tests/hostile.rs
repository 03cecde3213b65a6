//! Hostile servers on loopback: truncated and unknown packets, acks for unknown ids,
//! oversized messages, a server that never pings, a server that never answers the handshake.
//! The client reports typed reasons, never panics, and keeps reconnecting as configured.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use socketio_client::{DisconnectReason, Manager, ManagerEvent, TransportMode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<TcpStream>;

fn open_packet(ping_interval: u64, ping_timeout: u64) -> String {
    format!(
        r#"0{{"sid":"fake","upgrades":[],"pingInterval":{ping_interval},"pingTimeout":{ping_timeout},"maxPayload":1000000}}"#
    )
}

/// A WebSocket-only fake server: connection `n` (from 0) runs `script(n, ws)`.
async fn fake<F, Fut>(script: F) -> u16
where
    F: Fn(usize, Ws) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = Arc::new(script);
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            let script = script.clone();
            let i = n;
            n += 1;
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                    script(i, ws).await;
                }
            });
        }
    });
    port
}

/// Reads text frames until one satisfies `pred`.
async fn read_until(ws: &mut Ws, pred: impl Fn(&str) -> bool) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if pred(t.as_str()) => return t.to_string(),
            Some(Ok(_)) => {}
            _ => std::future::pending::<()>().await,
        }
    }
}

/// The handshake and the CONNECT of `/`, as a well-behaved server does it.
async fn accept_socket(ws: &mut Ws, ping_interval: u64) {
    ws.send(Message::text(open_packet(ping_interval, 20_000)))
        .await
        .unwrap();
    read_until(ws, |t| t.starts_with("40")).await;
    ws.send(Message::text(r#"40{"sid":"s"}"#)).await.unwrap();
}

/// Keeps a connection open (answering nothing) until the client goes away.
async fn hold(ws: &mut Ws) {
    while let Some(Ok(_)) = ws.next().await {}
}

fn manager(port: u16) -> Manager {
    Manager::builder(&format!("http://127.0.0.1:{port}"))
        .transports(TransportMode::WebSocketOnly)
        .reconnection_delay(Duration::from_millis(20))
        .reconnection_delay_max(Duration::from_millis(50))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

struct Watch {
    reasons: mpsc::UnboundedReceiver<DisconnectReason>,
    connects: mpsc::UnboundedReceiver<()>,
    events: broadcast::Receiver<ManagerEvent>,
    socket: socketio_client::Socket,
}

fn watch(m: &Manager) -> Watch {
    let (rtx, reasons) = mpsc::unbounded_channel();
    let (ctx, connects) = mpsc::unbounded_channel();
    let events = m.events();
    let socket = m
        .socket("/")
        .on_disconnect(move |_, r| {
            let _ = rtx.send(r);
        })
        .on_connect(move |_| {
            let _ = ctx.send(());
        })
        .connect();
    Watch {
        reasons,
        connects,
        events,
        socket,
    }
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    timeout(WAIT, rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn undecodable_packets_close_with_parse_error_and_reconnection_continues() {
    let port = fake(|n, mut ws| async move {
        accept_socket(&mut ws, 25_000).await;
        let bad = match n {
            0 => r#"42["truncated"#,                             // JSON cut short
            1 => "49[]",                                         // unknown Socket.IO packet type
            2 => "9abc",                                         // unknown Engine.IO packet type
            3 => r#"451-["bin",{"_placeholder":true,"num":5}]"#, // placeholder out of range
            _ => {
                hold(&mut ws).await;
                return;
            }
        };
        let _ = ws.send(Message::text(bad)).await;
        if n == 3 {
            let _ = ws.send(Message::binary(vec![1u8])).await;
        }
        hold(&mut ws).await;
    })
    .await;
    let m = manager(port);
    let mut w = watch(&m);
    for _ in 0..4 {
        recv(&mut w.connects).await;
        assert_eq!(recv(&mut w.reasons).await, DisconnectReason::ParseError);
    }
    recv(&mut w.connects).await;
    assert!(w.socket.connected());
}

#[tokio::test]
async fn acks_for_unknown_ids_are_ignored() {
    let (tx, mut got) = mpsc::unbounded_channel();
    let port = fake(move |_, mut ws| {
        let tx = tx.clone();
        async move {
            accept_socket(&mut ws, 25_000).await;
            for bogus in [
                r#"43999["x"]"#,
                "430[]",
                r#"461-7[{"_placeholder":true,"num":0}]"#,
            ] {
                ws.send(Message::text(bogus)).await.unwrap();
            }
            ws.send(Message::binary(vec![0u8; 4])).await.unwrap();
            ws.send(Message::text(r#"42["hello"]"#)).await.unwrap();
            let t = read_until(&mut ws, |t| t.starts_with("42")).await;
            let _ = tx.send(t);
            hold(&mut ws).await;
        }
    })
    .await;
    let m = manager(port);
    let (htx, mut hello) = mpsc::unbounded_channel();
    let socket = m
        .socket("/")
        .on("hello", move |s, (): (), _| {
            let htx = htx.clone();
            async move {
                s.emit("thanks", &()).unwrap();
                let _ = htx.send(());
            }
        })
        .connect();
    recv(&mut hello).await;
    assert_eq!(recv(&mut got).await, r#"42["thanks"]"#);
    assert!(socket.connected());
    assert_eq!(socket.pending_acks(), 0);
}

#[tokio::test]
async fn oversized_messages_are_refused_and_reconnection_continues() {
    let port = fake(|n, mut ws| async move {
        accept_socket(&mut ws, 25_000).await;
        if n == 0 {
            let big = format!(r#"42["big","{}"]"#, "x".repeat(10_000));
            let _ = ws.send(Message::text(big)).await;
        }
        hold(&mut ws).await;
    })
    .await;
    let m = Manager::builder(&format!("http://127.0.0.1:{port}"))
        .transports(TransportMode::WebSocketOnly)
        .reconnection_delay(Duration::from_millis(20))
        .max_payload(1000)
        .build()
        .unwrap();
    let mut w = watch(&m);
    recv(&mut w.connects).await;
    assert_eq!(recv(&mut w.reasons).await, DisconnectReason::TransportError);
    recv(&mut w.connects).await;
}

#[tokio::test]
async fn a_server_that_stops_pinging_is_detected() {
    let port = fake(|n, mut ws| async move {
        // pingInterval + pingTimeout = 200 ms, and no ping ever comes.
        if n == 0 {
            ws.send(Message::text(open_packet(100, 100))).await.unwrap();
            read_until(&mut ws, |t| t.starts_with("40")).await;
            ws.send(Message::text(r#"40{"sid":"s"}"#)).await.unwrap();
        } else {
            accept_socket(&mut ws, 25_000).await;
        }
        hold(&mut ws).await;
    })
    .await;
    let m = manager(port);
    let mut w = watch(&m);
    recv(&mut w.connects).await;
    let started = tokio::time::Instant::now();
    assert_eq!(recv(&mut w.reasons).await, DisconnectReason::PingTimeout);
    assert!(started.elapsed() >= Duration::from_millis(150));
    recv(&mut w.connects).await;
}

#[tokio::test]
async fn a_handshake_that_never_comes_times_out_and_is_retried() {
    let port = fake(|n, mut ws| async move {
        if n >= 2 {
            accept_socket(&mut ws, 25_000).await;
        }
        hold(&mut ws).await;
    })
    .await;
    let m = manager(port);
    let mut w = watch(&m);
    recv(&mut w.connects).await;
    let mut seen = Vec::new();
    while let Ok(e) = w.events.try_recv() {
        seen.push(e);
    }
    assert!(matches!(seen[0], ManagerEvent::Error(_)), "{seen:?}");
    assert_eq!(seen[1], ManagerEvent::ReconnectAttempt(1));
    assert!(
        matches!(seen[2], ManagerEvent::ReconnectError(_)),
        "{seen:?}"
    );
    assert_eq!(seen[3], ManagerEvent::ReconnectAttempt(2));
    assert_eq!(seen[4], ManagerEvent::Reconnect(2));
    assert_eq!(seen[5], ManagerEvent::Open);
}

#[tokio::test]
async fn a_polling_server_answering_garbage_is_a_transport_error() {
    // Raw HTTP: a 200 with an undecodable body, then a 500, then silence.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = vec![0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let response: &[u8] = match n {
                0 => b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n\xff\xfe\x00ab",
                1 => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
                _ => b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n0{}",
            };
            n += 1;
            let _ = tcp.write_all(response).await;
        }
    });
    let m = Manager::builder(&format!("http://127.0.0.1:{port}"))
        .transports(TransportMode::PollingOnly)
        .reconnection_delay(Duration::from_millis(10))
        .reconnection_delay_max(Duration::from_millis(20))
        .reconnection_attempts(3)
        .build()
        .unwrap();
    let mut events = m.events();
    let socket = m.socket("/").connect();
    let err = socket.wait_connected().await.unwrap_err();
    assert_eq!(err.kind(), socketio_client::ErrorKind::ReconnectFailed);
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(matches!(seen[0], ManagerEvent::Error(_)), "{seen:?}");
    assert_eq!(seen.last(), Some(&ManagerEvent::ReconnectFailed));
}
