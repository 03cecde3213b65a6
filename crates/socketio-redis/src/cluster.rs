//! One server's link to Redis: the publishing connection, the bounded outbox, and the
//! subscriber task that reconnects, resubscribes and hands each message to its namespace's
//! adapter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use socketio_adapter::{Adapter, AdapterError};
use socketio_proto::Namespace;
use tokio::sync::{Notify, mpsc, watch};

use crate::adapter::{AdapterInner, RedisAdapter};
use crate::codec::{self, Route};
use crate::{Error, ErrorKind, RedisAdapterConfig};

/// A message waiting to be published.
pub(crate) struct Outgoing {
    pub(crate) channel: String,
    pub(crate) payload: Vec<u8>,
}

/// What every adapter of one server shares.
pub(crate) struct Shared {
    pub(crate) config: RedisAdapterConfig,
    pub(crate) conn: ConnectionManager,
    outbox: mpsc::Sender<Outgoing>,
    /// Subscribed and healthy: cross-node operations are attempted only while this is set.
    up: AtomicBool,
    /// Up, and every registered namespace subscribed.
    ready: watch::Sender<bool>,
    /// Mirrors `up`, for waiters.
    up_watch: watch::Sender<bool>,
    /// The adapters by namespace name.
    registry: RwLock<HashMap<String, Weak<AdapterInner>>>,
    /// The registry changed: the subscriber updates its subscriptions.
    changed: Notify,
    /// Counts registry changes, so a subscription pass knows whether it saw the latest.
    generation: AtomicU64,
    /// Bus messages dropped (too large, malformed, unexpected shape).
    pub(crate) dropped: AtomicU64,
    /// Outgoing messages not published (Redis down, outbox full, publish failed).
    pub(crate) lost: AtomicU64,
    /// Successful (re)connections of the subscriber.
    connects: AtomicU64,
}

impl Shared {
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Queues a message for publishing without waiting.
    ///
    /// # Errors
    ///
    /// [`AdapterError::Unavailable`] when Redis is down or the outbox is full.
    pub(crate) fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        if !self.is_up() {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return Err(AdapterError::Unavailable);
        }
        self.outbox
            .try_send(Outgoing { channel, payload })
            .map_err(|_| {
                self.lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("redis outbox full, message dropped");
                AdapterError::Unavailable
            })
    }

    /// `PUBSUB NUMSUB channel`, bounded by the request timeout.
    pub(crate) async fn numsub(&self, channel: &str) -> Result<usize, AdapterError> {
        if !self.is_up() {
            return Err(AdapterError::Unavailable);
        }
        let cmd = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).to_owned();
        let fut = async {
            let mut conn = self.conn.clone();
            match cmd.query_async::<(String, usize)>(&mut conn).await {
                // A connection broken by an outage fails once, then the manager reconnects.
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    cmd.query_async::<(String, usize)>(&mut conn).await
                }
                r => r,
            }
        };
        match tokio::time::timeout(self.config.requests_timeout, fut).await {
            Ok(Ok((_, n))) => Ok(n),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "PUBSUB NUMSUB failed");
                Err(AdapterError::Unavailable)
            }
            Err(_) => Err(AdapterError::Timeout),
        }
    }

    pub(crate) fn register(&self, ns: &str, adapter: &Arc<AdapterInner>) {
        let previous = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ns.to_owned(), Arc::downgrade(adapter));
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.ready.send_replace(false);
        if previous.is_some_and(|p| p.strong_count() > 0) {
            tracing::warn!(
                ns,
                "a second Redis adapter for the same namespace on one connection replaces the first"
            );
        }
        self.changed.notify_one();
    }

    pub(crate) fn unregister(&self, ns: &str, adapter: *const AdapterInner) {
        let mut reg = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if reg
            .get(ns)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), adapter))
        {
            reg.remove(ns);
        }
        drop(reg);
        self.changed.notify_one();
    }

    fn adapter(&self, ns: &str) -> Option<Arc<AdapterInner>> {
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ns)
            .and_then(Weak::upgrade)
    }

    fn namespaces(&self) -> Vec<(String, Arc<AdapterInner>)> {
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|(k, w)| Some((k.clone(), w.upgrade()?)))
            .collect()
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        self.up_watch.send_replace(up);
        if !up {
            self.ready.send_replace(false);
        }
    }

    pub(crate) fn drop_message(&self, channel: &str, why: &dyn std::fmt::Display) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(channel, reason = %why, "bus message dropped");
    }
}

