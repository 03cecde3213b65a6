//! An explicit disconnect or close delivers what was emitted before it: the server handles
//! the event, then sees the socket leave with the reason the reference gives.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use socketio_client::{Manager, TransportMode};
use socketio_server::{SocketIo, SocketIoConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

const MODES: [TransportMode; 3] = [
    TransportMode::PollingOnly,
    TransportMode::WebSocketOnly,
    TransportMode::PollingThenUpgrade,
];

/// A server that reports every `record` event and every disconnect reason of `/`.
struct Server {
    _io: SocketIo,
    url: String,
    seen: mpsc::UnboundedReceiver<String>,
}

impl Server {
    async fn start() -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        let io = SocketIo::new(SocketIoConfig::default()).unwrap();
        io.ns("/", move |socket: socketio_server::Socket| {
            let t = tx.clone();
            socket.on("record", move |_, args, _| {
                let t = t.clone();
                async move {
                    let _ = t.send(format!("record {}", args.json_array()));
                }
            });
            let t = tx.clone();
            socket.on_disconnect(move |_, reason| {
                let _ = t.send(format!("disconnect {reason}"));
            });
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn({
            let io = io.clone();
            async move {
                let _ = io.serve(listener).await;
            }
        });
        Self { _io: io, url, seen }
    }

    async fn next(&mut self) -> String {
        timeout(WAIT, self.seen.recv()).await.unwrap().unwrap()
    }

    /// The next `n` reports, sorted: the server may run the disconnect handler before the
    /// event handler futures of the same connection have been polled.
    async fn next_sorted(&mut self, n: usize) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..n {
            seen.push(self.next().await);
        }
        seen.sort();
        seen
    }
}

async fn connected(url: &str, mode: TransportMode) -> (Manager, socketio_client::Socket) {
    let manager = Manager::builder(url).transports(mode).build().unwrap();
    let socket = manager.socket("/").connect();
    timeout(WAIT, socket.wait_connected())
        .await
        .unwrap()
        .unwrap();
    (manager, socket)
}

#[tokio::test]
async fn an_emit_followed_at_once_by_disconnect_reaches_the_server() {
    let mut server = Server::start().await;
    for mode in MODES {
        for i in 0..5 {
            let (_manager, socket) = connected(&server.url, mode).await;
            socket.emit("record", &(i, "x".repeat(i * 1000))).unwrap();
            socket.emit("record", &(i,)).unwrap();
            socket.disconnect();
            let seen = server.next_sorted(3).await;
            assert_eq!(
                seen[0], "disconnect client namespace disconnect",
                "{mode:?}"
            );
            assert!(
                seen[1].starts_with(&format!("record [{i},")),
                "{mode:?}: {seen:?}"
            );
            assert_eq!(seen[2], format!("record [{i}]"), "{mode:?}");
        }
    }
}

#[tokio::test]
async fn an_emit_followed_at_once_by_close_or_drop_reaches_the_server() {
    let mut server = Server::start().await;
    for mode in MODES {
        for drop_it in [false, true] {
            let (manager, socket) = connected(&server.url, mode).await;
            socket.emit("record", &(1,)).unwrap();
            if drop_it {
                drop(socket);
                drop(manager);
            } else {
                manager.close();
            }
            assert_eq!(
                server.next_sorted(2).await,
                ["disconnect transport close", "record [1]"],
                "{mode:?} {drop_it}"
            );
        }
    }
}

/// A proxy in front of `upstream` that stops forwarding (holding its connections open) once
/// told to: a server that went silent.
async fn freezing_proxy(upstream: String) -> (String, tokio::sync::watch::Sender<bool>) {
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", proxy.local_addr().unwrap());
    let (freeze, frozen) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut a, _)) = proxy.accept().await {
            let upstream = upstream.clone();
            let mut frozen = frozen.clone();
            tokio::spawn(async move {
                let mut b = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let froze = tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut a, &mut b) => false,
                    r = frozen.wait_for(|f| *f) => r.is_ok(),
                };
                if froze {
                    std::future::pending::<()>().await;
                }
            });
        }
    });
    (url, freeze)
}

#[tokio::test]
async fn a_silent_server_cannot_hold_the_close_up_beyond_the_close_timeout() {
    let server = Server::start().await;
    let upstream = server.url.trim_start_matches("http://").to_owned();
    let (url, freeze) = freezing_proxy(upstream).await;
    for mode in [TransportMode::PollingOnly, TransportMode::WebSocketOnly] {
        let manager = Manager::builder(&url)
            .transports(mode)
            .close_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let socket = manager.socket("/").connect();
        timeout(WAIT, socket.wait_connected())
            .await
            .unwrap()
            .unwrap();
        freeze.send_replace(true);
        socket.emit("record", &(1,)).unwrap();
        socket.disconnect();
        let start = tokio::time::Instant::now();
        timeout(WAIT, manager.closed()).await.unwrap();
        let waited = start.elapsed();
        // Polling waits for its POST, the WebSocket for the server's Close frame, then both
        // give up.
        assert!(waited >= Duration::from_millis(300), "{mode:?}: {waited:?}");
        assert!(waited < Duration::from_secs(2), "{mode:?}: {waited:?}");
        assert!(!manager.is_open());
        freeze.send_replace(false);
    }
}

#[tokio::test]
async fn closed_resolves_once_the_last_writes_are_done() {
    let mut server = Server::start().await;
    for mode in MODES {
        let (manager, socket) = connected(&server.url, mode).await;
        let waiting = manager.closed();
        tokio::pin!(waiting);
        assert!(
            futures_util::FutureExt::now_or_never(&mut waiting).is_none(),
            "{mode:?}"
        );
        socket.emit("record", &(1,)).unwrap();
        socket.disconnect();
        timeout(WAIT, waiting).await.unwrap();
        assert!(!manager.is_open(), "{mode:?}");
        assert_eq!(
            server.next_sorted(2).await,
            ["disconnect client namespace disconnect", "record [1]"],
            "{mode:?}"
        );
        // Reconnecting after a close works as before, and closing again too.
        socket.connect();
        timeout(WAIT, socket.wait_connected())
            .await
            .unwrap()
            .unwrap();
        manager.close();
        timeout(WAIT, manager.closed()).await.unwrap();
        assert_eq!(
            server.next().await,
            "disconnect transport close",
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn connecting_again_while_the_close_flushes_keeps_the_connection() {
    let mut server = Server::start().await;
    for mode in [TransportMode::PollingOnly, TransportMode::WebSocketOnly] {
        let (manager, socket) = connected(&server.url, mode).await;
        let mut events = manager.events();
        socket.emit("record", &(1,)).unwrap();
        socket.disconnect();
        socket.connect();
        timeout(WAIT, socket.wait_connected())
            .await
            .unwrap()
            .unwrap();
        socket.emit("record", &(2,)).unwrap();
        assert_eq!(
            server.next_sorted(3).await,
            [
                "disconnect client namespace disconnect",
                "record [1]",
                "record [2]"
            ],
            "{mode:?}"
        );
        // Polling may have closed before the connect came; otherwise one connection served
        // both sockets.
        if mode == TransportMode::WebSocketOnly {
            assert!(events.try_recv().is_err(), "{mode:?}");
        }
        manager.close();
        timeout(WAIT, manager.closed()).await.unwrap();
        assert_eq!(
            server.next().await,
            "disconnect transport close",
            "{mode:?}"
        );
    }
}
