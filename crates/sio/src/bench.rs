//! `sio bench`: a load generator. N clients, each on its own connection, emit at a fixed rate
//! for a fixed time, with acknowledgements (latency = emit to ack) or fire-and-forget
//! (latency = emit to the server's echo of the event, as `sio serve`'s `echo` does). Bounded
//! in clients, rate and time; every wait has a deadline.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde::de::IgnoredAny;
use serde_json::json;
use socketio_client::Socket;
use tokio::sync::{Notify, Semaphore};

use crate::client::{self, ConnectArgs};

/// Longest wait for one acknowledgement, and for the last echoes after the sending ended.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Acknowledgements one client waits for at once; at the limit it sends when one arrives.
const MAX_IN_FLIGHT: usize = 256;
/// Connections being set up at once.
const CONNECTING: usize = 64;

/// `sio bench` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Clients, each with its own connection.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: u32,
    /// Messages per second per client; 0 sends the next message when the previous one is
    /// acknowledged (needs acknowledgements).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    rate: u32,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration: u64,
    /// Payload bytes per message (one string argument).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    size: u32,
    /// Fire and forget: no acknowledgements; latency is measured to the server's echo event.
    #[arg(long)]
    no_ack: bool,
    /// The event to emit; the server must acknowledge it (or, with --no-ack, emit it back
    /// with the same arguments).
    #[arg(long, default_value = "echo")]
    event: String,
    /// Print the summary as one line of JSON.
    #[arg(long)]
    json: bool,
}

/// Counters shared by the clients, read by the progress line.
#[derive(Debug, Default)]
struct Counters {
    connected: AtomicU64,
    connect_errors: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
}