/// A server's connection to the Redis pub/sub bus; makes one [`RedisAdapter`] per namespace.
///
/// Create one per server (each server needs its own subscriptions: Redis counts subscribers
/// to find the number of servers) inside a tokio runtime, then hand
/// [`RedisCluster::adapter`] to the server's adapter factory. Connecting happens in the
/// background, with retries: a server starts even while Redis is unreachable.
#[derive(Clone)]
pub struct RedisCluster {
    shared: Arc<Shared>,
    tasks: Arc<TaskGuard>,
}

/// Stops the background tasks when the last clone of the cluster handle is dropped.
struct TaskGuard(Vec<tokio::task::AbortHandle>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("key", &self.shared.config.key)
            .field("up", &self.shared.is_up())
            .finish_non_exhaustive()
    }
}

impl RedisCluster {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`, or
    /// `rediss://` with the `tls` feature) in the background.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the URL is invalid or names TLS without the `tls` feature.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn new(url: &str, config: RedisAdapterConfig) -> Result<Self, Error> {
        #[cfg(feature = "tls")]
        {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match &config.tls_root_certs {
            None => redis::Client::open(url),
            #[cfg(feature = "tls")]
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            #[cfg(not(feature = "tls"))]
            Some(_) => {
                return Err(Error::msg(
                    ErrorKind::Config,
                    "tls_root_certs needs the tls feature",
                ));
            }
        }
        .map_err(|e| Error::new(ErrorKind::Config, e))?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.requests_timeout))
            .set_number_of_retries(1)
            .set_min_delay(config.reconnect_min)
            .set_max_delay(config.reconnect_max);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| Error::new(ErrorKind::Config, e))?;
        let (tx, rx) = mpsc::channel(config.outbox_capacity.max(1));
        let (ready, _) = watch::channel(false);
        let (up_watch, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            conn,
            outbox: tx,
            up: AtomicBool::new(false),
            ready,
            up_watch,
            registry: RwLock::new(HashMap::new()),
            changed: Notify::new(),
            generation: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        });
        let publisher = tokio::spawn(publisher(Arc::downgrade(&shared), rx));
        let subscriber = tokio::spawn(subscriber(Arc::downgrade(&shared), client));
        Ok(Self {
            shared,
            tasks: Arc::new(TaskGuard(vec![
                publisher.abort_handle(),
                subscriber.abort_handle(),
            ])),
        })
    }

    /// The adapter of namespace `ns`: use it in the server's adapter factory.
    #[must_use]
    pub fn adapter(&self, ns: &Namespace) -> Arc<dyn Adapter> {
        Arc::new(self.redis_adapter(ns))
    }

    /// The adapter of namespace `ns`, as its concrete type.
    #[must_use]
    pub fn redis_adapter(&self, ns: &Namespace) -> RedisAdapter {
        let tasks: Arc<dyn Send + Sync> = self.tasks.clone();
        RedisAdapter::new(Arc::clone(&self.shared), ns.clone(), tasks)
    }

    /// Whether the subscriber is connected and subscribed.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.is_up()
    }

    /// Waits until the subscriber is connected and every namespace created so far is
    /// subscribed (at most `timeout`); returns whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until the subscriber has made at least `n` connections (1: the first one, 2: one
    /// reconnection, ...) and is subscribed again (at most `timeout`); returns whether it has.
    pub async fn wait_connections(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.shared.ready.subscribe();
        let shared = &self.shared;
        let reached = async {
            loop {
                if *rx.borrow_and_update() && shared.connects.load(Ordering::Acquire) >= n {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, reached)
            .await
            .unwrap_or(false)
    }

    /// Waits until the subscriber has lost its connection (at most `timeout`); returns
    /// whether it has. While disconnected, cross-node operations fail at once with
    /// [`AdapterError::Unavailable`].
    pub async fn wait_disconnected(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.up_watch.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|up| !*up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Counters: bus messages dropped as malformed or too large, outgoing messages lost, and
    /// successful subscriber connections (1 + reconnections).
    #[must_use]
    pub fn stats(&self) -> ClusterStats {
        ClusterStats {
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            lost: self.shared.lost.load(Ordering::Relaxed),
            connects: self.shared.connects.load(Ordering::Relaxed),
        }
    }
}

/// Counters of a [`RedisCluster`].
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Bus messages dropped: too large, malformed, or of an unexpected shape.
    pub dropped: u64,
    /// Outgoing messages not published (Redis down, outbox full, publish failed).
    pub lost: u64,
    /// Successful subscriber connections (the first one and every reconnection).
    pub connects: u64,
}

/// Publishes the outbox in order, pipelining what has queued up.
async fn publisher(shared: Weak<Shared>, mut rx: mpsc::Receiver<Outgoing>) {
    const BATCH: usize = 64;
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut pipe = redis::pipe();
        let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        for m in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(m.channel).arg(m.payload).ignore();
        }
        let mut conn = shared.conn.clone();
        // No retry: a pipeline that failed half-way may have been published in part, and a
        // retry could deliver twice (Socket.IO promises at most once).
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            // Some may have gone out; counted as lost all the same.
            shared.lost.fetch_add(count, Ordering::Relaxed);
            tracing::warn!(error = %e, messages = count, "redis publish failed");
        }
    }
}

