//! Connection state recovery: offsets on events, sessions kept on a recoverable disconnect,
//! and restored with their id, rooms, data and missed packets; refusals (D9).

use serde_json::json;
use socketio_server::ConnectionStateRecovery;

use super::*;

/// A server with recovery on. `/`: `join` (room), `set` (data, acked), and on connect an
/// `state` event with (recovered, data, rooms); `/admin` refuses without a token.
async fn start_csr(csr: ConnectionStateRecovery) -> (SocketIo, String) {
    let mut config = SocketIoConfig::default();
    config.engine.session.ping_interval = Duration::from_secs(600);
    config.connection_state_recovery = Some(csr);
    let io = SocketIo::new(config).unwrap();
    io.ns("/", |socket: Socket| {
        let mut rooms = socket.rooms();
        rooms.retain(|r| r != socket.id());
        rooms.sort();
        let data = socket.data().clone();
        let _ = socket.emit("state", &(socket.recovered(), data, rooms));
        socket.on("join", |s, args, ack| async move {
            s.join(&args.first::<String>().unwrap());
            if let Some(ack) = ack {
                let _ = ack.send(&());
            }
        });
        socket.on("set", |s, args, ack| async move {
            *s.data() = args.first().unwrap();
            if let Some(ack) = ack {
                let _ = ack.send(&());
            }
        });
        socket.on("ask", |s, _, _| async move {
            // An emit with an ack request carries no offset.
            let _ = s.emit_with_ack("q", &1, Duration::from_millis(10)).await;
        });
    });
    io.ns("/admin", |socket: Socket| {
        let _ = socket.emit("state", &(socket.recovered(),));
    })
    .use_middleware(|s: Socket| async move {
        if s.auth()["token"] == "secret" {
            Ok(())
        } else {
            Err(ConnectError::new("not authorized"))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    (io, addr)
}

/// The JSON of a text packet after its `prefix`.
fn json_after(text: &str, prefix: &str) -> serde_json::Value {
    let rest = text
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{text}"));
    serde_json::from_str(rest).unwrap()
}

/// Connects to `ns` (`""` for the main one) with `payload`; returns the socket, the
/// Engine.IO sid, the texts that came before the CONNECT reply, and the reply's JSON.
async fn connect_with(
    addr: &str,
    ns: &str,
    payload: &str,
) -> (Ws, String, Vec<String>, serde_json::Value) {
    let mut ws = ws(addr, "EIO=4&transport=websocket").await;
    let open = json_after(&next_text(&mut ws).await.unwrap(), "0");
    let sid = open["sid"].as_str().unwrap().to_owned();
    let sep = if ns.is_empty() { "" } else { "," };
    ws.send(Message::text(format!("40{ns}{sep}{payload}")))
        .await
        .unwrap();
    let mut before = Vec::new();
    loop {
        let t = next_text(&mut ws).await.unwrap();
        // The CONNECT reply or a CONNECT_ERROR.
        for prefix in [format!("40{ns}{sep}"), format!("44{ns}{sep}")] {
            if t.starts_with(&prefix) {
                let reply = json_after(&t, &prefix);
                return (ws, sid, before, reply);
            }
        }
        before.push(t);
    }
}

/// An event's arguments (after the namespace prefix `42` + `ns`).
fn event(text: &str, prefix: &str) -> Vec<serde_json::Value> {
    json_after(text, prefix).as_array().unwrap().clone()
}

/// Waits until the server has `n` sockets in `/`.
async fn wait_sockets(io: &SocketIo, n: usize) {
    // A socket ends with its session: wait on the session count, then check the sockets.
    wait_sessions(io, n).await;
    assert_eq!(io.of("/").unwrap().sockets().len(), n);
}

#[tokio::test(start_paused = true)]
async fn a_reconnecting_client_gets_its_id_rooms_data_and_missed_packets() {
    let (io, addr) = start_csr(ConnectionStateRecovery::default()).await;
    let (mut ws, eio_sid, _, reply) = connect_with(&addr, "", "").await;
    let id = reply["sid"].as_str().unwrap().to_owned();
    let pid = reply["pid"].as_str().unwrap().to_owned();
    // The private id is none of the public ones.
    assert_ne!(pid, id);
    assert_ne!(pid, eio_sid);
    assert_ne!(id, eio_sid);
    assert_eq!(pid.len(), 24);
    // The connect handler's own emit carries an offset as its last argument.
    let state = event(&next_text(&mut ws).await.unwrap(), "42");
    assert_eq!(state.len(), 5, "{state:?}"); // name, recovered, data, rooms, offset
    assert_eq!(state[1], false);
    ws.send(Message::text(r#"421["join","r"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), "431[]");
    ws.send(Message::text(r#"422["set",{"score":7}]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), "432[]");
    let ns = io.of("/").unwrap();
    ns.to("r").emit("news", &1).unwrap();
    let news = event(&next_text(&mut ws).await.unwrap(), "42");
    assert_eq!(news[..2], [json!("news"), json!(1)]);
    let offset = news[2].as_str().unwrap().to_owned();
    // An emit with an ack request has no offset.
    ws.send(Message::text(r#"42["ask"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), r#"420["q",1]"#);
    // The transport drops; the server keeps the session.
    drop(ws);
    wait_sockets(&io, 0).await;
    ns.to("r").emit("news", &2).unwrap();
    ns.to("elsewhere").emit("news", &"not for r").unwrap();
    ns.to("r").except("r").emit("news", &"excluded").unwrap();
    ns.emit("news", &3).unwrap();
    ns.to("r").volatile().emit("news", &"volatile").unwrap();
    ns.to("r")
        .emit("bin", &(Binary::from_static(b"\x01\x02\x03"),))
        .unwrap();
    let claim = json!({ "pid": pid, "offset": offset }).to_string();
    let (mut ws, _, missed, reply) = connect_with(&addr, "", &claim).await;
    assert_eq!(reply, json!({ "sid": id, "pid": pid }));
    // The missed packets come before the reply, in order; a binary one with its attachment
    // and its offset after the placeholder.
    assert_eq!(missed.len(), 4, "{missed:?}");
    let news: Vec<serde_json::Value> = missed[..2]
        .iter()
        .map(|t| event(t, "42")[1].clone())
        .collect();
    assert_eq!(news, [json!(2), json!(3)]);
    let bin = event(&missed[2], "451-");
    assert_eq!(
        bin[..2],
        [json!("bin"), json!({"_placeholder": true, "num": 0})]
    );
    assert!(bin[2].is_string());
    assert_eq!(missed[3], "<bin 3>");
    let state = event(&next_text(&mut ws).await.unwrap(), "42");
    assert_eq!(state[1..4], [json!(true), json!({"score":7}), json!(["r"])]);
    // Back in its room.
    ns.to("r").emit("news", &4).unwrap();
    assert_eq!(event(&next_text(&mut ws).await.unwrap(), "42")[1], 4);
    // A session is recovered once: while it is live, replaying the claim gives a fresh
    // socket and nothing of the first one.
    let (_other, _, missed, reply) = connect_with(&addr, "", &claim).await;
    assert!(missed.is_empty());
    assert_ne!(reply["sid"], json!(id));
    assert_ne!(reply["pid"], json!(pid));
    ns.to("r").emit("news", &5).unwrap();
    assert_eq!(event(&next_text(&mut ws).await.unwrap(), "42")[1], 5);
}

#[tokio::test(start_paused = true)]
async fn d9_forged_foreign_old_or_expired_claims_get_a_fresh_socket() {
    let mut csr = ConnectionStateRecovery::default();
    csr.max_packets = 6;
    let (io, addr) = start_csr(csr).await;
    let ns = io.of("/").unwrap();
    let fresh = |reply: &serde_json::Value, old_id: &str, old_pid: &str| {
        assert_ne!(reply["sid"], json!(old_id));
        assert_ne!(reply["pid"], json!(old_pid));
        assert!(reply["pid"].as_str().is_some());
    };
    // A session to claim.
    let (mut ws, _, _, reply) = connect_with(&addr, "", "").await;
    let (id, pid) = (
        reply["sid"].as_str().unwrap().to_owned(),
        reply["pid"].as_str().unwrap().to_owned(),
    );
    let state = event(&next_text(&mut ws).await.unwrap(), "42");
    let offset = state[4].as_str().unwrap().to_owned();
    drop(ws);
    wait_sockets(&io, 0).await;
    // Forged pid; a pid with an offset that was never issued; wrong types.
    for claim in [
        json!({ "pid": "AAAAAAAAAAAAAAAAAAAAAAAA", "offset": offset }),
        json!({ "pid": pid, "offset": "999999" }),
        json!({ "pid": pid, "offset": 0 }),
        json!({ "pid": [pid], "offset": offset }),
    ] {
        let (mut ws, _, missed, reply) = connect_with(&addr, "", &claim.to_string()).await;
        assert!(missed.is_empty());
        fresh(&reply, &id, &pid);
        let state = event(&next_text(&mut ws).await.unwrap(), "42");
        assert_eq!(state[1], false, "{claim}");
        drop(ws);
        wait_sockets(&io, 0).await;
    }
    // Those attempts did not burn the session: the right claim still works.
    let claim = json!({ "pid": pid, "offset": offset }).to_string();
    let (ws, _, _, reply) = connect_with(&addr, "", &claim).await;
    assert_eq!(reply["sid"], json!(id));
    drop(ws);
    wait_sockets(&io, 0).await;
    // Too old: the offset went out of the bounded packet log (6 packets).
    for i in 0..5 {
        ns.emit("filler", &i).unwrap();
    }
    let (_ws, _, missed, reply) = connect_with(&addr, "", &claim).await;
    assert!(missed.is_empty());
    fresh(&reply, &id, &pid);
    // Expired: gone after maxDisconnectionDuration.
    let (mut ws, _, _, reply) = connect_with(&addr, "", "").await;
    let (id, pid) = (
        reply["sid"].as_str().unwrap().to_owned(),
        reply["pid"].as_str().unwrap().to_owned(),
    );
    let state = event(&next_text(&mut ws).await.unwrap(), "42");
    let claim = json!({ "pid": pid, "offset": state[4] }).to_string();
    drop(ws);
    wait_sockets(&io, 1).await; // the "too old" client above is still connected
    tokio::time::advance(Duration::from_secs(121)).await;
    let (_ws2, _, missed, reply) = connect_with(&addr, "", &claim).await;
    assert!(missed.is_empty());
    fresh(&reply, &id, &pid);
}

#[tokio::test]
async fn recovered_sockets_skip_middlewares_and_a_namespace_disconnect_is_not_kept() {
    let (io, addr) = start_csr(ConnectionStateRecovery::default()).await;
    let (mut ws, _, _, reply) = connect_with(&addr, "/admin", r#"{"token":"secret"}"#).await;
    let pid = reply["pid"].as_str().unwrap().to_owned();
    let state = event(&next_text(&mut ws).await.unwrap(), "42/admin,");
    let claim = json!({ "pid": pid, "offset": state[2] }).to_string();
    drop(ws);
    wait_sessions(&io, 0).await;
    // No token: the middleware would refuse, but a recovered socket skips it.
    let (mut ws, _, _, reply) = connect_with(&addr, "/admin", &claim).await;
    assert_eq!(reply["pid"], json!(pid));
    let state = event(&next_text(&mut ws).await.unwrap(), "42/admin,");
    assert_eq!(state[1], true);
    // Leaving the namespace on purpose is not a recoverable disconnect.
    let state_offset = state[2].clone();
    ws.send(Message::text("41/admin,")).await.unwrap();
    ws.send(Message::text(r#"40/admin,{"token":"secret"}"#))
        .await
        .unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40/admin,"));
    drop(ws);
    wait_sessions(&io, 0).await;
    let claim = json!({ "pid": pid, "offset": state_offset }).to_string();
    let (mut ws, _, _, reply) = connect_with(&addr, "/admin", &claim).await;
    assert_eq!(
        reply,
        json!({"message":"not authorized"}),
        "no session kept: the middleware runs and refuses"
    );
    drop(ws.close(None).await);
}
