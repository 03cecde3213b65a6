//! `sio listen`, `sio emit` and `sio bench` against `sio serve`, as separate processes on
//! loopback: stdout carries the data, stderr the status, and errors fail with one line.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::process::Stdio;

use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::mpsc::UnboundedReceiver;

mod common;

use common::{Sio, lines, next_line, sio};

/// A running `sio listen`: its stdout and stderr lines.
struct Listener {
    _child: Child,
    stdout: UnboundedReceiver<String>,
    stderr: UnboundedReceiver<String>,
}

impl Listener {
    /// Starts `sio listen ARGS` and waits until it is connected.
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sio"))
            .arg("listen")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let mut stderr = lines(child.stderr.take().unwrap());
        let ready = next_line(&mut stderr).await;
        assert!(ready.starts_with("sio: connected to namespace "), "{ready}");
        Self {
            _child: child,
            stdout,
            stderr,
        }
    }

    async fn next_event(&mut self) -> Value {
        serde_json::from_str(&next_line(&mut self.stdout).await).unwrap()
    }
}

#[tokio::test]
async fn emit_with_ack_prints_the_reply_on_every_transport() {
    let server = Sio::start(&["--quiet"]).await;
    for transport in ["polling", "websocket", "upgrade"] {
        let (ok, out, err) = sio(&[
            "emit",
            &server.url(),
            "echo",
            r#""hi""#,
            r#"{"n":[1,2]}"#,
            "--ack",
            "--transport",
            transport,
        ])
        .await;
        assert!(ok, "{transport}: {err}");
        assert_eq!(out, "[\"hi\",{\"n\":[1,2]}]\n", "{transport}");
        assert_eq!(err, "", "{transport}");
        // Binary in the reply is printed as in `sio listen`.
        let (ok, out, err) = sio(&[
            "emit",
            &server.url(),
            "echo",
            r#"{"$binary":"AQID"}"#,
            r#"[{"$binary":""},"x"]"#,
            "--ack",
            "--transport",
            transport,
        ])
        .await;
        assert!(ok, "{transport}: {err}");
        assert_eq!(
            out, "[{\"$binary\":\"AQID\"},[{\"$binary\":\"\"},\"x\"]]\n",
            "{transport}"
        );
        assert_eq!(err, "", "{transport}");
    }
}

#[tokio::test]
async fn emit_without_ack_is_delivered_before_its_disconnect_on_every_transport() {
    let mut server = Sio::start(&[]).await;
    let mut listener = Listener::start(&[&server.url()]).await;
    assert_eq!(listener.next_event().await["event"], "welcome");
    for transport in ["polling", "websocket", "upgrade"] {
        let arg = format!("\"{transport}\"");
        let (ok, out, err) = sio(&[
            "emit",
            &server.url(),
            "broadcast",
            &arg,
            "--transport",
            transport,
        ])
        .await;
        assert!(ok, "{transport}: {err}");
        assert_eq!((out.as_str(), err.as_str()), ("", ""), "{transport}");
        // The process exited after its close: the server had the event, then the DISCONNECT.
        assert_eq!(
            listener.next_event().await,
            serde_json::json!({"event": "broadcast", "args": [transport]})
        );
        let line = server
            .wait_line(|l| l.starts_with("sio: disconnect / "))
            .await;
        assert!(
            line.ends_with(": client namespace disconnect"),
            "{transport}: {line}"
        );
    }
}

