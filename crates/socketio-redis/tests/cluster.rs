//! Two of our servers in one process, each with its own Redis connections, on the Redis at
//! 127.0.0.1:6379 (started here when it is not running) or on a private `redis-server` this
//! test starts. Every test uses its own channel prefix, so tests never see each other's data.
//! Clients speak the raw protocol over WebSocket.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]
#![allow(
    unreachable_pub,
    reason = "the shared example app is written for a binary"
)]

#[path = "../examples/common/app.rs"]
mod app;

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use socketio_redis::{RedisAdapterConfig, RedisCluster};
use socketio_server::{AdapterFactory, SocketIo, SocketIoConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const REDIS: &str = "redis://127.0.0.1:6379";

/// Makes sure a Redis answers on 127.0.0.1:6379, starting one when none does.
async fn ensure_redis() {
    if TcpStream::connect("127.0.0.1:6379").await.is_ok() {
        return;
    }
    let _ = std::process::Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .status();
    for _ in 0..100 {
        if TcpStream::connect("127.0.0.1:6379").await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server does not answer on 127.0.0.1:6379");
}

fn unique_key(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t-{test}-{}-{nanos}", std::process::id())
}

struct Node {
    io: SocketIo,
    addr: String,
    cluster: RedisCluster,
}

async fn node(url: &str, config: RedisAdapterConfig, name: &str) -> Node {
    let cluster = RedisCluster::new(url, config).unwrap();
    let mut sio = SocketIoConfig::default();
    let c = cluster.clone();
    sio.adapter = AdapterFactory::new(move |ns| c.adapter(ns));
    let io = SocketIo::new(sio).unwrap();
    app::install(&io, name);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    assert!(cluster.wait_connected(Duration::from_secs(10)).await);
    Node { io, addr, cluster }
}

async fn pair(test: &str) -> (Node, Node, String) {
    ensure_redis().await;
    let key = unique_key(test);
    let a = node(REDIS, RedisAdapterConfig::with_key(&key), "A").await;
    let b = node(REDIS, RedisAdapterConfig::with_key(&key), "B").await;
    (a, b, key)
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// What a client received.
#[derive(Debug)]
enum Incoming {
    Event {
        name: String,
        args: Vec<Value>,
        ack: Option<u64>,
    },
    Ack {
        id: u64,
        args: Vec<Value>,
    },
    Disconnect,
}

/// A raw-protocol client of namespace `/`: binaries are shown as `{"bin": [bytes]}`.
struct Client {
    ws: Ws,
    sid: String,
    next_ack: u64,
    queue: VecDeque<Incoming>,
    /// The answer to `ask` events (broadcasts with acks); `{"bin": [..]}` answers in binary.
    answer: Option<Value>,
}

fn replace_placeholders(v: Value, bins: &[Vec<u8>]) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| replace_placeholders(i, bins))
                .collect(),
        ),
        Value::Object(o) => {
            if o.get("_placeholder") == Some(&Value::Bool(true)) {
                let n = usize::try_from(o["num"].as_u64().unwrap()).unwrap();
                return json!({ "bin": bins[n] });
            }
            Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, replace_placeholders(v, bins)))
                    .collect(),
            )
        }
        v => v,
    }
}

