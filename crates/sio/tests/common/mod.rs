//! What the test files share: a running `sio serve` and its stderr lines.

#![allow(dead_code, reason = "each test file uses a part")]
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// A raw WebSocket Engine.IO connection.
pub(crate) type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Bound of every wait in these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A running `sio serve`.
pub(crate) struct Sio {
    pub(crate) child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// Its stderr, line by line.
    pub(crate) stderr: mpsc::UnboundedReceiver<String>,
}

impl Sio {
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sio"))
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (tx, stderr) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sio = Self {
            child,
            addr: String::new(),
            stderr,
        };
        let ready = sio
            .wait_line(|l| l.starts_with("sio: listening on http://"))
            .await;
        let url = ready.trim_start_matches("sio: listening on http://");
        sio.addr = url.split('/').next().unwrap().to_owned();
        sio
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next stderr line matching `pred` (earlier lines are skipped).
    pub(crate) async fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = tokio::time::timeout(WAIT, self.stderr.recv())
                .await
                .expect("a stderr line in time")
                .expect("sio still running");
            if pred(&line) {
                return line;
            }
        }
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit; returns its success and what it wrote on stdout.
    pub(crate) async fn exit(mut self) -> (bool, String) {
        let mut stdout = self.child.stdout.take().unwrap();
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("sio exits in time")
            .unwrap();
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        (status.success(), out)
    }
}

/// Forwards the lines of a child's output into a channel.
pub(crate) fn lines<R>(reader: R) -> mpsc::UnboundedReceiver<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let mut lines = BufReader::new(reader).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line from `rx`, within [`WAIT`].
pub(crate) async fn next_line(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a line in time")
        .expect("the process is still writing")
}

/// Runs `sio ARGS` to its end: (success, stdout, stderr).
pub(crate) async fn sio(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        WAIT,
        Command::new(env!("CARGO_BIN_EXE_sio"))
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("sio ends in time")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Next text frame, skipping pings; binary frames show as `<bin HEX>`; `None` once closed.
pub(crate) async fn next(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")?
        {
            Ok(Message::Text(t)) if t.as_str() == "2" => ws.send(Message::text("3")).await.ok()?,
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Binary(b)) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                return Some(format!("<bin {hex}>"));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub(crate) async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned())).await.unwrap();
}

/// A WebSocket client connected to namespace `/`, past the `welcome` event; returns its
/// socket id too.
pub(crate) async fn client(addr: &str) -> (Ws, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert!(next(&mut ws).await.unwrap().starts_with("0{\"sid\":"));
    send(&mut ws, "40").await;
    let reply = next(&mut ws).await.unwrap();
    let sid: serde_json::Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
    let id = sid["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        next(&mut ws).await.unwrap(),
        format!("42[\"welcome\",\"{id}\"]")
    );
    (ws, id)
}
