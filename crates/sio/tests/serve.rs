//! `sio serve` end to end: the binary is started on a free loopback port, its readiness line
//! is read from stderr, and raw Engine.IO/Socket.IO clients (tungstenite WebSockets and plain
//! HTTP requests) drive the demo behaviour, the status page and the shutdown.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]
#![allow(clippy::missing_panics_doc, reason = "tests")]

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{Sio, WAIT, Ws, client, next, send};

/// A WebSocket client connected to `/chat` with `auth`, past the connect reply.
async fn chat_client(addr: &str, auth: &Value) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert!(next(&mut ws).await.unwrap().starts_with("0{"));
    send(&mut ws, &format!("40/chat,{auth}")).await;
    assert!(
        next(&mut ws)
            .await
            .unwrap()
            .starts_with("40/chat,{\"sid\":")
    );
    ws
}

/// One HTTP/1.1 request on a fresh connection; returns the status code, the headers and the
/// body.
async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: text/plain;charset=UTF-8\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_ascii_lowercase(), body.to_owned())
}

/// Reads one response with a `content-length` from a keep-alive connection; `None` when the
/// connection closes first.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut byte))
            .await
            .expect("a response in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap().to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some(String::from_utf8(body).unwrap())
}

async fn status_json(addr: &str) -> Value {
    let (code, head, body) = http(addr, "GET", "/status.json", "").await;
    assert_eq!(code, 200);
    assert!(head.contains("content-type: application/json"));
    serde_json::from_str(&body).unwrap()
}

