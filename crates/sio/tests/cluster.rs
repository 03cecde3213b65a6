//! `sio serve --redis`: two servers on one Redis serve one application. Needs `redis-server`
//! (started on 127.0.0.1:6379 here when none answers); each test has its own channel prefix.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpStream;

mod common;

use common::{Sio, WAIT, client, next, send};

const REDIS: &str = "redis://127.0.0.1:6379";

/// Makes sure a Redis answers on 127.0.0.1:6379, starting a throwaway one when none does.
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
        ])
        .args(["--save", "", "--appendonly", "no"])
        .status();
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect("127.0.0.1:6379").await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server does not answer on 127.0.0.1:6379"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `sio serve --redis` node, once it has joined the cluster.
async fn node(key: &str) -> Sio {
    let mut sio = Sio::start(&["--quiet", "--redis", REDIS, "--redis-key", key]).await;
    sio.wait_line(|l| l.starts_with("sio: joined the cluster on Redis"))
        .await;
    sio
}

#[tokio::test]
async fn two_nodes_share_rooms_broadcasts_and_counts() {
    ensure_redis().await;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let key = format!("sio-cluster-test-{}-{nanos}", std::process::id());
    let one = node(&key).await;
    let two = node(&key).await;
    let (mut a, _) = client(&one.addr).await;
    let (mut b, _) = client(&two.addr).await;

    send(&mut b, r#"421["join","lobby"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), r#"431[["lobby"]]"#);

    // a (on the first node) reaches b (on the second) through its room, and the count in
    // the ack covers both nodes.
    send(&mut a, r#"421["to-room","lobby","hello",{"x":1}]"#).await;
    assert_eq!(next(&mut a).await.unwrap(), "431[1]");
    assert_eq!(
        next(&mut b).await.unwrap(),
        r#"42["room-message","lobby","hello",{"x":1}]"#
    );

    // A namespace-wide broadcast from b reaches a on the other node.
    send(&mut b, r#"422["broadcast","all"]"#).await;
    assert_eq!(next(&mut b).await.unwrap(), "432[1]");
    assert_eq!(next(&mut a).await.unwrap(), r#"42["broadcast","all"]"#);
}

#[tokio::test]
async fn a_redis_password_is_not_printed() {
    // An unreachable Redis: the server serves anyway and says what it waits for.
    let mut sio = Sio::start(&["--quiet", "--redis", "redis://user:secret@127.0.0.1:1"]).await;
    let line = sio
        .wait_line(|l| l.starts_with("sio: waiting for Redis"))
        .await;
    assert_eq!(
        line,
        "sio: waiting for Redis at redis://user:***@127.0.0.1:1"
    );
    let (mut a, _) = client(&sio.addr).await;
    send(&mut a, r#"421["echo","still serving"]"#).await;
    assert_eq!(next(&mut a).await.unwrap(), r#"431["still serving"]"#);
}