#[tokio::test]
async fn emit_fails_with_one_line_on_timeout_refusal_connect_error_and_bad_json() {
    let server = Sio::start(&["--quiet"]).await;
    let url = server.url();
    let cases: [(Vec<&str>, String); 4] = [
        (
            vec!["emit", &url, "unanswered", "--ack", "--timeout", "300"],
            "sio: error: no acknowledgement of unanswered within 300 ms".into(),
        ),
        (
            vec!["emit", &url, "x", "--namespace", "/nope"],
            "sio: error: the server refused namespace /nope: Invalid namespace".into(),
        ),
        (
            vec![
                "emit",
                "http://127.0.0.1:1",
                "x",
                "--transport",
                "websocket",
            ],
            "sio: error: cannot connect to http://127.0.0.1:1: connection refused".into(),
        ),
        (
            vec!["emit", &url, "x", "{oops"],
            "sio: error: argument 1 is not JSON ({oops): ".into(),
        ),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = sio(&args).await;
        assert!(!ok, "{args:?} succeeded");
        assert_eq!(out, "", "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(&expected), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn connect_failures_are_one_line_with_their_cause() {
    let server = Sio::start(&["--quiet"]).await;
    let tls_to_plain = format!("https://{}", server.addr);
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["listen", "http://127.0.0.1:1", "--transport", "polling"],
            "sio: error: cannot connect to http://127.0.0.1:1: connection refused\n",
        ),
        (
            vec!["emit", "http://127.0.0.1:1", "x", "--transport", "upgrade"],
            "sio: error: cannot connect to http://127.0.0.1:1: connection refused\n",
        ),
        (
            vec!["listen", &tls_to_plain, "--transport", "websocket"],
            "sio: error: cannot connect to https://127.0.0.1:",
        ),
        (
            vec!["emit", &tls_to_plain, "x", "--transport", "polling"],
            "sio: error: cannot connect to https://127.0.0.1:",
        ),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = sio(&args).await;
        assert!(!ok, "{args:?} succeeded");
        assert_eq!(out, "", "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(expected), "{args:?}: {err}");
        if args[1].starts_with("https") {
            assert!(err.contains(": TLS handshake failed: "), "{args:?}: {err}");
        }
    }
}

#[tokio::test]
async fn listen_prints_each_event_as_a_json_line_with_binary_as_base64() {
    let server = Sio::start(&["--quiet"]).await;
    let mut listener = Listener::start(&[&server.url(), "--count", "3"]).await;
    let welcome = listener.next_event().await;
    assert_eq!(welcome["event"], "welcome");
    assert!(welcome["args"][0].is_string());

    // Acknowledged: the listener is the one other socket of `/`.
    let (ok, out, err) = sio(&[
        "emit",
        &server.url(),
        "broadcast",
        r#""hello""#,
        r#"{"file":{"$binary":"AQID"}}"#,
        "--ack",
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "[1]\n");
    assert_eq!(
        serde_json::to_string(&listener.next_event().await).unwrap(),
        r#"{"args":["hello",{"file":{"$binary":"AQID"}}],"event":"broadcast"}"#
    );
    // The raw line keeps `event` first.
    let (ok, _, err) = sio(&["emit", &server.url(), "broadcast", r#""fire""#]).await;
    assert!(ok, "{err}");
    let line = next_line(&mut listener.stdout).await;
    assert_eq!(line, r#"{"event":"broadcast","args":["fire"]}"#);
    // --count 3 reached: the listener ends by itself.
    assert_eq!(listener.stdout.recv().await, None);
    assert_eq!(listener.stderr.recv().await, None);
}

#[tokio::test]
async fn namespace_and_auth_reach_the_chat() {
    let server = Sio::start(&["--quiet"]).await;
    let chat = format!("{}/chat", server.url());
    let mut ann = Listener::start(&[&chat, "--auth", r#"{"name":"ann"}"#]).await;
    assert_eq!(
        ann.next_event().await,
        serde_json::json!({"event": "welcome", "args": [{"name": "ann", "users": []}]})
    );
    let (ok, out, err) = sio(&[
        "emit",
        &server.url(),
        "message",
        r#""hello ann""#,
        "--namespace",
        "/chat",
        "--auth",
        r#"{"name":"zed"}"#,
        "--ack",
        "--transport",
        "websocket",
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "[1]\n");
    assert_eq!(
        ann.next_event().await,
        serde_json::json!({"event": "joined", "args": [{"name": "zed"}]})
    );
    assert_eq!(
        ann.next_event().await,
        serde_json::json!({"event": "message", "args": [{"from": "zed", "text": "hello ann"}]})
    );
    let (ok, _, err) = sio(&["emit", &chat, "message", "1", "--auth", "[1]"]).await;
    assert!(!ok);
    assert_eq!(err, "sio: error: --auth must be a JSON object\n");
}

#[tokio::test]
async fn bench_reports_throughput_and_latency_with_and_without_acks() {
    let server = Sio::start(&["--quiet"]).await;
    for mode in [&[][..], &["--no-ack"][..]] {
        let mut args = vec![
            "bench",
            server.addr.as_str(),
            "--clients",
            "3",
            "--rate",
            "20",
            "--duration",
            "1",
            "--size",
            "100",
            "--json",
        ];
        let url = server.url();
        args[1] = &url;
        args.extend_from_slice(mode);
        let (ok, out, err) = sio(&args).await;
        assert!(ok, "{mode:?}: {err}");
        assert_eq!(out.lines().count(), 1, "{out}");
        let summary: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(summary["clients"], 3);
        assert_eq!(summary["connect_errors"], 0);
        assert_eq!(summary["errors"], 0, "{summary}");
        let sent = summary["sent"].as_u64().unwrap();
        // 3 clients × 20/s × 1 s, the first tick at once: about 60.
        assert!((30..=66).contains(&sent), "{summary}");
        assert_eq!(summary["received"], sent, "{summary}");
        let p50 = summary["latency_ms"]["p50"].as_f64().unwrap();
        let p99 = summary["latency_ms"]["p99"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= p99, "{summary}");
        assert!(err.contains("3 clients connected"), "{err}");
    }
    // Refused settings fail before connecting.
    let (ok, _, err) = sio(&["bench", &server.url(), "--rate", "0", "--no-ack"]).await;
    assert!(!ok);
    assert_eq!(
        err,
        "sio: error: --rate 0 needs acknowledgements: drop --no-ack or set a rate\n"
    );
}

#[tokio::test]
async fn listen_answers_the_servers_ack_requests_with_ack_reply() {
    // A server that asks each new socket a question and reports the reply.
    let (tx, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let io = socketio_server::SocketIo::new(socketio_server::SocketIoConfig::default()).unwrap();
    io.ns("/", move |socket: socketio_server::Socket| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let reply = socket
                .emit_with_ack("question", &("ready?",), common::WAIT)
                .await
                .map(|args| {
                    let (text, data): (String, socketio_server::Binary) = args.decode().unwrap();
                    (text, data.to_vec())
                });
            let _ = tx.send(reply.map_err(|e| e.to_string()));
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn({
        let io = io.clone();
        async move {
            let _ = io.serve(listener).await;
        }
    });
    let mut listen = Listener::start(&[
        &url,
        "--ack-reply",
        r#"["yes",{"$binary":"AQID"}]"#,
        "--count",
        "1",
    ])
    .await;
    assert_eq!(
        listen.next_event().await,
        serde_json::json!({"event": "question", "args": ["ready?"]})
    );
    let reply = tokio::time::timeout(common::WAIT, replies.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, Ok(("yes".to_owned(), vec![1, 2, 3])));
    // The reply must be an array of arguments.
    let (ok, _, err) = sio(&["listen", &url, "--ack-reply", r#"{"a":1}"#]).await;
    assert!(!ok);
    assert_eq!(
        err,
        "sio: error: --ack-reply must be a JSON array (the reply's arguments)\n"
    );
}