/// Connects, subscribes every registered namespace, dispatches messages; on any failure marks
/// the bus down, waits with exponential backoff and jitter, and starts over.
async fn subscriber(shared: Weak<Shared>, client: redis::Client) {
    let mut delay = None;
    loop {
        let Some(s) = shared.upgrade() else { return };
        let (min, max) = (s.config.reconnect_min, s.config.reconnect_max);
        drop(s);
        if let Some(d) = delay {
            tokio::time::sleep(jitter(d)).await;
        }
        match session(&shared, &client).await {
            Ok(()) => return,
            Err(e) => {
                let Some(s) = shared.upgrade() else { return };
                let was_up = s.is_up();
                s.set_up(false);
                if was_up {
                    tracing::warn!(error = %e, "redis subscriber connection lost, reconnecting");
                    delay = Some(min);
                } else {
                    tracing::debug!(error = %e, "redis subscriber cannot connect yet");
                    delay = Some(delay.map_or(min, |d: Duration| (d * 2).min(max)));
                }
            }
        }
    }
}

/// A delay between 50 % and 100 % of `d`.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    d / 2 + d * u32::from(b[0]) / 512
}

/// One subscriber connection, until it fails. `Ok` when the cluster handle is gone.
async fn session(shared: &Weak<Shared>, client: &redis::Client) -> Result<(), Error> {
    let (connect_timeout, ping_interval, ping_timeout) = match shared.upgrade() {
        Some(s) => (
            s.config.connect_timeout,
            s.config.health_check_interval,
            s.config.requests_timeout.max(s.config.connect_timeout),
        ),
        None => return Ok(()),
    };
    let pubsub = tokio::time::timeout(connect_timeout, client.get_async_pubsub())
        .await
        .map_err(|_| Error::msg(ErrorKind::Unavailable, "connect timed out"))?
        .map_err(|e| Error::new(ErrorKind::Unavailable, e))?;
    let (mut sink, mut stream) = pubsub.split();
    // What this connection is subscribed to, by namespace (the channels name the adapter's uid).
    let mut subscribed: HashMap<String, codec::Channels> = HashMap::new();
    let mut ping = tokio::time::interval(ping_interval);
    ping.tick().await;
    let mut first = true;
    // Traffic proves the connection alive: a PING is sent only after a quiet interval (under
    // load, a PING queued behind a burst could otherwise time out on a healthy connection).
    let mut last_rx = tokio::time::Instant::now();
    loop {
        let Some(s) = shared.upgrade() else {
            return Ok(());
        };
        // Bring the subscriptions in line with the registry.
        let generation = s.generation.load(Ordering::Acquire);
        let wanted = s.namespaces();
        let stale: Vec<String> = subscribed
            .iter()
            .filter(|(ns, c)| {
                !wanted
                    .iter()
                    .any(|(w, a)| w == *ns && a.channels().specific_response == c.specific_response)
            })
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in stale {
            let Some(c) = subscribed.remove(&ns) else {
                continue;
            };
            tokio::time::timeout(connect_timeout, async {
                sink.punsubscribe(c.pattern()).await?;
                sink.unsubscribe(&[c.request, c.response, c.specific_response])
                    .await
            })
            .await
            .map_err(|_| Error::msg(ErrorKind::Unavailable, "unsubscribe timed out"))?
            .map_err(|e| Error::new(ErrorKind::Unavailable, e))?;
        }
        for (ns, adapter) in &wanted {
            if subscribed.contains_key(ns) {
                continue;
            }
            let c = adapter.channels();
            tokio::time::timeout(connect_timeout, async {
                sink.psubscribe(c.pattern()).await?;
                sink.subscribe(&[&c.request, &c.response, &c.specific_response])
                    .await
            })
            .await
            .map_err(|_| Error::msg(ErrorKind::Unavailable, "subscribe timed out"))?
            .map_err(|e| Error::new(ErrorKind::Unavailable, e))?;
            subscribed.insert(ns.clone(), c.clone());
        }
        drop(wanted);
        if first {
            first = false;
            s.connects.fetch_add(1, Ordering::AcqRel);
            s.set_up(true);
            tracing::info!("redis subscriber connected");
            // Let the publishing connection notice an outage now rather than on a publish.
            let mut conn = s.conn.clone();
            let _ = tokio::time::timeout(
                connect_timeout,
                redis::cmd("PING").query_async::<()>(&mut conn),
            )
            .await;
        }
        if s.generation.load(Ordering::Acquire) == generation {
            s.ready.send_replace(true);
        }
        let s2 = Arc::clone(&s);
        drop(s);
        let changed = s2.changed.notified();
        tokio::pin!(changed);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else {
                        return Err(Error::msg(ErrorKind::Unavailable, "connection closed"));
                    };
                    last_rx = tokio::time::Instant::now();
                    let Some(s) = shared.upgrade() else { return Ok(()) };
                    dispatch(&s, &msg);
                }
                () = &mut changed => break,
                _ = ping.tick() => {
                    if last_rx.elapsed() < ping_interval {
                        continue;
                    }
                    tokio::time::timeout(ping_timeout, sink.ping::<()>())
                        .await
                        .map_err(|_| Error::msg(ErrorKind::Unavailable, "ping timed out"))?
                        .map_err(|e| Error::new(ErrorKind::Unavailable, e))?;
                }
            }
        }
    }
}

/// Hands one message to its namespace's adapter; drops what is too large or unroutable.
fn dispatch(s: &Shared, msg: &redis::Msg) {
    let channel = msg.get_channel_name();
    let payload = msg.get_payload_bytes();
    if payload.len() > s.config.max_message_size {
        s.drop_message(
            channel,
            &format_args!("{} bytes over the size cap", payload.len()),
        );
        return;
    }
    let Some(route) = codec::route(&s.config.key, channel) else {
        return;
    };
    let nsp = match route {
        Route::Broadcast { nsp, .. } | Route::Request { nsp } | Route::Response { nsp } => nsp,
    };
    let Some(adapter) = s.adapter(nsp) else {
        return;
    };
    let result = match route {
        Route::Broadcast { room, .. } => adapter.on_broadcast(room, payload),
        Route::Request { .. } => adapter.on_request(payload),
        Route::Response { .. } => adapter.on_response(payload),
    };
    if let Err(e) = result {
        s.drop_message(channel, &e);
    }
}
