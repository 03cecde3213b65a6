//! The introspection API a status page uses: `SocketIo::namespaces`, `Nsp::stats`, and the
//! engine's session count, checked over loopback with a raw WebSocket client.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use socketio_server::{NsStats, Socket, SocketIo, SocketIoConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn start() -> (SocketIo, String) {
    let io = SocketIo::new(SocketIoConfig::default()).unwrap();
    io.ns("/zeta", |_socket: Socket| {});
    io.ns("/", |socket: Socket| {
        socket.on("echo", |_, args, ack| async move {
            if let Some(ack) = ack {
                let _ = ack.send_args(&args);
            }
        });
        socket.on("shout", |s, args, _| async move {
            let _ = s.broadcast().emit_args("shout", &args);
        });
    });
    io.dynamic_ns(|name, _| name.starts_with("/dyn-"), |_socket: Socket| {});
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(io.clone().serve(listener));
    (io, addr)
}

/// Next text frame, skipping pings.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
        {
            Ok(Message::Text(t)) if t.as_str() == "2" => {}
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn connected(addr: &str, ns: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("0{"));
    let connect = if ns == "/" {
        "40".to_owned()
    } else {
        format!("40{ns},")
    };
    ws.send(Message::text(connect)).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().contains("{\"sid\":"));
    ws
}

fn stats(io: &SocketIo, ns: &str) -> NsStats {
    io.of(ns).unwrap().stats()
}

#[tokio::test]
async fn namespaces_are_listed_by_name_with_dynamic_children() {
    let (io, addr) = start().await;
    let names = |io: &SocketIo| -> Vec<String> {
        io.namespaces()
            .iter()
            .map(|n| n.name().to_owned())
            .collect()
    };
    assert_eq!(names(&io), ["/", "/zeta"]);
    let _child = connected(&addr, "/dyn-1").await;
    assert_eq!(names(&io), ["/", "/dyn-1", "/zeta"]);
}

#[tokio::test]
async fn packets_are_counted_per_namespace_and_per_recipient() {
    let (io, addr) = start().await;
    assert_eq!(stats(&io, "/"), NsStats::default());
    let mut a = connected(&addr, "/").await;
    let mut b = connected(&addr, "/").await;
    let mut c = connected(&addr, "/").await;
    // Three connect replies.
    assert_eq!(stats(&io, "/").packets_sent, 3);
    assert_eq!(stats(&io, "/").packets_received, 0);
    assert_eq!(io.engine().session_count(), 3);

    // An event with an ack: one packet in, one ack out.
    a.send(Message::text(r#"421["echo","x"]"#)).await.unwrap();
    assert_eq!(next_text(&mut a).await.unwrap(), r#"431["x"]"#);
    let s = stats(&io, "/");
    assert_eq!((s.packets_received, s.packets_sent), (1, 4));

    // A broadcast from a to the two others: one in, two out.
    a.send(Message::text(r#"42["shout","hi"]"#)).await.unwrap();
    assert_eq!(next_text(&mut b).await.unwrap(), r#"42["shout","hi"]"#);
    assert_eq!(next_text(&mut c).await.unwrap(), r#"42["shout","hi"]"#);
    let s = stats(&io, "/");
    assert_eq!((s.packets_received, s.packets_sent), (2, 6));

    // Other namespaces are counted apart.
    let _z = connected(&addr, "/zeta").await;
    assert_eq!(stats(&io, "/zeta").packets_sent, 1);
    assert_eq!(stats(&io, "/").packets_sent, 6);
}
