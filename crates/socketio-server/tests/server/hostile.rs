//! Hostile input from the reliability catalogue that needs raw bytes or timeouts: polling
//! misuse (A6, A7, A9, A11, A15, A18, A19), stalled and smuggled HTTP (A12, A13, A20, A21), the
//! WebSocket layer (B3, B5-B17) and Socket.IO state abuse (D4, D5, D7, D8, D12, D13). Every
//! test also checks that the server keeps serving another client. Timeouts run on tokio's
//! paused clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::Instant;

use super::*;

const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";
pub(super) const WS_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// A configuration for paused-time tests: heartbeats far apart, so that test clients which do
/// not answer pings stay connected while the clock jumps.
fn quiet_config() -> SocketIoConfig {
    let mut config = SocketIoConfig::default();
    config.engine.session.ping_interval = Duration::from_secs(600);
    config
}

/// The server still serves: an event round trip on the connected client `alive`, and a fresh
/// client connects and round-trips too.
async fn still_serving(addr: &str, alive: &mut Ws) {
    alive
        .send(Message::text(r#"4290["echo","alive"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(alive).await.unwrap(), r#"4390["alive"]"#);
    let mut fresh = connected(addr).await;
    fresh
        .send(Message::text(r#"4291["echo","fresh"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut fresh).await.unwrap(), r#"4391["fresh"]"#);
}

/// Reads what the server sends until it closes the connection: `(bytes, closed)`, where
/// `closed` is false when nothing more came for 60 s.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Sends `request` as raw bytes on a new connection; returns what came back until the server
/// closed the connection, as text.
async fn raw_http(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // The server may answer and close before all of a hostile request is written.
    let _ = stream.write_all(request).await;
    let (bytes, closed) = read_until_closed(&mut stream).await;
    assert!(closed, "the server must end the connection");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The status codes of the responses in `raw`, in order.
fn statuses(raw: &str) -> Vec<u16> {
    raw.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| raw.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// A client WebSocket frame: `first` is the first header byte (FIN, RSV bits, opcode); the
/// payload is masked unless `masked` is false.
fn frame_with(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x11, 0x22, 0x33, 0x44];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A masked client frame.
pub(super) fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(first, payload, true)
}

pub(super) const TEXT: u8 = 0x81;
const CLOSE: u8 = 0x88;

/// A WebSocket spoken byte by byte, for frames no WebSocket library would send.
pub(super) struct RawWs {
    pub(super) stream: TcpStream,
    pub(super) buf: Vec<u8>,
}

impl RawWs {
    /// Upgrades a new connection with `query`; panics unless the answer is 101.
    async fn open(addr: &str, query: &str) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let req = format!("GET /socket.io/?{query} HTTP/1.1\r\nHost: {addr}\r\n{WS_HEADERS}\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut ws = Self {
            stream,
            buf: Vec::new(),
        };
        let head = ws.read_head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        ws
    }

    /// A raw WebSocket that joined the main namespace.
    pub(super) async fn connected(addr: &str) -> Self {
        let mut ws = Self::open(addr, "EIO=4&transport=websocket").await;
        assert!(ws.text().await.unwrap().starts_with("0{"));
        ws.send(&frame(TEXT, b"40")).await;
        assert!(ws.text().await.unwrap().starts_with("40{"));
        ws
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(Duration::from_secs(60), self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    pub(super) async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            assert!(self.fill().await, "no response head");
        }
    }

    pub(super) async fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed on an earlier frame.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next server frame as (opcode, payload); `None` once the connection ends.
    async fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let (op, len7) = (self.buf[0] & 0x0f, usize::from(self.buf[1] & 0x7f));
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
                let (len, start) = match len7 {
                    126 if self.buf.len() >= 4 => (
                        usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                        4,
                    ),
                    127 if self.buf.len() >= 10 => (
                        usize::try_from(u64::from_be_bytes(self.buf[2..10].try_into().unwrap()))
                            .unwrap(),
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n, 2),
                };
                if len != usize::MAX && self.buf.len() >= start + len {
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return Some((op, payload));
                }
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next text frame, skipping Engine.IO pings.
    pub(super) async fn text(&mut self) -> Option<String> {
        loop {
            let (op, payload) = self.next_frame().await?;
            if op == 1 && payload != b"2" {
                return Some(String::from_utf8(payload).unwrap());
            }
        }
    }

    /// Reads until the server's close frame and returns its code; `None` if the connection
    /// ends without one.
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            let (op, payload) = self.next_frame().await?;
            if op == 8 {
                return Some(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    }
}

/// A connection from another loopback address (`127.0.0.N`), to test per-address caps.
async fn connect_from(ip: [u8; 4], addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((ip, 0)))
        .expect("loopback alias");
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A polling handshake from `127.0.0.N`; returns the status.
async fn handshake_from(ip: [u8; 4], addr: &str) -> u16 {
    let mut stream = connect_from(ip, addr).await;
    let req = format!("GET {HANDSHAKE} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let (bytes, _) = read_until_closed(&mut stream).await;
    statuses(&String::from_utf8_lossy(&bytes))[0]
}

#[tokio::test(start_paused = true)]
async fn a12_a_stalled_body_times_out_and_the_session_is_reaped() {
    let (io, addr) = start(quiet_config()).await;
    let mut alive = connected(&addr).await;
    let sid = polling_sid(&addr).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n42[\"echo\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // Meanwhile the server serves others.
    still_serving(&addr, &mut alive).await;
    let (bytes, closed) = read_until_closed(&mut stream).await;
    let raw = String::from_utf8_lossy(&bytes);
    assert!(closed);
    assert_eq!(statuses(&raw), [408], "{raw}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(30) && waited < Duration::from_secs(31));
    // The session is gone: only `alive` remains.
    wait_sessions(&io, 1).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(&addr, "GET", &q, b"", "text/plain").await.0, 400);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn a13_slowloris_headers_are_cut_by_the_header_timeout() {
    let (_io, addr) = start(quiet_config()).await;
    let mut alive = connected(&addr).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = stream.split();
    let started = Instant::now();
    let trickle = async {
        // One header byte per (virtual) second, never finishing the head.
        let line = format!("GET {HANDSHAKE} HTTP/1.1\r\nX-Slow: ");
        for b in line.bytes().chain(std::iter::repeat_n(b'a', 100)) {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let read_closed = async {
        let mut buf = [0u8; 1024];
        tokio::time::timeout(Duration::from_secs(120), rd.read(&mut buf)).await
    };
    let (_, closed) = tokio::join!(trickle, read_closed);
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "{closed:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(29) && waited <= Duration::from_secs(32),
        "{waited:?}"
    );
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn a20_a_handshake_flood_is_capped_and_abandoned_sessions_are_reaped() {
    let mut config = SocketIoConfig::default();
    config.engine.max_sessions = Some(30);
    config.engine.max_sessions_per_ip = Some(20);
    let (io, addr) = start(config).await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let baseline = tasks();
    let mut alive = connected(&addr).await; // one session from 127.0.0.1
    let mut codes = Vec::new();
    for _ in 0..100 {
        codes.push(handshake_from([127, 0, 0, 1], &addr).await);
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 19);
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 81);
    assert_eq!(codes[..19], [200; 19]);
    for _ in 0..10 {
        assert_eq!(handshake_from([127, 0, 0, 2], &addr).await, 200);
    }
    assert_eq!(handshake_from([127, 0, 0, 2], &addr).await, 503);
    assert_eq!(handshake_from([127, 0, 0, 3], &addr).await, 503);
    let raw = raw_http(
        &addr,
        format!("GET {HANDSHAKE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        raw.ends_with(r#"{"code":4,"message":"Too many sessions"}"#),
        "{raw}"
    );
    assert_eq!(io.engine().session_count(), 30);
    // The connected client is served throughout.
    alive
        .send(Message::text(r#"4290["echo","alive"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut alive).await.unwrap(), r#"4390["alive"]"#);
    drop(alive);
    // Every abandoned session is reaped within pingInterval + pingTimeout.
    let started = Instant::now();
    wait_sessions_gone(&io).await;
    assert!(started.elapsed() <= Duration::from_secs(45) + Duration::from_millis(10));
    // No task outlives its session: once the runtime is idle (its bounded close timers
    // included), the task count is back where it started.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(tasks(), baseline);
    // The caps were released with the sessions.
    assert_eq!(handshake_from([127, 0, 0, 1], &addr).await, 200);
    let mut fresh = connected(&addr).await;
    fresh
        .send(Message::text(r#"421["echo","x"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut fresh).await.unwrap(), r#"431["x"]"#);
}

#[tokio::test]
async fn a21_request_smuggling_shapes_are_rejected_by_the_http_layer() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let sid = polling_sid(&addr).await;
    let post =
        format!("POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n");
    // A request hidden in a body: if the server ever answers it, it was smuggled.
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: Vec<(&str, String)> = vec![
        (
            "CL and TE",
            format!(
                "{post}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"
            ),
        ),
        (
            "two different CLs",
            format!("{post}Content-Length: 2\r\nContent-Length: 40\r\n\r\n40{hidden}"),
        ),
        (
            "TE chunked, identity",
            format!(
                "{post}Transfer-Encoding: chunked, identity\r\n\r\n2\r\n40\r\n0\r\n\r\n{hidden}"
            ),
        ),
        (
            "chunk size over 2^64",
            format!(
                "{post}Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n40\r\n0\r\n\r\n{hidden}"
            ),
        ),
    ];
    for (name, request) in cases {
        let raw = raw_http(&addr, request.as_bytes()).await;
        assert_eq!(statuses(&raw), [400], "{name}: {raw}");
    }
    // A GET with a body: the body is read as a body, never as the next request.
    let request = format!(
        "GET {HANDSHAKE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{hidden}",
        hidden.len()
    );
    let raw = raw_http(&addr, request.as_bytes()).await;
    assert_eq!(statuses(&raw), [200], "{raw}");
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn b3_an_unfinished_upgrade_times_out_and_polling_continues() {
    let (io, addr) = start(quiet_config()).await;
    let mut alive = connected(&addr).await;
    let sid = polling_sid(&addr).await;
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let ws_q = format!("EIO=4&transport=websocket&sid={sid}");
    // No `2probe` at all, then `2probe` without the final `5`.
    for probe_first in [false, true] {
        let mut probe = ws(&addr, &ws_q).await;
        if probe_first {
            probe.send(Message::text("2probe")).await.unwrap();
            assert_eq!(next_text(&mut probe).await.unwrap(), "3probe");
        }
        let started = Instant::now();
        assert_eq!(
            next_text_within(&mut probe, Duration::from_secs(60)).await,
            None
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(9) && waited <= Duration::from_secs(11),
            "{waited:?}"
        );
    }
    // The polling session works on: connect over it.
    assert_eq!(
        http(&addr, "POST", &q, b"40", "text/plain").await,
        (200, "ok".to_owned())
    );
    let (status, body) = http(&addr, "GET", &q, b"", "text/plain").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("40{"), "{body}");
    assert_eq!(io.engine().session_count(), 2);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn b5_to_b12_websocket_protocol_violations_close_with_the_rfc_code() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let mut long = vec![0x03, 0xe8];
    long.extend_from_slice(&[b'a'; 130]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("B5 RSV1", frame(0xc1, b"42[\"echo\"]"), 1002),
        ("B5 RSV2", frame(0xa1, b"42[\"echo\"]"), 1002),
        ("B5 RSV3", frame(0x91, b"42[\"echo\"]"), 1002),
        (
            "B6 unmasked",
            frame_with(TEXT, b"42[\"echo\"]", false),
            1002,
        ),
        (
            "B7 2^63 bytes declared",
            vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            1009,
        ),
        (
            "B7 2^62 bytes declared",
            {
                let mut f = vec![0x82, 0xff];
                f.extend_from_slice(&(1u64 << 62).to_be_bytes());
                f.extend_from_slice(&[1, 2, 3, 4]);
                f
            },
            1009,
        ),
        (
            "B10 invalid UTF-8 text",
            frame(TEXT, b"42[\"\xff\xfe\"]"),
            1007,
        ),
        (
            "B10 invalid UTF-8 close reason",
            frame(CLOSE, b"\x03\xe8\xff\xfe"),
            1007,
        ),
        (
            "B11 control frame over 125 bytes",
            frame(CLOSE, &long),
            1002,
        ),
        ("B11 fragmented ping", frame(0x09, b"x"), 1002),
        ("B11 unknown control opcode", frame(0x8b, b""), 1002),
        ("B11 unknown data opcode", frame(0x83, b"x"), 1002),
        ("B11 continuation without start", frame(0x80, b"x"), 1002),
        (
            "B12 close code 999",
            frame(CLOSE, &999u16.to_be_bytes()),
            1002,
        ),
        (
            "B12 close code 1005",
            frame(CLOSE, &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "B12 close code 1006",
            frame(CLOSE, &1006u16.to_be_bytes()),
            1002,
        ),
        (
            "B12 close code 5000",
            frame(CLOSE, &5000u16.to_be_bytes()),
            1002,
        ),
    ];
    for (name, bytes, code) in cases {
        let mut ws = RawWs::connected(&addr).await;
        ws.send(&bytes).await;
        assert_eq!(ws.close_code().await, Some(code), "{name}");
    }
    // Every one of those sessions ended; the other client never noticed.
    wait_sessions(&io, 1).await;
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn b8_a_message_over_the_limit_closes_with_1009_in_one_frame_or_many() {
    let mut config = SocketIoConfig::default();
    config.engine.session.max_payload = 1000;
    let (io, addr) = start(config).await;
    let mut alive = connected(&addr).await;
    let mut ws = RawWs::connected(&addr).await;
    ws.send(&frame(TEXT, &[b'4'; 1001])).await;
    assert_eq!(ws.close_code().await, Some(1009));
    // 1,000 fragments of 2 bytes each: 2,000 bytes in all.
    let mut ws = RawWs::connected(&addr).await;
    let mut bytes = frame(0x01, b"42");
    for _ in 0..998 {
        bytes.extend(frame(0x00, b"aa"));
    }
    bytes.extend(frame(0x80, b"aa"));
    ws.send(&bytes).await;
    assert_eq!(ws.close_code().await, Some(1009));
    wait_sessions(&io, 1).await;
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn b9_many_empty_fragments_and_one_byte_writes_stay_bounded() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    // 100,000 empty continuation frames cost nothing but parsing: tungstenite appends each to
    // one buffer bounded by maxPayload (no per-fragment allocation, unlike ws before 8.21).
    let mut ws = RawWs::connected(&addr).await;
    let mut bytes = frame(0x01, b"421");
    for _ in 0..100_000 {
        bytes.extend(frame(0x00, b""));
    }
    bytes.extend(frame(0x80, br#"["echo","frag"]"#));
    ws.send(&bytes).await;
    assert_eq!(ws.text().await.unwrap(), r#"431["frag"]"#);
    // A message written one byte per TCP write.
    ws.stream.set_nodelay(true).unwrap();
    let big = format!(r#"422["echo","{}"]"#, "y".repeat(1000));
    for b in frame(TEXT, big.as_bytes()) {
        ws.send(&[b]).await;
    }
    assert_eq!(
        ws.text().await.unwrap(),
        format!(r#"432["{}"]"#, "y".repeat(1000))
    );
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn b13_a_ping_flood_from_a_peer_that_does_not_read_is_contained() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let ws = RawWs::connected(&addr).await;
    let mut stream = ws.stream;
    // 50,000 pings of 125 bytes (6.5 MB of pongs owed), never reading a pong. tungstenite
    // keeps at most one pong queued; once the socket buffers are full the server stops
    // reading this connection, and nothing grows.
    let ping = frame(0x89, &[b'p'; 125]);
    let flood = tokio::spawn(async move {
        for _ in 0..50_000 {
            if tokio::time::timeout(Duration::from_secs(2), stream.write_all(&ping))
                .await
                .map_or(true, |r| r.is_err())
            {
                break;
            }
        }
        stream
    });
    still_serving(&addr, &mut alive).await;
    let stream = flood.await.unwrap();
    drop(stream);
    wait_sessions(&io, 1).await;
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn b14_b15_hostile_upgrade_requests() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let head = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n";
    let many: String = (0..3000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let raw = raw_http(&addr, format!("{head}{WS_HEADERS}{many}\r\n").as_bytes()).await;
    assert_eq!(statuses(&raw), [431], "3,000 headers");
    let huge = format!("X-Big: {}\r\n", "b".repeat(1 << 20));
    let raw = raw_http(&addr, format!("{head}{WS_HEADERS}{huge}\r\n").as_bytes()).await;
    assert_eq!(statuses(&raw), [431], "a 1 MB header");
    for (name, headers) in [
        (
            "missing key",
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        ),
        (
            "wrong version",
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 8\r\n",
        ),
    ] {
        let raw = raw_http(&addr, format!("{head}{headers}\r\n").as_bytes()).await;
        assert_eq!(statuses(&raw), [400], "{name}: {raw}");
    }
    // Headers the server does not interpret are harmless: 100k spaces in the protocol list,
    // prototype names and permessage-deflate in the extensions. Nothing is negotiated.
    for extra in [
        format!("Sec-WebSocket-Protocol: a{}b\r\n", " ".repeat(100_000)),
        "Sec-WebSocket-Extensions: __proto__; constructor=1, toString\r\n".to_owned(),
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n".to_owned(),
    ] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let req = format!("{head}{WS_HEADERS}{extra}\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
        };
        let head = ws.read_head().await.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(!head.contains("sec-websocket-extensions"), "{head}");
        assert!(!head.contains("sec-websocket-protocol"), "{head}");
        assert!(ws.text().await.unwrap().starts_with("0{"));
        // B15: a compressed (RSV1) frame without the extension is a protocol error.
        ws.send(&frame(0xc1, b"\xf2\x48\xcd\xc9\xc9\x07\x00")).await;
        assert_eq!(ws.close_code().await, Some(1002));
    }
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn b16_a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let (io, addr) = start(quiet_config()).await;
    let mut alive = connected(&addr).await;
    let mut ws = RawWs::connected(&addr).await;
    // 12 MB for a client that reads nothing: more than the socket buffers hold, less than
    // the session queue takes (16 MiB), so only the write timeout can end it.
    ws.send(&frame(TEXT, br#"42["flood",120,100000]"#)).await;
    let started = Instant::now();
    still_serving(&addr, &mut alive).await;
    // The stuck session ends: only `alive` remains.
    wait_sessions(&io, 1).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited <= Duration::from_secs(21),
        "{waited:?}"
    );
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn b17_reset_mid_frame_and_half_close_end_the_session() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    // A reset in the middle of a frame.
    let mut ws = RawWs::connected(&addr).await;
    let f = frame(TEXT, br#"42["echo","cut"]"#);
    ws.send(&f[..6]).await;
    // SO_LINGER 0: the drop sends a reset at once (it does not block).
    #[expect(deprecated, reason = "linger 0 makes the drop reset the connection")]
    ws.stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(ws);
    wait_sessions(&io, 1).await;
    // Half-close right after the upgrade request.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n{WS_HEADERS}\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let (bytes, closed) = read_until_closed(&mut stream).await;
    assert!(closed);
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    wait_sessions(&io, 1).await;
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn d5_refused_connects_are_cut_off_after_the_limit() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let mut ws = connected(&addr).await;
    let mut refusals = 0;
    for _ in 0..1000 {
        if ws
            .send(Message::text(r#"40/admin,{"token":"guess"}"#))
            .await
            .is_err()
        {
            break;
        }
        match next_text(&mut ws).await {
            Some(t) => {
                assert_eq!(
                    t,
                    r#"44/admin,{"message":"not authorized","data":{"code":7}}"#
                );
                refusals += 1;
            }
            None => break,
        }
    }
    assert_eq!(refusals, 100);
    assert_eq!(next_text(&mut ws).await, None);
    // Nothing of the attempts is left behind.
    assert!(io.of("/admin").unwrap().sockets().is_empty());
    wait_sessions(&io, 1).await;
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn d7_namespace_names_are_capped() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await.unwrap();
    // The longest accepted name (256 bytes) reaches the matchers, which refuse it.
    let at_cap = format!("/room-{}", "a".repeat(250));
    ws.send(Message::text(format!("40{at_cap},")))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        format!(r#"44{at_cap},{{"message":"Invalid namespace"}}"#)
    );
    // Longer names, up to 64 KB of matcher bait, never reach a matcher: the connection closes.
    for len in [257, 64 << 10] {
        let mut ws = connected(&addr).await;
        let name = format!("/room-{}", "(a+)+".repeat(len / 5));
        ws.send(Message::text(format!("40{name},"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, None, "{len}");
    }
    assert!(io.of(&at_cap).is_none());
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn d8_hostile_auth_payloads() {
    let (_io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    // 900 KB of auth: refused by the middleware like any other.
    let mut ws = ws(&addr, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await.unwrap();
    let big = format!(
        r#"40/admin,{{"token":"x","pad":"{}"}}"#,
        "p".repeat(900_000)
    );
    ws.send(Message::text(big)).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"44/admin,{"message":"not authorized","data":{"code":7}}"#
    );
    // Deep nesting and payloads that are not objects close the connection.
    let deep = format!(
        r#"40/admin,{{"a":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for bad in [
        deep.as_str(),
        r#"40/admin,"token""#,
        "40/admin,[1]",
        "40/admin,1",
    ] {
        let mut ws = super::ws(&addr, "EIO=4&transport=websocket").await;
        next_text(&mut ws).await.unwrap();
        ws.send(Message::text(bad)).await.unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            None,
            "{}",
            &bad[..20.min(bad.len())]
        );
    }
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn d12_unanswered_client_acks_are_bounded_by_the_handler_limit() {
    let mut config = quiet_config();
    config.engine.max_concurrent_tasks = 16;
    let io = SocketIo::new(config).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let (r, rel, tx) = (
        Arc::clone(&running),
        Arc::clone(&release),
        Arc::new(count_tx),
    );
    io.ns("/", move |socket: Socket| {
        let (r, rel, tx) = (Arc::clone(&r), Arc::clone(&rel), Arc::clone(&tx));
        socket.on("hang", move |_, _, _ack| {
            let (r, rel, tx) = (Arc::clone(&r), Arc::clone(&rel), Arc::clone(&tx));
            async move {
                // Holds its ack and never answers until released.
                tx.send_replace(r.fetch_add(1, Ordering::SeqCst) + 1);
                let _ = rel
                    .acquire()
                    .await
                    .map(tokio::sync::SemaphorePermit::forget);
            }
        });
        socket.on("echo", |_, args, ack| async move {
            if let Some(ack) = ack {
                let _ = ack.send_args(&args);
            }
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    let mut alive = connected(&addr).await;
    let mut ws = RawWs::connected(&addr).await;
    let mut bytes = Vec::new();
    for id in 0..10_000 {
        bytes.extend(frame(TEXT, format!(r#"42{id}["hang"]"#).as_bytes()));
    }
    let mut stream = ws.stream;
    let writer = tokio::spawn(async move {
        let _ = stream.write_all(&bytes).await;
        stream
    });
    count_rx.wait_for(|n| *n == 16).await.unwrap();
    // However long we wait, no more handlers start: reads pause at the limit.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(running.load(Ordering::SeqCst), 16);
    still_serving(&addr, &mut alive).await;
    // Released, the handlers drain the rest in bounded batches.
    release.add_permits(10_000);
    count_rx.wait_for(|n| *n == 10_000).await.unwrap();
    ws.stream = writer.await.unwrap();
    drop(ws);
    wait_sessions(&io, 1).await;
}

#[tokio::test]
async fn d13_rooms_from_client_input_are_capped() {
    let mut config = SocketIoConfig::default();
    config.max_rooms_per_socket = 1000;
    let (_io, addr) = start(config).await;
    let mut alive = connected(&addr).await;
    let mut ws = connected(&addr).await;
    ws.send(Message::text(r#"421["join-many","r",100000]"#))
        .await
        .unwrap();
    // The socket's own room counts: 999 joined, then a typed refusal.
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"431[999,"socket is in the maximum of 1000 rooms"]"#
    );
    ws.send(Message::text(r#"422["join-long",1000000]"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        r#"432["room name of 1000000 bytes exceeds the maximum of 4096",1000]"#
    );
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn a6_polling_on_an_upgraded_session_is_400_code_3_and_the_websocket_untouched() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let sid = polling_sid(&addr).await;
    let mut upgraded = ws(&addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    upgraded.send(Message::text("2probe")).await.unwrap();
    assert_eq!(next_text(&mut upgraded).await.unwrap(), "3probe");
    upgraded.send(Message::text("5")).await.unwrap();
    // The CONNECT answered over the WebSocket shows the upgrade is complete.
    upgraded.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut upgraded).await.unwrap().starts_with("40{"));
    let q = format!("{HANDSHAKE}&sid={sid}");
    let mismatch = (400, r#"{"code":3,"message":"Bad request"}"#.to_owned());
    assert_eq!(http(&addr, "GET", &q, b"", "text/plain").await, mismatch);
    assert_eq!(
        http(&addr, "POST", &q, br#"42["echo","x"]"#, "text/plain").await,
        mismatch
    );
    // The WebSocket session is untouched.
    upgraded
        .send(Message::text(r#"421["echo","ws"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut upgraded).await.unwrap(), r#"431["ws"]"#);
    assert_eq!(io.engine().session_count(), 2);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn a7_origin_with_control_characters_is_refused_by_the_http_layer() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    // The catalogue expects 400 code 3 (INVALID_ORIGIN, the reference checks the header
    // itself). Here hyper's parser refuses such a header before the engine sees the request:
    // 400 without an Engine.IO body, the connection ended, no session created. (A bare LF
    // cannot be inside a value: it ends the header line, as HTTP/1.1 allows.)
    for origin in [
        &b"http://a.test\rX-Injected: 1"[..],
        b"http://a\x00.test",
        b"http://a\x01.test",
        b"http://a\x1b.test",
        b"http://a\x7f.test",
    ] {
        let mut request = format!("GET {HANDSHAKE} HTTP/1.1\r\nHost: x\r\nOrigin: ").into_bytes();
        request.extend_from_slice(origin);
        request.extend_from_slice(b"\r\n\r\n");
        let raw = raw_http(&addr, &request).await;
        assert_eq!(statuses(&raw), [400], "{origin:?}: {raw}");
        assert!(!raw.contains("\"sid\""), "{raw}");
    }
    assert_eq!(io.engine().session_count(), 1);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn a15_invalid_polling_payloads_are_400_and_close_the_session() {
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let bodies: [&'static [u8]; 7] = [
        b"abc",
        b"9",
        b"4a\x1e\x1e4b",
        b"4a\x1e",
        b"4\xff\xfe",
        b"b!!!",
        b"bQUJD*",
    ];
    for body in bodies {
        let sid = polling_sid(&addr).await;
        let q = format!("{HANDSHAKE}&sid={sid}");
        assert_eq!(
            http(&addr, "POST", &q, body, "text/plain").await.0,
            400,
            "{body:?}"
        );
        wait_sessions(&io, 1).await;
        assert_eq!(
            http(&addr, "GET", &q, b"", "text/plain").await,
            (
                400,
                r#"{"code":1,"message":"Session ID unknown"}"#.to_owned()
            ),
            "{body:?}"
        );
    }
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn a18_an_aborted_long_poll_closes_the_session() {
    let (io, addr) = start(quiet_config()).await;
    let mut alive = connected(&addr).await;
    let sid = polling_sid(&addr).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let get = format!("GET {HANDSHAKE}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(get.as_bytes()).await.unwrap();
    // The GET waits (nothing to send): no answer while the runtime runs idle for 100 ms.
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf))
            .await
            .is_err()
    );
    let started = Instant::now();
    #[expect(deprecated, reason = "linger 0 makes the drop reset the connection")]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
    // The session closes at once, long before any heartbeat (pingInterval is 600 s here).
    wait_sessions(&io, 1).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let q = format!("{HANDSHAKE}&sid={sid}");
    assert_eq!(http(&addr, "GET", &q, b"", "text/plain").await.0, 400);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test]
async fn a19_eio3_is_refused_with_400_code_5_and_sessions_untouched() {
    // Deliberate difference: only Engine.IO v4 is implemented (`RequestError::
    // UnsupportedProtocolVersion`: `EIO` is not exactly `4`), so the catalogue's EIO3 payload
    // cases cannot reach a decoder. Any request with `EIO=3`, with or without a v4 session's sid, gets the
    // refusal for an unsupported version, and the v4 session is left as it was.
    let (io, addr) = start(SocketIoConfig::default()).await;
    let mut alive = connected(&addr).await;
    let refusal = (
        400,
        r#"{"code":5,"message":"Unsupported protocol version"}"#.to_owned(),
    );
    assert_eq!(
        http(
            &addr,
            "GET",
            "/socket.io/?EIO=3&transport=polling",
            b"",
            "text/plain"
        )
        .await,
        refusal
    );
    let sid = polling_sid(&addr).await;
    let q3 = format!("/socket.io/?EIO=3&transport=polling&sid={sid}");
    let payloads: [&'static [u8]; 5] = [
        b"99999999999999999999:4x",
        b"-1:",
        b"5:4ab",
        "2:4\u{e9}\u{e9}".as_bytes(),
        b"1:",
    ];
    for body in payloads {
        assert_eq!(
            http(&addr, "POST", &q3, body, "text/plain").await,
            refusal,
            "{body:?}"
        );
    }
    assert_eq!(http(&addr, "GET", &q3, b"", "text/plain").await, refusal);
    // The v4 session is untouched: it connects and round-trips.
    let q = format!("{HANDSHAKE}&sid={sid}");
    assert_eq!(
        http(&addr, "POST", &q, b"40", "text/plain").await,
        (200, "ok".to_owned())
    );
    let (status, body) = http(&addr, "GET", &q, b"", "text/plain").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("40{"), "{body}");
    assert_eq!(io.engine().session_count(), 2);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn d4_no_connect_after_the_handshake_closes_after_the_connect_timeout() {
    let (io, addr) = start(quiet_config()).await;
    let mut alive = connected(&addr).await;
    let mut idle = ws(&addr, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut idle).await.unwrap().starts_with("0{"));
    let started = Instant::now();
    assert_eq!(
        next_text_within(&mut idle, Duration::from_secs(120)).await,
        None
    );
    // The default connect timeout is 45 s.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(45) && waited < Duration::from_secs(46),
        "{waited:?}"
    );
    wait_sessions(&io, 1).await;
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn a11_a_chunked_post_crossing_the_limit_is_413_and_dispatches_nothing() {
    let mut config = quiet_config();
    config.engine.session.max_payload = 100;
    let (io, addr) = start(config).await;
    let mut alive = connected(&addr).await;
    still_serving(&addr, &mut alive).await;
    let ns = io.of("/").unwrap();
    let received = ns.stats().packets_received;
    let sid = polling_sid(&addr).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // Valid packets first (a CONNECT and an event), in a chunk under the limit.
    let valid = "40\x1e42[\"echo\",\"a\"]";
    let head = format!(
        "POST {HANDSHAKE}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{valid}\r\n",
        valid.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Nothing is answered or dispatched while the body is incomplete.
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf))
            .await
            .is_err()
    );
    assert_eq!(ns.sockets().len(), 1);
    // Then a chunk that crosses the limit.
    let over = format!("\x1e42[\"echo\",\"{}\"]", "b".repeat(200));
    let rest = format!("{:x}\r\n{over}\r\n0\r\n\r\n", over.len());
    let _ = stream.write_all(rest.as_bytes()).await;
    let (bytes, closed) = read_until_closed(&mut stream).await;
    let raw = String::from_utf8_lossy(&bytes);
    assert!(closed);
    assert_eq!(statuses(&raw), [413], "{raw}");
    // The session closed, and no packet of that body reached the namespace.
    wait_sessions(&io, 1).await;
    assert_eq!(ns.sockets().len(), 1);
    assert_eq!(ns.stats().packets_received, received);
    let q = format!("{HANDSHAKE}&sid={sid}");
    assert_eq!(http(&addr, "GET", &q, b"", "text/plain").await.0, 400);
    still_serving(&addr, &mut alive).await;
}

#[tokio::test(start_paused = true)]
async fn a9_a_second_concurrent_post_is_400_and_closes_the_session() {
    let mut config = quiet_config();
    config.engine.session.max_payload = 100;
    let (io, addr) = start(config).await;
    let mut alive = connected(&addr).await;
    let received = io.of("/").unwrap().stats().packets_received;
    let sid = polling_sid(&addr).await;
    let post = |len: usize| {
        format!(
            "POST {HANDSHAKE}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };
    let body = format!("42[\"echo\",\"{}\"]", "a".repeat(80));
    // The first POST near the limit is still sending its body...
    let mut first = TcpStream::connect(&addr).await.unwrap();
    first.set_nodelay(true).unwrap();
    let head = post(body.len());
    first.write_all(head.as_bytes()).await.unwrap();
    first.write_all(&body.as_bytes()[..10]).await.unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(100), first.read(&mut buf))
            .await
            .is_err()
    );
    // ...when a second one arrives on the same sid: refused before its body is read (so at
    // most one body is held), and the session closed.
    let second = raw_http(
        &addr,
        format!(
            "{}{body}",
            post(body.len()).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(statuses(&second), [400], "{second}");
    wait_sessions(&io, 1).await;
    let _ = first.write_all(&body.as_bytes()[10..]).await;
    let (bytes, _) = read_until_closed(&mut first).await;
    let raw = String::from_utf8_lossy(&bytes);
    // The first finds its session gone: no packet of either body was dispatched.
    assert_eq!(statuses(&raw), [400], "{raw}");
    assert!(
        raw.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#),
        "{raw}"
    );
    assert_eq!(io.of("/").unwrap().stats().packets_received, received);
    still_serving(&addr, &mut alive).await;
}