/// Runs the benchmark and prints the summary on stdout.
pub(crate) async fn run(args: BenchArgs) -> Result<(), String> {
    if args.rate == 0 && args.no_ack {
        return Err("--rate 0 needs acknowledgements: drop --no-ack or set a rate".into());
    }
    let args = Arc::new(args);
    let counters = Arc::new(Counters::default());
    let padding: Arc<str> = "x".repeat(args.size as usize).into();
    let epoch = Instant::now();
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let (go_tx, go_rx) = tokio::sync::watch::channel(None::<Instant>);
    // Each client reports the end of its connect attempt here.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(1);

    let mut clients = FuturesUnordered::new();
    for _ in 0..args.clients {
        let (args, counters, padding, connecting, go, ready) = (
            Arc::clone(&args),
            Arc::clone(&counters),
            Arc::clone(&padding),
            Arc::clone(&connecting),
            go_rx.clone(),
            ready_tx.clone(),
        );
        clients.push(tokio::spawn(async move {
            client(&args, &counters, &padding, &connecting, (ready, go), epoch).await
        }));
    }
    drop(ready_tx);

    // Everyone connects first; the clock starts when the last connect attempt has ended.
    eprintln!(
        "sio: connecting {} clients to {}",
        args.clients, args.connect.url
    );
    let mut last_error = None;
    for _ in 0..args.clients {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let connected = counters.connected.load(Ordering::Relaxed);
    if connected == 0 {
        // Every client failed: report the first failure.
        while let Some(joined) = clients.next().await {
            if let Ok(Err(e)) = joined {
                last_error.get_or_insert(e);
            }
        }
        return Err(last_error.unwrap_or_else(|| "no client could connect".into()));
    }
    let start = Instant::now();
    let _ = go_tx.send(Some(start + Duration::from_secs(args.duration)));
    eprintln!(
        "sio: {connected} clients connected, sending for {} s",
        args.duration
    );

    let progress = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut histogram = Histogram::default();
    while !clients.is_empty() {
        tokio::select! {
            joined = clients.next() => match joined {
                Some(Ok(Ok(h))) => histogram.merge(&h),
                Some(Ok(Err(e))) => { last_error.get_or_insert(e); }
                Some(Err(e)) => { last_error.get_or_insert_with(|| e.to_string()); }
                None => {}
            },
            _ = tick.tick(), if progress => {
                draw_progress(&counters, start.elapsed(), args.duration);
            }
        }
    }
    if progress {
        eprintln!();
    }
    if let Some(e) = last_error {
        eprintln!("sio: some clients failed; the first: {e}");
    }
    let elapsed = start.elapsed().min(Duration::from_secs(args.duration));
    summary(&args, &counters, &histogram, elapsed, connected);
    Ok(())
}

/// One client: connect, wait for the start, send until the end, wait for the last replies.
async fn client(
    args: &BenchArgs,
    counters: &Counters,
    padding: &Arc<str>,
    connecting: &Semaphore,
    (ready, mut go): (
        tokio::sync::mpsc::Sender<()>,
        tokio::sync::watch::Receiver<Option<Instant>>,
    ),
    epoch: Instant,
) -> Result<Histogram, String> {
    let echoes = Arc::new((Mutex::new(Histogram::default()), Notify::new()));
    let connected = {
        let _permit = connecting.acquire().await.map_err(|e| e.to_string())?;
        let (event, echoes, no_ack) = (args.event.clone(), Arc::clone(&echoes), args.no_ack);
        client::connect(&args.connect, false, move |builder| {
            if !no_ack {
                return builder;
            }
            builder.on(&event, move |_s: Socket, (sent_at,): (u64,), _ack| {
                let echoes = Arc::clone(&echoes);
                async move {
                    let now = nanos_since(epoch);
                    echoes
                        .0
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(now.saturating_sub(sent_at));
                    echoes.1.notify_one();
                }
            })
        })
        .await
    };
    let connected = match connected {
        Ok(c) => {
            counters.connected.fetch_add(1, Ordering::Relaxed);
            let _ = ready.send(()).await;
            c
        }
        Err(e) => {
            counters.connect_errors.fetch_add(1, Ordering::Relaxed);
            let _ = ready.send(()).await;
            return Err(e);
        }
    };
    let socket = &connected.socket;
    let end = loop {
        if let Some(end) = *go.borrow_and_update() {
            break end;
        }
        if go.changed().await.is_err() {
            return Ok(Histogram::default());
        }
    };
    let end = tokio::time::Instant::from_std(end);
    let mut histogram = Histogram::default();
    let mut in_flight = FuturesUnordered::new();
    let mut ticker = (args.rate > 0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs(1) / args.rate);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let limit = if args.rate == 0 { 1 } else { MAX_IN_FLIGHT };
    let mut sent = 0u64;
    loop {
        // Wait for the next slot to send, taking replies meanwhile.
        let may_send = in_flight.len() < limit;
        tokio::select! {
            () = tokio::time::sleep_until(end) => break,
            Some(latency) = in_flight.next(), if !in_flight.is_empty() => {
                record_reply(latency, counters, &mut histogram);
                continue;
            }
            _ = async {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
            }, if may_send => {}
        }
        sent += 1;
        counters.sent.fetch_add(1, Ordering::Relaxed);
        if args.no_ack {
            if socket
                .emit(&args.event, &(nanos_since(epoch), &**padding))
                .is_err()
            {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            let at = Instant::now();
            let reply = socket
                .emit_with_ack::<IgnoredAny, _>(&args.event, &(&**padding,))
                .timeout(REPLY_TIMEOUT)
                .send();
            in_flight.push(async move { reply.await.ok().map(|_| at.elapsed()) });
        }
    }
    // The last acknowledgements (each bounded by its timeout).
    while let Some(latency) = in_flight.next().await {
        record_reply(latency, counters, &mut histogram);
    }
    if args.no_ack {
        // The last echoes, within the reply timeout; each echo wakes this loop.
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let got = echoes
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .total;
            if got >= sent
                || tokio::time::timeout_at(deadline, echoes.1.notified())
                    .await
                    .is_err()
            {
                break;
            }
        }
        let echoes = echoes.0.lock().unwrap_or_else(PoisonError::into_inner);
        counters.received.fetch_add(echoes.total, Ordering::Relaxed);
        counters
            .errors
            .fetch_add(sent.saturating_sub(echoes.total), Ordering::Relaxed);
        histogram.merge(&echoes);
    }
    connected.socket.disconnect();
    connected.manager.close();
    Ok(histogram)
}

fn record_reply(latency: Option<Duration>, counters: &Counters, histogram: &mut Histogram) {
    match latency {
        Some(d) => {
            counters.received.fetch_add(1, Ordering::Relaxed);
            histogram.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        }
        None => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn draw_progress(counters: &Counters, elapsed: Duration, duration: u64) {
    const WIDTH: u64 = 30;
    let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let filled = (millis * WIDTH / (duration * 1000)).min(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '=' } else { ' ' })
        .collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{bar}] {:>5.1}/{duration} s  sent {}  replies {}  errors {}",
        elapsed.as_secs_f64().min(duration as f64),
        counters.sent.load(Ordering::Relaxed),
        counters.received.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    let _ = err.flush();
}

fn summary(
    args: &BenchArgs,
    counters: &Counters,
    histogram: &Histogram,
    elapsed: Duration,
    connected: u64,
) {
    let sent = counters.sent.load(Ordering::Relaxed);
    let received = counters.received.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let connect_errors = counters.connect_errors.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let throughput = received as f64 / secs;
    let ms = |q: f64| histogram.quantile(q) as f64 / 1e6;
    let mode = if args.no_ack {
        "fire-and-forget"
    } else {
        "ack"
    };
    if args.json {
        let line = json!({
            "clients": connected,
            "connect_errors": connect_errors,
            "seconds": round3(secs),
            "size": args.size,
            "mode": mode,
            "sent": sent,
            "received": received,
            "errors": errors,
            "throughput_per_sec": round3(throughput),
            "latency_ms": {
                "p50": round3(ms(0.5)),
                "p99": round3(ms(0.99)),
                "p999": round3(ms(0.999)),
                "max": round3(histogram.max as f64 / 1e6),
            },
        });
        println!("{line}");
    } else {
        println!(
            "clients      {connected} connected, {connect_errors} failed to connect\n\
             mode         {mode}, {} B payload, {:.1} s\n\
             messages     {sent} sent, {received} {}, {errors} errors\n\
             throughput   {throughput:.1} messages/s\n\
             latency      p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            args.size,
            secs,
            if args.no_ack {
                "echoed"
            } else {
                "acknowledged"
            },
            ms(0.5),
            ms(0.99),
            ms(0.999),
            histogram.max as f64 / 1e6,
        );
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A log-linear latency histogram in nanoseconds: 32 buckets per power of two (about 3 %
/// precision), a fixed 2 KiB-ish table whatever the number of samples.
#[derive(Clone, Debug)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; 64 * 32],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let bits = 64 - v.leading_zeros();
        let shift = bits - 6;
        (shift as usize) * 32 + (v >> shift) as usize
    }

    /// The largest value of bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let shift = (i / 32 - 1) as u32;
        let top = (i % 32 + 32) as u128;
        let upper = ((top + 1) << shift) - 1;
        u64::try_from(upper).unwrap_or(u64::MAX)
    }

    fn record(&mut self, v: u64) {
        let i = Self::index(v).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1), as its bucket's upper bound (at most the maximum).
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_cover_values_in_order_within_three_percent() {
        let mut last = 0;
        for v in 0..5000u64 {
            let i = Histogram::index(v);
            assert!(i >= last, "monotonic at {v}");
            last = i;
        }
        for v in (0..5000u64).chain([1 << 20, 123_456_789, u64::MAX / 3, u64::MAX]) {
            let i = Histogram::index(v);
            assert!(i < Histogram::default().counts.len());
            let upper = Histogram::upper(i);
            assert!(upper >= v, "{v} above its bucket's bound {upper}");
            assert!(upper - v <= v / 32 + 1, "{v}: bound {upper} too far");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((500_000..=516_000).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        let mut other = Histogram::default();
        other.record(7);
        h.merge(&other);
        assert_eq!((h.total, h.quantile(0.0)), (1001, 7));
    }
}
