//! Our client against the official npm `socket.io` server (`interop/client-server.mjs`, the
//! version pinned in `interop/package-lock.json`), killed with SIGKILL and restarted where a
//! scenario needs it.
//!
//! These tests need `interop/node_modules`; `cargo xtask test` installs it with `npm ci` and
//! then runs them with `--ignored`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod scenarios;

use std::path::PathBuf;
use std::process::Stdio;

use scenarios::WAIT;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// The Node server process.
struct NodeServer {
    child: Child,
    port: u16,
    seen: mpsc::UnboundedReceiver<(String, String)>,
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

impl scenarios::Backend for NodeServer {
    async fn start(port: u16) -> Self {
        Self::spawn(port, false).await
    }

    async fn start_with_recovery() -> Self {
        Self::spawn(0, true).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    async fn next_seen(&mut self) -> (String, String) {
        timeout(WAIT, self.seen.recv()).await.unwrap().unwrap()
    }
}

impl NodeServer {
    /// Starts `client-server.mjs`, with connection state recovery when `csr`.
    async fn spawn(port: u16, csr: bool) -> Self {
        let dir = interop_dir();
        assert!(
            dir.join("node_modules/socket.io").exists(),
            "run `npm ci` in interop/ first"
        );
        let mut command = Command::new("node");
        if csr {
            command.env("SIO_CSR", "1");
        }
        let mut child = command
            .arg("client-server.mjs")
            .arg(port.to_string())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let port = first
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let event = v["event"].as_str().unwrap().to_owned();
                let _ = tx.send((event, v["args"].to_string()));
            }
        });
        Self { child, port, seen }
    }
}

macro_rules! interop {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        #[ignore = "needs interop/node_modules: run by `cargo xtask test`"]
        async fn $name() {
            scenarios::$name::<NodeServer>().await;
        }
    )*};
}

interop!(
    every_transport_mode_connects_emits_and_acks,
    two_namespaces_share_one_connection,
    auth_is_accepted_or_refused_with_message_and_data,
    auth_callback_runs_again_on_reconnection,
    acks_both_ways_with_timeouts,
    binary_both_ways,
    server_broadcast_reaches_the_room,
    offline_emits_are_delivered_in_order_after_a_server_restart,
    reconnection_backs_off_within_bounds_and_resets,
    retries_deliver_each_event_once_when_the_first_ack_is_lost,
    server_side_disconnect_does_not_reconnect,
    client_disconnect_does_not_reconnect_and_fails_pending_acks,
    an_emit_followed_by_disconnect_or_close_is_delivered,
    connection_state_recovery_restores_id_rooms_and_missed_events,
);