fn namespace<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn echo_acknowledges_or_emits_back_text_and_binary() {
    let sio = Sio::start(&[]).await;
    let (mut ws, _) = client(&sio.addr).await;

    send(&mut ws, r#"421["echo","hi",{"n":[1,2]}]"#).await;
    assert_eq!(next(&mut ws).await.unwrap(), r#"431["hi",{"n":[1,2]}]"#);

    send(&mut ws, r#"42["echo",7]"#).await;
    assert_eq!(next(&mut ws).await.unwrap(), r#"42["echo",7]"#);

    send(&mut ws, r#"451-2["echo",{"_placeholder":true,"num":0}]"#).await;
    ws.send(Message::binary(vec![0xde, 0xad])).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"461-2[{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(next(&mut ws).await.unwrap(), "<bin dead>");
}

#[tokio::test]
async fn rooms_join_leave_and_broadcast_to_a_room() {
    let sio = Sio::start(&[]).await;
    let (mut a, _) = client(&sio.addr).await;
    let (mut b, _) = client(&sio.addr).await;
    let (mut c, _) = client(&sio.addr).await;

    send(&mut a, r#"421["join","lobby"]"#).await;
    assert_eq!(next(&mut a).await.unwrap(), r#"431[["lobby"]]"#);
    send(&mut b, r#"422["join","lobby"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"432[["lobby"]]"#);
    send(&mut b, r#"423["join","extra"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"433[["extra","lobby"]]"#);

    // To the room: b gets it, a (the sender) and c (not a member) do not.
    send(&mut a, r#"424["to-room","lobby","hello",{"x":1}]"#).await;
    assert_eq!(
        next(&mut b).await.unwrap(),
        r#"42["room-message","lobby","hello",{"x":1}]"#
    );
    // The ack is queued after the room message: one recipient.
    assert_eq!(next(&mut a).await.unwrap(), "434[1]");
    // c's queue had nothing before this echo's reply.
    send(&mut c, r#"425["echo","c"]"#).await;
    assert_eq!(next(&mut c).await.unwrap(), r#"435["c"]"#);

    // With binary.
    send(
        &mut a,
        r#"451-6["to-room","lobby",{"_placeholder":true,"num":0}]"#,
    )
    .await;
    a.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(
        next(&mut b).await.unwrap(),
        r#"451-["room-message","lobby",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(next(&mut b).await.unwrap(), "<bin 010203>");
    assert_eq!(next(&mut a).await.unwrap(), "436[1]");

    // b leaves: nobody else is left in the room.
    send(&mut b, r#"427["leave","lobby"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"437[["extra"]]"#);
    send(&mut a, r#"428["to-room","lobby","anyone?"]"#).await;
    assert_eq!(next(&mut a).await.unwrap(), "438[0]");

    // A namespace-wide broadcast reaches b and c.
    send(&mut a, r#"429["broadcast","all"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"42["broadcast","all"]"#);
    assert_eq!(next(&mut c).await.unwrap(), r#"42["broadcast","all"]"#);
    assert_eq!(next(&mut a).await.unwrap(), "439[2]");
}

#[tokio::test]
async fn chat_namespace_names_members_and_relays_messages() {
    let sio = Sio::start(&[]).await;
    let mut alice = chat_client(&sio.addr, &json!({ "name": "alice" })).await;
    assert_eq!(
        next(&mut alice).await.unwrap(),
        r#"42/chat,["welcome",{"name":"alice","users":[]}]"#
    );
    let mut bob = chat_client(&sio.addr, &json!({ "name": "bob" })).await;
    assert_eq!(
        next(&mut bob).await.unwrap(),
        r#"42/chat,["welcome",{"name":"bob","users":["alice"]}]"#
    );
    assert_eq!(
        next(&mut alice).await.unwrap(),
        r#"42/chat,["joined",{"name":"bob"}]"#
    );

    send(&mut alice, r#"42/chat,1["message","hi bob"]"#).await;
    assert_eq!(
        next(&mut bob).await.unwrap(),
        r#"42/chat,["message",{"from":"alice","text":"hi bob"}]"#
    );
    assert_eq!(next(&mut alice).await.unwrap(), "43/chat,1[1]");

    // Leaving the namespace tells the others.
    send(&mut bob, "41/chat,").await;
    assert_eq!(
        next(&mut alice).await.unwrap(),
        r#"42/chat,["left",{"name":"bob"}]"#
    );

    // Without a name, a nickname is made up from the socket id.
    let mut anon = chat_client(&sio.addr, &json!({})).await;
    let welcome = next(&mut anon).await.unwrap();
    assert!(
        welcome.starts_with(r#"42/chat,["welcome",{"name":"anon-"#),
        "{welcome}"
    );
}

#[tokio::test]
async fn status_json_reflects_sessions_namespaces_rooms_and_counters() {
    let sio = Sio::start(&[]).await;
    let before = status_json(&sio.addr).await;
    assert_eq!(before["sessions"], 0);
    let names: Vec<&str> = before["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/", "/chat"]);

    let (mut a, a_id) = client(&sio.addr).await;
    let (mut b, _) = client(&sio.addr).await;
    let _chat = chat_client(&sio.addr, &json!({ "name": "carol" })).await;
    send(&mut a, r#"421["join","lobby"]"#).await;
    assert_eq!(next(&mut a).await.unwrap(), r#"431[["lobby"]]"#);
    send(&mut b, r#"421["join","lobby"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"431[["lobby"]]"#);
    send(&mut b, r#"422["join","solo"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"432[["lobby","solo"]]"#);

    let status = status_json(&sio.addr).await;
    assert_eq!(status["sessions"], 3);
    let main = namespace(&status, "/");
    assert_eq!(main["sockets"], 2);
    assert_eq!(main["rooms_total"], 2);
    assert_eq!(
        main["rooms"],
        json!([{ "name": "lobby", "sockets": 2 }, { "name": "solo", "sockets": 1 }])
    );
    // Three events in; out: two connect replies, two welcomes, three acks.
    assert_eq!(main["packets_received"], 3);
    assert_eq!(main["packets_sent"], 7);
    let listed = main["socket_list"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let a_entry = listed.iter().find(|s| s["id"] == a_id.as_str()).unwrap();
    assert_eq!(a_entry["rooms"], json!(["lobby"]));
    assert_eq!(a_entry["transport"], "websocket");
    assert!(
        a_entry["remote_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(namespace(&status, "/chat")["sockets"], 1);

    // The page itself is plain HTML that fetches the JSON.
    let (code, head, page) = http(&sio.addr, "GET", "/", "").await;
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/html"));
    assert!(page.contains("fetch(\"/status.json\""));
}

#[tokio::test]
async fn sigterm_disconnects_every_socket_and_exits_cleanly() {
    let mut sio = Sio::start(&[]).await;
    let (mut ws, ws_id) = client(&sio.addr).await;

    // A polling client: handshake, CONNECT, its connect reply and welcome, then a long poll.
    let (code, _, open) = http(&sio.addr, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(code, 200);
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let q = format!(
        "/socket.io/?EIO=4&transport=polling&sid={}",
        open["sid"].as_str().unwrap()
    );
    assert_eq!(http(&sio.addr, "POST", &q, "40").await.2, "ok");
    // One keep-alive connection, already accepted by the server once its first response
    // arrived, carries the GET for the connect reply and then the long poll.
    let mut poll = TcpStream::connect(&sio.addr).await.unwrap();
    let get = format!("GET {q} HTTP/1.1\r\nhost: {}\r\n\r\n", sio.addr);
    poll.write_all(get.as_bytes()).await.unwrap();
    let replies = read_response(&mut poll).await.unwrap();
    let connect: Value = serde_json::from_str(
        replies
            .split('\u{1e}')
            .next()
            .unwrap()
            .strip_prefix("40")
            .unwrap(),
    )
    .unwrap();
    let poll_id = connect["sid"].as_str().unwrap().to_owned();
    // The welcome comes with the connect reply or in the next response; the long poll that
    // the shutdown ends is the one after it.
    if !replies.contains("42[\"welcome\"") {
        poll.write_all(get.as_bytes()).await.unwrap();
        let welcome = read_response(&mut poll).await.unwrap();
        assert!(welcome.starts_with("42[\"welcome\""), "{welcome}");
    }
    poll.write_all(get.as_bytes()).await.unwrap();

    sio.terminate();
    sio.wait_line(|l| l == "sio: terminated, shutting down")
        .await;
    // The WebSocket client is closed.
    assert_eq!(next(&mut ws).await, None);
    // Both sockets ended with the shutdown reason (in either order).
    let mut ended = vec![
        sio.wait_line(|l| l.starts_with("sio: disconnect ")).await,
        sio.wait_line(|l| l.starts_with("sio: disconnect ")).await,
    ];
    ended.sort();
    let mut expected = vec![
        format!("sio: disconnect / {ws_id}: server shutting down"),
        format!("sio: disconnect / {poll_id}: server shutting down"),
    ];
    expected.sort();
    assert_eq!(ended, expected);
    // The long poll ends: with the Engine.IO close packet when it had reached the session
    // before the signal, or with the connection closed when it had not been read yet.
    if let Some(body) = read_response(&mut poll).await {
        assert_eq!(body, "1");
    }
    sio.wait_line(|l| l == "sio: stopped").await;
    let (ok, stdout) = sio.exit().await;
    assert!(ok);
    assert_eq!(stdout, "", "stdout carries only data; serve has none");
}

#[tokio::test]
async fn static_files_are_served_from_one_directory_only() {
    let dir = std::env::temp_dir().join(format!("sio-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("page.html"), "<p>hi</p>").unwrap();
    std::fs::write(dir.join(".hidden"), "secret").unwrap();
    std::fs::write(dir.join("sub/deep.txt"), "deep").unwrap();
    // A second directory, searched after the first.
    let sub = dir.join("sub");
    std::fs::write(sub.join("page.html"), "shadowed").unwrap();
    let sio = Sio::start(&[
        "--static",
        dir.to_str().unwrap(),
        "--static",
        sub.to_str().unwrap(),
    ])
    .await;

    let (code, head, body) = http(&sio.addr, "GET", "/page.html", "").await;
    assert_eq!((code, body.as_str()), (200, "<p>hi</p>"));
    assert!(head.contains("content-type: text/html"));
    let (code, head, body) = http(&sio.addr, "GET", "/deep.txt", "").await;
    assert_eq!((code, body.as_str()), (200, "deep"));
    assert!(head.contains("content-type: text/plain"));
    for path in [
        "/.hidden",
        "/sub/deep.txt",
        "/sub",
        "/../page.html",
        "/%2e%2e/x",
        "/nope",
    ] {
        assert_eq!(http(&sio.addr, "GET", path, "").await.0, 404, "{path}");
    }
    assert_eq!(http(&sio.addr, "POST", "/page.html", "x").await.0, 405);
    drop(sio);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn errors_are_one_line_with_a_failing_exit_code() {
    // The port is taken by a running sio.
    let sio = Sio::start(&[]).await;
    let port = sio.addr.rsplit(':').next().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_sio"))
        .args(["serve", "--port", &port])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("sio: error: cannot listen on 127.0.0.1:{port}: ")),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_sio"))
        .args(["serve", "--static", "/nonexistent/sio-test"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "sio: error: --static /nonexistent/sio-test: not a directory\n"
    );
}

#[tokio::test]
async fn help_shows_examples_and_the_demo_events() {
    let out = Command::new(env!("CARGO_BIN_EXE_sio"))
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--port",
        "--host",
        "--static",
        "Examples:",
        "to-room",
        "/chat",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sio"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("sio serve"));
}
