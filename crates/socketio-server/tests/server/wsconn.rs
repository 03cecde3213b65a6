//! The WebSocket byte stream and the session loop's batching: frames that arrive right behind
//! the upgrade request, many events read at once, and a connection that hyper can only hand
//! over as its generic upgraded type (a server other than ours).

use tokio::io::AsyncWriteExt;

use super::hostile::{RawWs, TEXT, WS_HEADERS, frame};
use super::*;

/// Sends the upgrade request and `after` in one write, before reading the 101.
async fn upgrade_with(addr: &str, after: &[u8]) -> RawWs {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut bytes = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n{WS_HEADERS}\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(after);
    stream.write_all(&bytes).await.unwrap();
    let mut ws = RawWs {
        stream,
        buf: Vec::new(),
    };
    let head = ws.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws
}

/// `n` acknowledged `echo` events as one byte string, ack ids 0..n.
fn echo_events(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| frame(TEXT, format!(r#"42{i}["echo",{i}]"#).as_bytes()))
        .collect()
}

async fn expect_echo_acks(ws: &mut RawWs, n: usize) {
    for i in 0..n {
        assert_eq!(ws.text().await.unwrap(), format!("43{i}[{i}]"));
    }
}

#[tokio::test]
async fn frames_sent_right_behind_the_upgrade_request_are_read() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    // CONNECT and three events travel with the request itself: hyper has read them into its
    // buffer with the head, and the WebSocket must start from those bytes.
    let mut after = frame(TEXT, b"40");
    after.extend(echo_events(3));
    let mut ws = upgrade_with(&addr, &after).await;
    assert!(ws.text().await.unwrap().starts_with("0{"));
    assert!(ws.text().await.unwrap().starts_with("40{\"sid\":"));
    expect_echo_acks(&mut ws, 3).await;
}

#[tokio::test]
async fn many_events_read_at_once_are_all_answered_in_order() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut ws = RawWs::connected(&addr).await;
    // Far more than one read batch, in one write: every reply comes, in order.
    ws.send(&echo_events(500)).await;
    expect_echo_acks(&mut ws, 500).await;
    // And a single event after the burst is answered on its own (the flush does not wait
    // for more input).
    ws.send(&frame(TEXT, br#"42777["echo","last"]"#)).await;
    assert_eq!(ws.text().await.unwrap(), r#"43777["last"]"#);
}

#[tokio::test]
async fn a_connection_hyper_hands_over_generically_serves_websocket_too() {
    let io = SocketIo::new(SocketIoConfig::default()).unwrap();
    io.ns("/", |socket: Socket| {
        socket.on("echo", |_, args, ack| async move {
            if let Some(ack) = ack {
                let _ = ack.send_args(&args);
            }
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = io.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            // A buffered stream: not the `TokioIo<TcpStream>` the engine can take back out of
            // hyper, so the WebSocket runs on hyper's upgraded connection.
            let conn = TokioIo::new(tokio::io::BufStream::new(tcp));
            let io = server.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let io = io.clone();
                    async move { Ok::<_, std::convert::Infallible>(io.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(conn, svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let mut after = frame(TEXT, b"40");
    after.extend(echo_events(2));
    let mut ws = upgrade_with(&addr, &after).await;
    assert!(ws.text().await.unwrap().starts_with("0{"));
    assert!(ws.text().await.unwrap().starts_with("40{\"sid\":"));
    expect_echo_acks(&mut ws, 2).await;
    ws.send(&echo_events(100)).await;
    expect_echo_acks(&mut ws, 100).await;
}
