//! One node of a Redis cluster, for the interop suite and for trying a cluster by hand.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 KEY=socket.io NODE_NAME=rust-1 PORT=0 \
//!     cargo run -p socketio-redis --example cluster-node
//! ```
//!
//! Prints `listening <port>` once it accepts connections and `redis up` once subscribed. The
//! control events clients may send are described in `examples/common/app.rs`.

#[path = "common/app.rs"]
mod app;

use socketio_redis::{RedisAdapterConfig, RedisCluster};
use socketio_server::{AdapterFactory, SocketIo, SocketIoConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let url = env("REDIS_URL", "redis://127.0.0.1:6379");
    let name = env("NODE_NAME", "rust");
    let port: u16 = env("PORT", "0").parse()?;
    let cluster = RedisCluster::new(&url, RedisAdapterConfig::with_key(env("KEY", "socket.io")))?;
    let mut config = SocketIoConfig::default();
    let c = cluster.clone();
    config.adapter = AdapterFactory::new(move |ns| c.adapter(ns));
    let io = SocketIo::new(config)?;
    app::install(&io, &name);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening {}", listener.local_addr()?.port());
    if cluster
        .wait_connected(std::time::Duration::from_secs(10))
        .await
    {
        println!("redis up");
    }
    io.serve(listener).await?;
    Ok(())
}
