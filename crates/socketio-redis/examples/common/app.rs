//! The application of a cluster node, shared by the `cluster-node` example and the tests: a
//! client asks its server, with control events answered by acknowledgement, to run a cluster
//! operation (`bcast`, `bcast-ack`, `fetch`, `remote-*`, `sockets-*`, `all-rooms`,
//! `server-count`, `sse`, `sse-ack`). The Node server of the interop suite implements the same
//! events, so every operation can be driven from any node towards any other.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketio_server::{Args, Binary, Broadcast, Nsp, Socket, SocketIo};

/// What a control event targets and sends.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Spec {
    /// Target rooms (every socket when empty).
    pub(crate) rooms: Vec<String>,
    /// Excluded rooms.
    pub(crate) except: Vec<String>,
    /// Event to emit.
    pub(crate) event: String,
    /// JSON arguments.
    pub(crate) args: Vec<Value>,
    /// Append the binary argument `[1, 2, 3]`.
    pub(crate) bin: bool,
    /// Volatile broadcast.
    pub(crate) volatile: bool,
    /// This node only.
    pub(crate) local: bool,
    /// Ack timeout in ms.
    pub(crate) timeout: Option<u64>,
    /// A socket id (`remote-*`).
    pub(crate) id: String,
    /// A room (`sockets-join`, `remote-join`, ...).
    pub(crate) room: String,
}

/// One emitted argument: JSON or binary.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Arg {
    /// A JSON value.
    Json(Value),
    /// A binary attachment.
    Bin(Binary),
}

impl Spec {
    fn emit_args(&self) -> Vec<Arg> {
        let mut args: Vec<Arg> = self.args.iter().cloned().map(Arg::Json).collect();
        if self.bin {
            args.push(Arg::Bin(Binary::from_static(&[1, 2, 3])));
        }
        args
    }

    fn target(&self, nsp: &Nsp) -> Broadcast {
        let mut b = nsp.broadcast();
        for r in &self.rooms {
            b = b.to(r.clone());
        }
        for r in &self.except {
            b = b.except(r.clone());
        }
        if self.volatile {
            b = b.volatile();
        }
        if self.local {
            b = b.local();
        }
        if let Some(ms) = self.timeout {
            b = b.timeout(Duration::from_millis(ms));
        }
        b
    }
}

/// Arguments as JSON, binaries written `{"bin": [bytes]}` (the Node node writes them alike).
pub(crate) fn describe(args: &Args) -> Value {
    fn walk(v: Value, bins: &[bytes::Bytes]) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.into_iter().map(|i| walk(i, bins)).collect()),
            Value::Object(o) => {
                if o.get("_placeholder") == Some(&Value::Bool(true))
                    && let Some(b) = o
                        .get("num")
                        .and_then(Value::as_u64)
                        .and_then(|n| bins.get(usize::try_from(n).ok()?))
                {
                    return json!({ "bin": b.to_vec() });
                }
                Value::Object(o.into_iter().map(|(k, v)| (k, walk(v, bins))).collect())
            }
            v => v,
        }
    }
    let parsed: Value = serde_json::from_str(&args.json_array()).unwrap_or(Value::Null);
    walk(parsed, args.attachments())
}

/// The first argument of an acknowledgement, described (Node's `emitWithAck` keeps only it).
fn first_arg(args: &Args) -> Value {
    match describe(args) {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        _ => Value::Null,
    }
}

fn spec(args: &Args) -> Spec {
    args.first().unwrap_or_default()
}

fn answer(ack: Option<socketio_server::AckSender>, value: &Value) {
    if let Some(ack) = ack {
        let _ = ack.send(&(value,));
    }
}

fn sorted_infos(infos: &[socketio_server::SocketInfo]) -> Value {
    let mut list: Vec<Value> = infos
        .iter()
        .map(|i| {
            let mut rooms: Vec<&str> = i.rooms.iter().map(|r| r.as_str()).collect();
            rooms.sort_unstable();
            json!({
                "id": i.id.as_str(),
                "rooms": rooms,
                "data": i.data,
                "auth": i.handshake["auth"],
                "issued": i.handshake["issued"].is_u64(),
            })
        })
        .collect();
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Value::Array(list)
}

/// Installs the control events on namespace `/` of `io`; `name` identifies this node.
pub(crate) fn install(io: &SocketIo, name: &str) -> Nsp {
    let name: Arc<str> = Arc::from(name);
    let io2 = io.clone();
    let nsp = io.ns("/", move |socket: Socket| {
        let nsp = io2.of("/").unwrap_or_else(|| unreachable!("registered"));
        on_connect(&socket, &nsp);
    });
    let n = Arc::clone(&name);
    let nsp2 = nsp.clone();
    nsp.on_server_side("hello", move |args, ack| {
        let (nsp, n) = (nsp2.clone(), Arc::clone(&n));
        async move {
            let _ = nsp
                .broadcast()
                .local()
                .emit("sse-got", &(&*n, describe(&args)));
            if let Some(ack) = ack {
                let _ = ack.send(&(json!({ "from": &*n, "got": describe(&args) }),));
            }
        }
    });
    nsp
}

