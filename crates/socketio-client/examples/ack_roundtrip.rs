//! Ack round trips: emits `ack` with an acknowledgement N times and reports the latency, then
//! asks the server to `emitWithAck` a `question` and answers it.
//!
//! ```sh
//! PORT=3000 cargo run -p socketio-server --example interop-server &
//! cargo run -p socketio-client --example ack_roundtrip -- http://127.0.0.1:3000 1000 websocket
//! ```
//!
//! The server acknowledges `ack` with the arguments it got, and answers `ask-ack` by emitting
//! `question` with an ack and then `answer` with the reply (as `interop-server` does).

use std::time::{Duration, Instant};

use socketio_client::{AckSender, Manager, TransportMode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let count: u32 = args.next().map_or(Ok(100), |n| n.parse())?;
    let mode = match args.next().as_deref() {
        Some("polling") => TransportMode::PollingOnly,
        Some("websocket") => TransportMode::WebSocketOnly,
        _ => TransportMode::PollingThenUpgrade,
    };

    let manager = Manager::builder(&url)
        .transports(mode)
        .reconnection_attempts(3)
        .build()?;
    let (tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let socket = manager
        .socket("/")
        .on("answer", move |_, (a,): (String,), _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(a);
            }
        })
        .on(
            "question",
            |_, (q,): (String,), ack: Option<AckSender>| async move {
                if let Some(ack) = ack {
                    let _ = ack.send(&(format!("answer to {q}"),));
                }
            },
        )
        .connect();
    socket.wait_connected().await?;

    let mut latencies = Vec::with_capacity(count as usize);
    for i in 0..count {
        let started = Instant::now();
        let (n,): (u32,) = socket
            .emit_with_ack("ack", &(i,))
            .timeout(Duration::from_secs(5))
            .await?;
        assert_eq!(n, i, "the server acknowledged another value");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    if let (Some(first), Some(last)) = (latencies.first(), latencies.last()) {
        let median = latencies[latencies.len() / 2];
        println!(
            "{count} round trips over {:?}: min {first:?}, median {median:?}, max {last:?}",
            manager.transport()
        );
    }
    // The other direction: the server asks, the handler above answers through its ack.
    socket.emit("ask-ack", &("the meaning of life",))?;
    let answer = tokio::time::timeout(Duration::from_secs(5), answers.recv()).await?;
    println!("the server got: {}", answer.unwrap_or_default());
    socket.disconnect();
    manager.closed().await;
    Ok(())
}