impl Client {
    async fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        let open = Self::text(&mut ws).await.unwrap();
        assert!(open.starts_with("0{"));
        ws.send(Message::text("40")).await.unwrap();
        let ok = Self::text(&mut ws).await.unwrap();
        let v: Value = serde_json::from_str(ok.strip_prefix("40").unwrap()).unwrap();
        Self {
            ws,
            sid: v["sid"].as_str().unwrap().to_owned(),
            next_ack: 0,
            queue: VecDeque::new(),
            answer: None,
        }
    }

    async fn text(ws: &mut Ws) -> Option<String> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .ok()??
            {
                Ok(Message::Text(t)) if t.as_str() == "2" => {
                    ws.send(Message::text("3")).await.ok()?;
                }
                Ok(Message::Text(t)) => return Some(t.to_string()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads the next packet (binary attachments included); `None` when the connection ends.
    async fn read(&mut self) -> Option<Incoming> {
        let text = Self::text(&mut self.ws).await?;
        let body = text.strip_prefix('4').unwrap();
        let (ty, mut rest) = body.split_at(1);
        let mut bins = Vec::new();
        if ty == "5" || ty == "6" {
            let (n, r) = rest.split_once('-').unwrap();
            rest = r;
            for _ in 0..n.parse::<usize>().unwrap() {
                loop {
                    match self.ws.next().await?.ok()? {
                        Message::Binary(b) => {
                            bins.push(b.to_vec());
                            break;
                        }
                        Message::Text(t) if t.as_str() == "2" => {}
                        other => panic!("expected an attachment, got {other:?}"),
                    }
                }
            }
        }
        if ty == "1" {
            return Some(Incoming::Disconnect);
        }
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let id = (digits > 0).then(|| rest[..digits].parse::<u64>().unwrap());
        let json: Value = serde_json::from_str(&rest[digits..]).unwrap();
        let Value::Array(items) = replace_placeholders(json, &bins) else {
            panic!("not an array: {text}")
        };
        Some(match ty {
            "2" | "5" => {
                let mut items = items.into_iter();
                let name = items.next().unwrap().as_str().unwrap().to_owned();
                Incoming::Event {
                    name,
                    args: items.collect(),
                    ack: id,
                }
            }
            _ => Incoming::Ack {
                id: id.unwrap(),
                args: items,
            },
        })
    }

    /// Reads a packet, answering `ask` events on the way when an answer is set.
    async fn read_answering(&mut self) -> Option<Incoming> {
        loop {
            let inc = self.read().await?;
            if let (
                Incoming::Event {
                    name,
                    ack: Some(id),
                    ..
                },
                Some(answer),
            ) = (&inc, &self.answer)
                && name == "ask"
            {
                if let Some(bin) = answer.get("bin") {
                    let bytes: Vec<u8> = serde_json::from_value(bin.clone()).unwrap();
                    self.ws
                        .send(Message::text(format!(
                            r#"461-{id}[{{"_placeholder":true,"num":0}}]"#
                        )))
                        .await
                        .unwrap();
                    self.ws.send(Message::binary(bytes)).await.unwrap();
                } else {
                    self.ws
                        .send(Message::text(format!("43{id}[{answer}]")))
                        .await
                        .unwrap();
                }
                continue;
            }
            return Some(inc);
        }
    }

    /// Sends a control event and waits for its acknowledgement's first argument.
    async fn call(&mut self, event: &str, args: &[Value]) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut payload = vec![json!(event)];
        payload.extend_from_slice(args);
        self.ws
            .send(Message::text(format!("42{id}{}", Value::Array(payload))))
            .await
            .unwrap();
        loop {
            match self.read_answering().await.expect("connection ended") {
                Incoming::Ack { id: got, mut args } if got == id => {
                    return args.drain(..).next().unwrap_or(Value::Null);
                }
                other => self.queue.push_back(other),
            }
        }
    }

    /// The next event (queued or read), whatever its name.
    async fn next_event(&mut self) -> (String, Vec<Value>) {
        loop {
            let inc = match self.queue.pop_front() {
                Some(i) => i,
                None => self.read_answering().await.expect("connection ended"),
            };
            if let Incoming::Event { name, args, .. } = inc {
                return (name, args);
            }
        }
    }

    /// Whether the server disconnected this socket (DISCONNECT packet or connection end).
    async fn disconnected(&mut self) -> bool {
        if self.queue.iter().any(|i| matches!(i, Incoming::Disconnect)) {
            return true;
        }
        loop {
            match self.read_answering().await {
                None | Some(Incoming::Disconnect) => return true,
                Some(other) => self.queue.push_back(other),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_every_node_with_rooms_except_and_local() {
    let (a, b, _) = pair("bcast").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    let mut b2 = Client::connect(&b.addr).await;
    assert_eq!(b1.call("join", &[json!("r")]).await, json!(true));

    // Everyone, with a binary argument.
    let ok = a1
        .call(
            "bcast",
            &[json!({"event": "news", "args": [1, "x"], "bin": true})],
        )
        .await;
    assert_eq!(ok, json!(true));
    let expected = (
        "news".to_owned(),
        vec![json!(1), json!("x"), json!({"bin": [1, 2, 3]})],
    );
    assert_eq!(a1.next_event().await, expected);
    assert_eq!(b1.next_event().await, expected);
    assert_eq!(b2.next_event().await, expected);

    // One room (the room channel), then a sentinel to everyone: b2 sees only the sentinel.
    a1.call("bcast", &[json!({"event": "r-only", "rooms": ["r"]})])
        .await;
    a1.call("bcast", &[json!({"event": "except-r", "except": ["r"]})])
        .await;
    a1.call("bcast", &[json!({"event": "local", "local": true})])
        .await;
    a1.call("bcast", &[json!({"event": "sentinel"})]).await;
    assert_eq!(b1.next_event().await.0, "r-only");
    assert_eq!(b1.next_event().await.0, "sentinel");
    assert_eq!(b2.next_event().await.0, "except-r");
    assert_eq!(b2.next_event().await.0, "sentinel");
    for e in ["except-r", "local", "sentinel"] {
        assert_eq!(a1.next_event().await.0, e);
    }
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_with_ack_gathers_counts_and_replies_of_every_node() {
    let (a, b, _) = pair("bcast-ack").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    let mut b2 = Client::connect(&b.addr).await;
    a1.answer = Some(json!("a1"));
    b1.answer = Some(json!({"n": 1}));
    b2.answer = Some(json!({"bin": [9, 8]}));
    // The B clients answer while they read, in a task of their own.
    let answering1 = tokio::spawn(async move { b1.next_event().await });
    let answering2 = tokio::spawn(async move { b2.next_event().await });
    let r = a1
        .call(
            "bcast-ack",
            &[json!({"event": "ask", "args": ["q"], "bin": true, "timeout": 3000})],
        )
        .await;
    assert_eq!(r["ok"], json!(true), "{r}");
    let mut replies: Vec<String> = r["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    replies.sort();
    assert_eq!(
        replies,
        [r#""a1""#, r#"{"bin":[9,8]}"#, r#"{"n":1}"#].map(String::from)
    );
    // A broadcast to everyone ends the answering task.
    a1.call("bcast", &[json!({"event": "done"})]).await;
    let (e1, e2) = (answering1.await.unwrap(), answering2.await.unwrap());
    assert_eq!((e1.0.as_str(), e2.0.as_str()), ("done", "done"));
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sockets_and_remote_socket_operations() {
    let (a, b, _) = pair("fetch").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    b1.call("join", &[json!("r")]).await;
    let sock = b.io.of("/").unwrap().socket(&b1.sid).unwrap();
    sock.set_data(json!({"user": "bob"}));

    let r = a1.call("fetch", &[json!({})]).await;
    assert_eq!(r["ok"], json!(true));
    let sockets = r["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 2);
    let remote = sockets.iter().find(|s| s["id"] == json!(b1.sid)).unwrap();
    let mut rooms = vec![b1.sid.clone(), "r".to_owned()];
    rooms.sort();
    assert_eq!(remote["rooms"], json!(rooms));
    assert_eq!(remote["data"], json!({"user": "bob"}));
    let only_r = a1.call("fetch", &[json!({"rooms": ["r"]})]).await;
    assert_eq!(only_r["sockets"].as_array().unwrap().len(), 1);

    // The remote socket: emit, join, leave, disconnect.
    let target = json!({"id": b1.sid, "event": "direct", "args": [7], "bin": true, "room": "x"});
    assert_eq!(
        a1.call("remote", &[target.clone(), json!("emit")]).await,
        json!(true)
    );
    assert_eq!(
        b1.next_event().await,
        (
            "direct".to_owned(),
            vec![json!(7), json!({"bin": [1, 2, 3]})]
        )
    );
    assert_eq!(
        a1.call("remote", &[target.clone(), json!("join")]).await,
        json!(true)
    );
    // The join request and the broadcast that follows it travel in order on one connection.
    a1.call("bcast", &[json!({"event": "in-x", "rooms": ["x"]})])
        .await;
    assert_eq!(b1.next_event().await.0, "in-x");
    assert_eq!(
        a1.call("remote", &[target.clone(), json!("leave")]).await,
        json!(true)
    );
    a1.call("bcast", &[json!({"event": "in-x-again", "rooms": ["x"]})])
        .await;
    a1.call("bcast", &[json!({"event": "sentinel"})]).await;
    assert_eq!(b1.next_event().await.0, "sentinel");
    assert_eq!(
        a1.call("remote", &[target, json!("disconnect")]).await,
        json!(true)
    );
    assert!(b1.disconnected().await);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_operations_all_rooms_and_server_count() {
    let (a, b, _) = pair("bulk").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    let mut b2 = Client::connect(&b.addr).await;
    b2.call("join", &[json!("keep")]).await;
    assert_eq!(a1.call("server-count", &[]).await, json!(2));

    assert_eq!(
        a1.call("sockets", &[json!({"room": "all"}), json!("join")])
            .await,
        json!(true)
    );
    let rooms = a1.call("all-rooms", &[]).await;
    let mut expected = vec![
        "all".to_owned(),
        "keep".to_owned(),
        a1.sid.clone(),
        b1.sid.clone(),
        b2.sid.clone(),
    ];
    expected.sort();
    assert_eq!(rooms, json!(expected));

    a1.call(
        "sockets",
        &[json!({"room": "all", "rooms": ["keep"]}), json!("leave")],
    )
    .await;
    let in_all = a1.call("fetch", &[json!({"rooms": ["all"]})]).await;
    let ids: Vec<&str> = in_all["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&b2.sid.as_str()));

    // Disconnect every socket of every node except those in `keep` (and the caller's own).
    a1.call(
        "sockets",
        &[
            json!({"except": ["keep", a1.sid.clone()]}),
            json!("disconnect"),
        ],
    )
    .await;
    assert!(b1.disconnected().await);
    a1.call("bcast", &[json!({"event": "still-here"})]).await;
    assert_eq!(b2.next_event().await.0, "still-here");
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_with_and_without_ack() {
    let (a, b, _) = pair("sse").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    assert_eq!(
        a1.call(
            "sse",
            &[json!({"event": "hello", "args": [1], "bin": true})]
        )
        .await,
        json!(true)
    );
    // B's handler received it (binary as Node's Buffer JSON, as the JSON request carries it).
    let buffer = json!({"type": "Buffer", "data": [1, 2, 3]});
    assert_eq!(
        b1.next_event().await,
        ("sse-got".to_owned(), vec![json!("B"), json!([1, buffer])])
    );
    let r = a1
        .call("sse-ack", &[json!({"event": "hello", "args": ["q"]})])
        .await;
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(r["replies"], json!([{"from": "B", "got": ["q"]}]));
    // The sender's own node does not receive its server-side emits: a1 sees only B's events.
    a1.call("bcast", &[json!({"event": "sentinel"})]).await;
    assert_eq!(a1.next_event().await.0, "sentinel");
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_end_at_the_timeout_when_a_server_never_answers() {
    ensure_redis().await;
    let key = unique_key("deadnode");
    let mut config = RedisAdapterConfig::with_key(&key);
    config.requests_timeout = Duration::from_millis(300);
    let a = node(REDIS, config, "A").await;
    // A "server" that subscribed to the request channel and never answers.
    let client = redis::Client::open(REDIS).unwrap();
    let mut silent = client.get_async_pubsub().await.unwrap();
    silent.subscribe(format!("{key}-request#/#")).await.unwrap();
    let mut a1 = Client::connect(&a.addr).await;
    assert_eq!(a1.call("server-count", &[]).await, json!(2));
    let started = tokio::time::Instant::now();
    let r = a1.call("fetch", &[json!({})]).await;
    assert_eq!(r["ok"], json!(false));
    assert_eq!(r["error"], json!("cluster request timed out"));
    let r = a1.call("sse-ack", &[json!({"event": "hello"})]).await;
    assert_eq!(r, json!({"ok": false, "replies": []}));
    let r = a1.call("all-rooms", &[]).await;
    assert_eq!(r, json!("cluster request timed out"));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bus_input_is_dropped_and_the_node_keeps_serving() {
    let (a, b, key) = pair("hostile").await;
    let mut b1 = Client::connect(&b.addr).await;
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let garbage: Vec<(String, Vec<u8>)> = vec![
        // Truncated msgpack, wrong types, huge declared lengths, deep nesting.
        (format!("{key}#/#"), vec![0x93, 0xa6, b'x']),
        (
            format!("{key}#/#"),
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        (format!("{key}#/#"), vec![0xc6, 0xff, 0xff, 0xff, 0xff]),
        (format!("{key}#/#"), vec![0x91; 50_000]),
        (format!("{key}#/#"), b"\x93\x01\x02\x03".to_vec()),
        (
            format!("{key}#/#"),
            b"\x93\xa1x\x81\xa4type\xa1s\x80".to_vec(),
        ),
        (format!("{key}-request#/#"), b"{\"type\":\"x\"}".to_vec()),
        (format!("{key}-request#/#"), b"{\"type\":5}".to_vec()),
        (
            format!("{key}-request#/#"),
            b"{\"type\":2,\"opts\":7}".to_vec(),
        ),
        (
            format!("{key}-request#/#"),
            b"{\"type\":99,\"uid\":\"z\"}".to_vec(),
        ),
        (format!("{key}-request#/#"), b"{\"requestId\":".to_vec()),
        (format!("{key}-response#/#"), b"\xc1".to_vec()),
        (format!("{key}-response#/#"), b"{\"requestId\":4}".to_vec()),
    ];
    let n = u64::try_from(garbage.len()).unwrap();
    for (channel, payload) in garbage {
        let _: () = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // A valid broadcast after the garbage still arrives, so every message before it was read.
    let mut a1 = Client::connect(&a.addr).await;
    a1.call("bcast", &[json!({"event": "after"})]).await;
    assert_eq!(b1.next_event().await.0, "after");
    assert_eq!(b.cluster.stats().dropped, n);
    drop((a, b));
}

/// The raw `@socket.io/redis-emitter` 5 message shape (uid `emitter`, opts keys in its order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitter_messages_reach_clients() {
    let (a, _b, key) = pair("emitter").await;
    let mut a1 = Client::connect(&a.addr).await;
    a1.call("join", &[json!("room1")]).await;
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // ["emitter", {type: 2, data: ["bin", <bin 010203>], nsp: "/"}, {rooms: ["room1"], flags: {}, except: []}]
    let msg: Vec<u8> = [
        &b"\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xa3bin\xc4\x03\x01\x02\x03\xa3nsp\xa1/"[..],
        &b"\x83\xa5rooms\x91\xa5room1\xa5flags\x80\xa6except\x90"[..],
    ]
    .concat();
    let _: () = redis::cmd("PUBLISH")
        .arg(format!("{key}#/#room1#"))
        .arg(msg)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        a1.next_event().await,
        ("bin".to_owned(), vec![json!({"bin": [1, 2, 3]})])
    );
}

/// A private Redis on a free port, killed and restarted in the middle of the test.
struct PrivateRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    async fn start(port: u16) -> Self {
        Self::start_with(port, &[]).await
    }

    async fn start_with(port: u16, extra: &[&str]) -> Self {
        let mut child = tokio::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server must be installed");
        // Ready once it logs that it accepts connections.
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
            )
            .await
            .unwrap()
            .unwrap();
            assert!(n > 0, "redis-server exited");
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut out, &mut sink).await;
        });
        Self {
            port,
            child: Some(child),
        }
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_local_delivery_continues_and_the_cluster_recovers() {
    let mut redis = PrivateRedis::start(free_port()).await;
    let mut config = RedisAdapterConfig::with_key("restart");
    config.requests_timeout = Duration::from_secs(2);
    config.health_check_interval = Duration::from_millis(500);
    config.reconnect_max = Duration::from_millis(500);
    let a = node(&redis.url(), config.clone(), "A").await;
    let b = node(&redis.url(), config, "B").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut a2 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    a1.call("bcast", &[json!({"event": "before"})]).await;
    assert_eq!(b1.next_event().await.0, "before");
    assert_eq!(a2.next_event().await.0, "before");

    redis.kill().await;
    // The subscribers notice (connection closed); cross-node operations then fail fast.
    assert!(
        a.cluster.wait_disconnected(Duration::from_secs(10)).await,
        "the outage was not noticed"
    );
    let started = tokio::time::Instant::now();
    // Local delivery continues; the emit reports that other nodes were not reached.
    assert_eq!(
        a1.call("bcast", &[json!({"event": "during"})]).await,
        json!(false)
    );
    assert_eq!(a2.next_event().await.0, "during");
    let r = a1.call("fetch", &[json!({})]).await;
    assert_eq!(r["error"], json!("adapter bus unavailable"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "did not fail fast"
    );

    // Redis comes back on the same port: both nodes reconnect and resubscribe by themselves.
    let _redis2 = PrivateRedis::start(redis.port).await;
    assert!(a.cluster.wait_connections(2, Duration::from_secs(15)).await);
    assert!(b.cluster.wait_connections(2, Duration::from_secs(15)).await);
    assert_eq!(a1.call("server-count", &[]).await, json!(2));
    a1.call("bcast", &[json!({"event": "after"})]).await;
    assert_eq!(b1.next_event().await.0, "after");
    let r = a1.call("fetch", &[json!({})]).await;
    assert_eq!(r["sockets"].as_array().unwrap().len(), 3);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_acl_user_urls() {
    let redis = PrivateRedis::start_with(
        free_port(),
        &[
            "--requirepass",
            "topsecret",
            "--user",
            "alice",
            "on",
            ">wonderland",
            "~*",
            "&*",
            "+@all",
        ],
    )
    .await;
    let config = RedisAdapterConfig::with_key("acl");
    let alice = format!("redis://alice:wonderland@127.0.0.1:{}", redis.port);
    let default_user = format!("redis://:topsecret@127.0.0.1:{}", redis.port);
    let a = node(&alice, config.clone(), "A").await;
    let b = node(&default_user, config.clone(), "B").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    assert_eq!(a1.call("server-count", &[]).await, json!(2));
    a1.call("bcast", &[json!({"event": "authed"})]).await;
    assert_eq!(b1.next_event().await.0, "authed");

    // A wrong password never connects; the server still serves its own clients, and
    // cross-node operations fail at once.
    let wrong = RedisCluster::new(
        &format!("redis://alice:nope@127.0.0.1:{}", redis.port),
        config,
    )
    .unwrap();
    let mut sio = SocketIoConfig::default();
    let w = wrong.clone();
    sio.adapter = AdapterFactory::new(move |ns| w.adapter(ns));
    let io = SocketIo::new(sio).unwrap();
    app::install(&io, "C");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    assert!(!wrong.wait_connected(Duration::from_millis(500)).await);
    let mut c1 = Client::connect(&addr).await;
    assert_eq!(
        c1.call("bcast", &[json!({"event": "local-only"})]).await,
        json!(false)
    );
    assert_eq!(c1.next_event().await.0, "local-only");
    assert_eq!(
        c1.call("server-count", &[]).await,
        json!("adapter bus unavailable")
    );
    drop((a, b));
}

/// `rediss://` to a private Redis with TLS, trusting a CA made for the test (openssl CLI).
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("sio-redis-tls-{}", unique_key("tls")));
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |script: &str| {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca \
        -keyout ca.key -out ca.pem",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr",
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    sh(
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
        -extfile ext.cnf -out server.pem",
    );
    let port = free_port();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let redis = PrivateRedis::start_with(
        free_port(),
        &[
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &p("server.pem"),
            "--tls-key-file",
            &p("server.key"),
            "--tls-ca-cert-file",
            &p("ca.pem"),
            "--tls-auth-clients",
            "no",
        ],
    )
    .await;
    let mut config = RedisAdapterConfig::with_key("tls");
    config.tls_root_certs = Some(std::fs::read(dir.join("ca.pem")).unwrap());
    let url = format!("rediss://127.0.0.1:{port}");
    let a = node(&url, config.clone(), "A").await;
    let b = node(&url, config, "B").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    a1.call("bcast", &[json!({"event": "over-tls", "bin": true})])
        .await;
    assert_eq!(
        b1.next_event().await,
        ("over-tls".to_owned(), vec![json!({"bin": [1, 2, 3]})])
    );
    drop((a, b, redis));
    let _ = std::fs::remove_dir_all(&dir);
}

/// E6: Redis drops our subscriber (`CLIENT KILL TYPE pubsub`); it is noticed and the
/// subscriptions come back without restarting the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_subscriber_connections_resubscribe() {
    let redis = PrivateRedis::start(free_port()).await;
    let config = RedisAdapterConfig::with_key("kill");
    let a = node(&redis.url(), config.clone(), "A").await;
    let b = node(&redis.url(), config, "B").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(killed, 2);
    assert!(a.cluster.wait_connections(2, Duration::from_secs(10)).await);
    assert!(b.cluster.wait_connections(2, Duration::from_secs(10)).await);
    assert_eq!(a1.call("server-count", &[]).await, json!(2));
    a1.call("bcast", &[json!({"event": "back"})]).await;
    assert_eq!(b1.next_event().await.0, "back");
    assert_eq!(b.cluster.stats().connects, 2);
    drop((a, b, redis));
}

/// A remote client that never answers: the broadcast with acks ends at its timeout with the
/// replies that came (E12's promise: once, with the partial result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_with_ack_times_out_with_partial_replies() {
    let (a, b, _) = pair("ack-timeout").await;
    let mut a1 = Client::connect(&a.addr).await;
    let _silent = Client::connect(&b.addr).await;
    a1.answer = Some(json!("a1"));
    let started = tokio::time::Instant::now();
    let r = a1
        .call("bcast-ack", &[json!({"event": "ask", "timeout": 300})])
        .await;
    assert_eq!(r, json!({"ok": false, "replies": ["a1"]}));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop((a, b));
}

/// E2: Redis unreachable when the servers start: they serve their own clients, keep retrying
/// with backoff, and join the cluster once Redis is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_started_before_redis_join_when_it_comes() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let mut config = RedisAdapterConfig::with_key("late");
    config.reconnect_max = Duration::from_millis(300);
    let start = |name: &'static str| {
        let (url, config) = (url.clone(), config.clone());
        async move {
            let cluster = RedisCluster::new(&url, config).unwrap();
            let mut sio = SocketIoConfig::default();
            let c = cluster.clone();
            sio.adapter = AdapterFactory::new(move |ns| c.adapter(ns));
            let io = SocketIo::new(sio).unwrap();
            app::install(&io, name);
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            tokio::spawn(io.clone().serve(listener));
            Node { io, addr, cluster }
        }
    };
    let a = start("A").await;
    let b = start("B").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    assert!(!a.cluster.is_connected());
    assert_eq!(
        a1.call("bcast", &[json!({"event": "alone"})]).await,
        json!(false)
    );
    assert_eq!(a1.next_event().await.0, "alone");
    let _redis = PrivateRedis::start(port).await;
    assert!(a.cluster.wait_connected(Duration::from_secs(10)).await);
    assert!(b.cluster.wait_connected(Duration::from_secs(10)).await);
    assert_eq!(
        a1.call("bcast", &[json!({"event": "together"})]).await,
        json!(true)
    );
    assert_eq!(b1.next_event().await.0, "together");
    drop((a, b));
}

/// `disconnectSockets(true)` across nodes: the DISCONNECT packet, then the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sockets_closes_connections_on_other_nodes() {
    let (a, b, _) = pair("close").await;
    let mut a1 = Client::connect(&a.addr).await;
    let mut b1 = Client::connect(&b.addr).await;
    let mut b2 = Client::connect(&b.addr).await;
    assert_eq!(
        a1.call(
            "sockets",
            &[json!({"rooms": [b1.sid.clone()]}), json!("close")]
        )
        .await,
        json!(true)
    );
    assert!(matches!(b1.read().await, Some(Incoming::Disconnect)));
    assert!(b1.read().await.is_none(), "the connection must close");
    // The remote socket's close, and the other socket of that node is untouched.
    let target = json!({"id": b2.sid});
    assert_eq!(
        a1.call("remote", &[target, json!("close")]).await,
        json!(true)
    );
    assert!(matches!(b2.read().await, Some(Incoming::Disconnect)));
    assert!(b2.read().await.is_none());
    drop((a, b));
}