fn on_connect(socket: &Socket, nsp: &Nsp) {
    socket.on("join", |s, args, ack| async move {
        let room: String = args.first().unwrap_or_default();
        s.join(&room);
        answer(ack, &json!(true));
    });
    socket.on("set-data", |s, args, ack| async move {
        s.set_data(args.first().unwrap_or_default());
        answer(ack, &json!(true));
    });
    socket.on("leave", |s, args, ack| async move {
        let room: String = args.first().unwrap_or_default();
        s.leave(&room);
        answer(ack, &json!(true));
    });
    let n = nsp.clone();
    socket.on("bcast", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            let spec = spec(&args);
            let r = spec.target(&nsp).emit(&spec.event, &spec.emit_args());
            answer(ack, &json!(r.map_err(|e| e.to_string()).is_ok()));
        }
    });
    let n = nsp.clone();
    socket.on("bcast-ack", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            let spec = spec(&args);
            let r = spec
                .target(&nsp)
                .emit_with_ack(&spec.event, &spec.emit_args())
                .await;
            let v = match r {
                Ok(replies) => {
                    json!({ "ok": true, "replies": replies.iter().map(first_arg).collect::<Vec<_>>() })
                }
                Err(socketio_server::AckError::Timeout(replies)) => {
                    json!({ "ok": false, "replies": replies.iter().map(first_arg).collect::<Vec<_>>() })
                }
                Err(e) => json!({ "ok": false, "error": e.to_string(), "replies": [] }),
            };
            answer(ack, &v);
        }
    });
    let n = nsp.clone();
    socket.on("fetch", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            let spec = spec(&args);
            let v = match spec.target(&nsp).fetch_sockets().await {
                Ok(infos) => json!({ "ok": true, "sockets": sorted_infos(&infos) }),
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            };
            answer(ack, &v);
        }
    });
    let n = nsp.clone();
    socket.on("remote", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            // Find the socket among every node's sockets, then act on it as a remote socket.
            let spec = spec(&args);
            let op: String = args
                .decode::<(Value, String)>()
                .map(|(_, op)| op)
                .unwrap_or_default();
            let found = nsp
                .broadcast()
                .fetch_sockets()
                .await
                .ok()
                .and_then(|all| all.into_iter().find(|i| i.id.as_str() == spec.id));
            let Some(info) = found else {
                answer(ack, &json!(false));
                return;
            };
            let remote = nsp.remote_socket(&info);
            let ok = match op.as_str() {
                "emit" => remote.emit(&spec.event, &spec.emit_args()).is_ok(),
                "join" => remote.join(&spec.room).await.is_ok(),
                "leave" => remote.leave(&spec.room).await.is_ok(),
                "disconnect" => remote.disconnect().await.is_ok(),
                "close" => remote.close().await.is_ok(),
                _ => false,
            };
            answer(ack, &json!(ok));
        }
    });
    let n = nsp.clone();
    socket.on("sockets", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            let spec = spec(&args);
            let op: String = args
                .decode::<(Value, String)>()
                .map(|(_, op)| op)
                .unwrap_or_default();
            let target = spec.target(&nsp);
            let r = match op.as_str() {
                "join" => target.join(&spec.room).await,
                "leave" => target.leave(&spec.room).await,
                "close" => target.close().await,
                _ => target.disconnect().await,
            };
            answer(ack, &json!(r.is_ok()));
        }
    });
    let n = nsp.clone();
    socket.on("all-rooms", move |_, _, ack| {
        let nsp = n.clone();
        async move {
            let v = match nsp.all_rooms().await {
                Ok(mut rooms) => {
                    rooms.sort();
                    json!(rooms)
                }
                Err(e) => json!(e.to_string()),
            };
            answer(ack, &v);
        }
    });
    let n = nsp.clone();
    socket.on("server-count", move |_, _, ack| {
        let nsp = n.clone();
        async move {
            let v = match nsp.server_count().await {
                Ok(c) => json!(c),
                Err(e) => json!(e.to_string()),
            };
            answer(ack, &v);
        }
    });
    let n = nsp.clone();
    socket.on("sse", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            let spec = spec(&args);
            let ok = nsp.server_side_emit(&spec.event, &spec.emit_args()).is_ok();
            answer(ack, &json!(ok));
        }
    });
    let n = nsp.clone();
    socket.on("sse-ack", move |_, args, ack| {
        let nsp = n.clone();
        async move {
            let spec = spec(&args);
            let r = nsp
                .server_side_emit_with_ack(
                    &spec.event,
                    &spec.emit_args(),
                    spec.timeout.map(Duration::from_millis),
                )
                .await;
            let v = match r {
                Ok(replies) => {
                    let mut list: Vec<Value> = replies.iter().map(first_arg).collect();
                    list.sort_by_key(ToString::to_string);
                    json!({ "ok": true, "replies": list })
                }
                Err(socketio_server::AckError::Timeout(replies)) => {
                    json!({ "ok": false, "replies": replies.iter().map(first_arg).collect::<Vec<_>>() })
                }
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            };
            answer(ack, &v);
        }
    });
}
