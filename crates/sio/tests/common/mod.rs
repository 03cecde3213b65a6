//! What the test files share: a running `sio serve` and its stderr lines.

#![allow(dead_code, reason = "each test file uses a part")]
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

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
