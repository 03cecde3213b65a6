//! The load generator of the end-to-end benchmark suite (`benches/run.py`), used for every
//! server under test.
//!
//! One thread (a `current_thread` tokio runtime), client frames pre-built with an all-zero
//! mask key, minimal parsing (WebSocket frame headers and the first bytes of each Engine.IO
//! packet), latencies in an HDR histogram. It only connects to 127.0.0.1, every phase is bounded
//! in count and time, and it exits by itself. It prints one JSON object on stdout.
//!
//! ```text
//! loadgen --mode ack   --port P --server-pid PID --conns 100 --payload 16 --inflight 1 \
//!         --warmup-ms 1000 --duration-ms 3000
//! loadgen --mode room  --port P --server-pid PID --conns 10000 --payload 100 --rounds 20 \
//!         --settle-ms 2000 [--churn]
//! loadgen --mode poll  --port P --server-pid PID --conns 100 --payload 16 \
//!         --warmup-ms 1000 --duration-ms 3000
//! ```
//!
//! - `ack`: WebSocket sessions that each keep `inflight` `echo` events with an ack id in flight
//!   (closed loop); ack/s, round-trip percentiles, server CPU per ack.
//! - `room`: `conns` WebSocket sessions connect (idle memory per socket: server VmRSS delta / N
//!   after `settle-ms`), join the room `bench`, then a separate trigger session emits `fan`
//!   `rounds` times, one at a time; every `m` delivery is counted; server CPU per delivery and
//!   completion time (trigger sent → last delivery). With `--churn`, all sessions disconnect, N
//!   connect again (second plateau) and disconnect again.
//! - `poll`: HTTP long-polling-only sessions, each with one `echo` in flight: a POST carries the
//!   event while a GET waits for the ack.
//!
//! Every session waits for the Engine.IO open packet before it sends CONNECT, and for the
//! CONNECT reply before it counts as connected. Server CPU is `utime + stime` from
//! `/proc/PID/stat` read around each measured window; memory is `VmRSS` from `/proc/PID/status`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

/// Handshakes in progress at once (the listen backlog is the limit that matters).
const HANDSHAKE_CONCURRENCY: usize = 200;
/// Longest time to open all the sessions of one phase.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest wait for the outstanding acks after a measured window.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for one broadcast to reach every member.
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest frame or HTTP body the generator accepts.
const MAX_MESSAGE: usize = 16 << 20;

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    // 10k sockets need more than the usual 1024 descriptors.
    let _ = rlimit::increase_nofile_limit(args.conns as u64 * 2 + 256);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: runtime: {e}");
            std::process::exit(1);
        }
    };
    let local = tokio::task::LocalSet::new();
    let overall = Duration::from_secs(args.max_seconds);
    let result = local.block_on(&rt, async move {
        match tokio::time::timeout(overall, run(&args)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the whole run exceeded --max-seconds",
            )),
        }
    });
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            println!("{}", json!({ "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> io::Result<Value> {
    match args.mode.as_str() {
        "ack" => ack_mode(args).await,
        "room" => room_mode(args).await,
        "poll" => poll_mode(args).await,
        m => Err(io::Error::other(format!("unknown mode {m}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

struct Args {
    mode: String,
    port: u16,
    server_pid: u32,
    conns: usize,
    payload: usize,
    inflight: usize,
    warmup: Duration,
    duration: Duration,
    rounds: usize,
    settle: Duration,
    churn: bool,
    max_seconds: u64,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut flags = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let Some(k) = k.strip_prefix("--") else {
                return Err(format!("unexpected argument {k}"));
            };
            if k == "churn" {
                flags.push(k.to_owned());
            } else {
                let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
                map.insert(k.to_owned(), v);
            }
        }
        let num = |k: &str, d: u64| -> Result<u64, String> {
            map.get(k).map_or(Ok(d), |v| {
                v.parse().map_err(|_| format!("--{k}: not a number"))
            })
        };
        let a = Self {
            mode: map.get("mode").cloned().unwrap_or_else(|| "ack".into()),
            port: u16::try_from(num("port", 0)?).map_err(|_| "--port: too large")?,
            server_pid: u32::try_from(num("server-pid", 0)?).map_err(|_| "--server-pid")?,
            conns: usize::try_from(num("conns", 100)?).map_err(|_| "--conns")?,
            payload: usize::try_from(num("payload", 16)?).map_err(|_| "--payload")?,
            inflight: usize::try_from(num("inflight", 1)?).map_err(|_| "--inflight")?,
            warmup: Duration::from_millis(num("warmup-ms", 1000)?),
            duration: Duration::from_millis(num("duration-ms", 3000)?),
            rounds: usize::try_from(num("rounds", 20)?).map_err(|_| "--rounds")?,
            settle: Duration::from_millis(num("settle-ms", 1000)?),
            churn: flags.iter().any(|f| f == "churn"),
            max_seconds: num("max-seconds", 120)?,
        };
        if a.port == 0 || a.server_pid == 0 {
            return Err("--port and --server-pid are required".into());
        }
        if a.conns == 0 || a.conns > 15_000 || a.inflight == 0 || a.inflight > 1000 {
            return Err("--conns must be 1..=15000 and --inflight 1..=1000".into());
        }
        if a.payload > 500_000 || a.rounds > 10_000 || a.max_seconds > 600 {
            return Err("--payload, --rounds or --max-seconds out of range".into());
        }
        Ok(a)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

// ---------------------------------------------------------------------------------------------
// The server process, read from /proc

/// CPU time (user + system) of a process in seconds; `None` is this process.
fn cpu_of(pid: Option<u32>) -> io::Result<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("bad /proc stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ticks = |i: usize| -> io::Result<f64> {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| io::Error::other("bad /proc stat field"))
    };
    Ok((ticks(14)? + ticks(15)?) / clock_ticks())
}

/// Server CPU time (user + system) in seconds.
fn server_cpu(pid: u32) -> io::Result<f64> {
    cpu_of(Some(pid))
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux configuration this runs on.
fn clock_ticks() -> f64 {
    100.0
}

/// Server resident set size in bytes.
fn server_rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

// ---------------------------------------------------------------------------------------------
// WebSocket client, minimal

/// A client frame: FIN + opcode, masked with the all-zero key so the payload goes as is.
fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | op);
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        f.push(0x80 | 126);
        f.extend_from_slice(&l.to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A WebSocket session after the upgrade, with its read buffer.
struct Ws {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

async fn tcp_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // Close with a reset: 10k sessions opened three times would otherwise leave enough
    // TIME_WAIT entries to run out of ephemeral ports.
    socket.set_zero_linger()?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Ws {
    /// Upgrades to a WebSocket Engine.IO session, waits for the open packet, sends CONNECT to
    /// `/` and waits for its reply.
    async fn open(addr: SocketAddr) -> io::Result<Self> {
        let mut stream = tcp_connect(addr).await?;
        stream
            .write_all(
                b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                  Upgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .await?;
        let mut ws = Self {
            stream,
            buf: Vec::with_capacity(1024),
            pos: 0,
        };
        let end = loop {
            if let Some(i) = find(&ws.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if ws.buf.len() > 16 * 1024 {
                return Err(io::Error::other("response head too long"));
            }
            ws.fill().await?;
        };
        if !ws.buf.starts_with(b"HTTP/1.1 101") {
            return Err(io::Error::other(format!(
                "upgrade refused: {}",
                String::from_utf8_lossy(&ws.buf[..end.min(60)])
            )));
        }
        ws.pos = end;
        let r = ws.next_text().await?;
        if ws.buf.get(r.start) != Some(&b'0') {
            return Err(io::Error::other("first packet is not open"));
        }
        ws.send(&frame(OP_TEXT, b"40")).await?;
        loop {
            let r = ws.next_text().await?;
            let p = &ws.buf[r];
            if p.starts_with(b"40") {
                return Ok(ws);
            }
            if p.starts_with(b"44") {
                return Err(io::Error::other("CONNECT refused"));
            }
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// The next frame: opcode and the payload's range in `self.buf`, valid until the next read.
    /// Cancel-safe.
    async fn next(&mut self) -> io::Result<(u8, Range<usize>)> {
        loop {
            let b = &self.buf[self.pos..];
            if b.len() >= 2 {
                let op = b[0] & 0x0f;
                let (len, head) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
                    127 if b.len() >= 10 => {
                        let mut l = [0u8; 8];
                        l.copy_from_slice(&b[2..10]);
                        (
                            usize::try_from(u64::from_be_bytes(l)).unwrap_or(usize::MAX),
                            10,
                        )
                    }
                    126 | 127 => (usize::MAX, 0),
                    l => (usize::from(l), 2),
                };
                if head > 0 {
                    if len > MAX_MESSAGE {
                        return Err(io::Error::other("frame too large"));
                    }
                    if b[1] & 0x80 != 0 {
                        return Err(io::Error::other("masked server frame"));
                    }
                    if b.len() >= head + len {
                        let start = self.pos + head;
                        self.pos = start + len;
                        return Ok((op, start..start + len));
                    }
                }
            }
            self.fill().await?;
        }
    }

    /// The next text frame; answers WebSocket pings, fails on close.
    async fn next_text(&mut self) -> io::Result<Range<usize>> {
        loop {
            let (op, r) = self.next().await?;
            match op {
                OP_TEXT => return Ok(r),
                OP_CLOSE => return Err(io::Error::other("closed by the server")),
                OP_PING => {
                    let pong = frame(0xA, &self.buf[r]);
                    self.send(&pong).await?;
                }
                _ => {}
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Opens `n` WebSocket sessions, at most [`HANDSHAKE_CONCURRENCY`] at a time.
async fn connect_all(addr: SocketAddr, n: usize) -> io::Result<Vec<Ws>> {
    let sem = Rc::new(Semaphore::new(HANDSHAKE_CONCURRENCY));
    let handles: Vec<JoinHandle<io::Result<Ws>>> = (0..n)
        .map(|_| {
            let sem = Rc::clone(&sem);
            tokio::task::spawn_local(async move {
                let _permit = sem.acquire().await.map_err(io::Error::other)?;
                Ws::open(addr).await
            })
        })
        .collect();
    let all = async {
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.push(h.await.map_err(io::Error::other)??);
        }
        Ok::<_, io::Error>(out)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, all)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect phase timed out"))?
}

/// A JSON string of `n` bytes.
fn payload_json(n: usize) -> String {
    let body: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    format!("\"{body}\"")
}

/// The ack id after `43` and its digit count.
fn ack_id(p: &[u8]) -> Option<(usize, usize)> {
    let rest = p.strip_prefix(b"43")?;
    let d = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if d == 0 || d > 9 {
        return None;
    }
    let id = std::str::from_utf8(&rest[..d]).ok()?.parse().ok()?;
    Some((id, d))
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 100 s, 3 significant figures; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("constant, valid histogram bounds")
}

fn percentiles(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50_us": h.value_at_quantile(0.5),
        "p90_us": h.value_at_quantile(0.9),
        "p99_us": h.value_at_quantile(0.99),
        "p999_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
        "mean_us": (h.mean() * 10.0).round() / 10.0,
    })
}

// ---------------------------------------------------------------------------------------------
// (c) emit with ack, closed loop

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Stop,
}

struct AckShared {
    phase: Cell<Phase>,
    sent: Cell<u64>,
    received: Cell<u64>,
    bad: Cell<u64>,
    hist: RefCell<Histogram<u64>>,
}

impl AckShared {
    fn new() -> Rc<Self> {
        Rc::new(Self {
            phase: Cell::new(Phase::Warmup),
            sent: Cell::new(0),
            received: Cell::new(0),
            bad: Cell::new(0),
            hist: RefCell::new(histogram()),
        })
    }

    fn got(&self, sent_at: Instant, ok: bool) {
        self.received.set(self.received.get() + 1);
        if !ok {
            self.bad.set(self.bad.get() + 1);
        }
        if self.phase.get() == Phase::Measure {
            let us = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = self.hist.borrow_mut().record(us.max(1));
        }
    }
}

async fn ack_worker(
    mut ws: Ws,
    st: Rc<AckShared>,
    frames: Rc<Vec<Vec<u8>>>,
    reply_len: usize,
) -> io::Result<()> {
    let k = frames.len();
    let pong = frame(OP_TEXT, b"3");
    let mut sent_at = vec![Instant::now(); k];
    let batch: Vec<u8> = frames.iter().flatten().copied().collect();
    ws.send(&batch).await?;
    st.sent.set(st.sent.get() + k as u64);
    let mut outstanding = k;
    loop {
        let r = ws.next_text().await?;
        let p = &ws.buf[r];
        if let Some((id, d)) = ack_id(p) {
            if id >= k {
                st.bad.set(st.bad.get() + 1);
                continue;
            }
            // `43<id>[<payload>]`: check the length, parse nothing else.
            st.got(sent_at[id], p.len() == reply_len + d);
            outstanding -= 1;
            if st.phase.get() == Phase::Stop {
                if outstanding == 0 {
                    return Ok(());
                }
                continue;
            }
            sent_at[id] = Instant::now();
            ws.send(&frames[id]).await?;
            st.sent.set(st.sent.get() + 1);
            outstanding += 1;
        } else if p == b"2" {
            ws.send(&pong).await?;
        }
    }
}

/// Runs the warm-up and the measured window, then stops the senders and waits for the
/// outstanding acks; returns the common part of the JSON report.
async fn measure_window(
    args: &Args,
    st: &Rc<AckShared>,
    handles: Vec<JoinHandle<io::Result<()>>>,
) -> io::Result<Value> {
    tokio::time::sleep(args.warmup).await;
    let own0 = cpu_of(None)?;
    let (cpu0, n0, t0) = (
        server_cpu(args.server_pid)?,
        st.received.get(),
        Instant::now(),
    );
    st.phase.set(Phase::Measure);
    tokio::time::sleep(args.duration).await;
    let (cpu1, n1, wall) = (
        server_cpu(args.server_pid)?,
        st.received.get(),
        t0.elapsed().as_secs_f64(),
    );
    st.phase.set(Phase::Stop);
    let own = cpu_of(None)? - own0;
    let rss = server_rss(args.server_pid)?;
    let mut errors = Vec::new();
    let drain = async {
        for h in handles {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(e) => errors.push(e.to_string()),
            }
        }
    };
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_ok();
    let acks = n1 - n0;
    let cpu = cpu1 - cpu0;
    let hist = st.hist.borrow();
    errors.truncate(5);
    Ok(json!({
        "acks": acks,
        "wall_s": wall,
        "ack_per_s": acks as f64 / wall,
        "server_cpu_s": cpu,
        "server_cpu_util": cpu / wall,
        "loadgen_cpu_util": own / wall,
        "server_cpu_us_per_ack": if acks > 0 { cpu * 1e6 / acks as f64 } else { 0.0 },
        "acks_per_server_cpu_s": if cpu > 0.0 { acks as f64 / cpu } else { 0.0 },
        "latency": percentiles(&hist),
        "sent": st.sent.get(),
        "received": st.received.get(),
        "lost": st.sent.get().saturating_sub(st.received.get()),
        "bad": st.bad.get(),
        "drained": drained,
        "errors": errors,
        "server_rss_bytes": rss,
    }))
}

async fn ack_mode(args: &Args) -> io::Result<Value> {
    let addr = args.addr();
    let p = payload_json(args.payload);
    let frames: Rc<Vec<Vec<u8>>> = Rc::new(
        (0..args.inflight)
            .map(|id| frame(OP_TEXT, format!("42{id}[\"echo\",{p}]").as_bytes()))
            .collect(),
    );
    // `43` + id digits + `[` + payload + `]`; `ack_worker` adds the digits.
    let reply_len = 2 + 1 + p.len() + 1;
    let t = Instant::now();
    let conns = connect_all(addr, args.conns).await?;
    let connect_s = t.elapsed().as_secs_f64();
    let st = AckShared::new();
    let handles = conns
        .into_iter()
        .map(|ws| {
            tokio::task::spawn_local(ack_worker(
                ws,
                Rc::clone(&st),
                Rc::clone(&frames),
                reply_len,
            ))
        })
        .collect();
    let mut out = measure_window(args, &st, handles).await?;
    out["mode"] = json!("ack");
    out["conns"] = json!(args.conns);
    out["payload"] = json!(args.payload);
    out["inflight"] = json!(args.inflight);
    out["connect_s"] = json!(connect_s);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// (d) broadcast to a room, (e) idle memory and churn

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RoomPhase {
    Idle,
    Join,
    Close,
}

struct RoomShared {
    members: usize,
    joined: Cell<usize>,
    all_joined: Notify,
    round_count: Cell<usize>,
    round_done: Notify,
    delivered: Cell<u64>,
    bad: Cell<u64>,
    trigger_at: Cell<Instant>,
    hist: RefCell<Histogram<u64>>,
}

async fn member(
    mut ws: Ws,
    st: Rc<RoomShared>,
    mut phase: watch::Receiver<RoomPhase>,
    msg_len: usize,
) -> io::Result<()> {
    let pong = frame(OP_TEXT, b"3");
    let join = frame(OP_TEXT, b"420[\"join\",\"bench\"]");
    let mut joined = false;
    loop {
        let want = *phase.borrow_and_update();
        match want {
            RoomPhase::Close => return Ok(()),
            RoomPhase::Join if !joined => {
                joined = true;
                ws.send(&join).await?;
            }
            _ => {}
        }
        let r = tokio::select! {
            r = ws.next_text() => r?,
            c = phase.changed() => {
                if c.is_err() {
                    return Ok(());
                }
                continue;
            }
        };
        let p = &ws.buf[r];
        if p.starts_with(b"42[\"m\",") {
            st.delivered.set(st.delivered.get() + 1);
            if p.len() != msg_len {
                st.bad.set(st.bad.get() + 1);
            }
            let us = u64::try_from(st.trigger_at.get().elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = st.hist.borrow_mut().record(us.max(1));
            let c = st.round_count.get() + 1;
            st.round_count.set(c);
            if c == st.members {
                st.round_done.notify_one();
            }
        } else if p.starts_with(b"430") {
            let j = st.joined.get() + 1;
            st.joined.set(j);
            if j == st.members {
                st.all_joined.notify_one();
            }
        } else if p == b"2" {
            ws.send(&pong).await?;
        }
    }
}

struct Members {
    phase: watch::Sender<RoomPhase>,
    handles: Vec<JoinHandle<io::Result<()>>>,
}

impl Members {
    fn spawn(conns: Vec<Ws>, st: &Rc<RoomShared>, msg_len: usize) -> Self {
        let (phase, rx) = watch::channel(RoomPhase::Idle);
        let handles = conns
            .into_iter()
            .map(|ws| tokio::task::spawn_local(member(ws, Rc::clone(st), rx.clone(), msg_len)))
            .collect();
        Self { phase, handles }
    }

    /// Closes every session and returns the errors the members met.
    async fn close(self) -> Vec<String> {
        self.phase.send_replace(RoomPhase::Close);
        let mut errors = Vec::new();
        for h in self.handles {
            match tokio::time::timeout(DRAIN_TIMEOUT, h).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => errors.push(e.to_string()),
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(_) => errors.push("member did not stop".into()),
            }
        }
        errors
    }
}

fn new_room(members: usize) -> Rc<RoomShared> {
    Rc::new(RoomShared {
        members,
        joined: Cell::new(0),
        all_joined: Notify::new(),
        round_count: Cell::new(0),
        round_done: Notify::new(),
        delivered: Cell::new(0),
        bad: Cell::new(0),
        trigger_at: Cell::new(Instant::now()),
        hist: RefCell::new(histogram()),
    })
}

async fn room_mode(args: &Args) -> io::Result<Value> {
    let addr = args.addr();
    let pid = args.server_pid;
    let n = args.conns;
    let p = payload_json(args.payload);
    let fan = frame(OP_TEXT, format!("42[\"fan\",{p}]").as_bytes());
    let msg_len = format!("42[\"m\",{p}]").len();

    // Idle memory: VmRSS before and after N sessions.
    let rss0 = server_rss(pid)?;
    let (cpu_a, t) = (server_cpu(pid)?, Instant::now());
    let conns = connect_all(addr, n).await?;
    let (connect_s, connect_cpu) = (t.elapsed().as_secs_f64(), server_cpu(pid)? - cpu_a);
    let st = new_room(n);
    let members = Members::spawn(conns, &st, msg_len);
    tokio::time::sleep(args.settle).await;
    let rss1 = server_rss(pid)?;

    // Room join, then the broadcasts, one at a time.
    members.phase.send_replace(RoomPhase::Join);
    tokio::time::timeout(CONNECT_TIMEOUT, st.all_joined.notified())
        .await
        .map_err(|_| io::Error::other("room join timed out"))?;
    let mut trigger = connect_all(addr, 1)
        .await?
        .pop()
        .ok_or_else(|| io::Error::other("no trigger session"))?;
    let warmup_rounds = 2.min(args.rounds);
    let mut completion = histogram();
    let mut lost = 0u64;
    let mut cpu0 = server_cpu(pid)?;
    let mut t0 = Instant::now();
    let mut delivered0 = 0;
    for round in 0..warmup_rounds + args.rounds {
        if round == warmup_rounds {
            cpu0 = server_cpu(pid)?;
            t0 = Instant::now();
            delivered0 = st.delivered.get();
            *st.hist.borrow_mut() = histogram();
        }
        st.round_count.set(0);
        st.trigger_at.set(Instant::now());
        trigger.send(&fan).await?;
        if tokio::time::timeout(ROUND_TIMEOUT, st.round_done.notified())
            .await
            .is_err()
        {
            lost += (n - st.round_count.get()) as u64;
        }
        if round >= warmup_rounds {
            let us = u64::try_from(st.trigger_at.get().elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = completion.record(us.max(1));
        }
    }
    let (cpu, wall) = (server_cpu(pid)? - cpu0, t0.elapsed().as_secs_f64());
    let delivered = st.delivered.get() - delivered0;
    drop(trigger);
    let mut errors = members.close().await;

    let mut out = json!({
        "mode": "room",
        "conns": n,
        "payload": args.payload,
        "rounds": args.rounds,
        "connect_s": connect_s,
        "connect_server_cpu_s": connect_cpu,
        "rss_before_bytes": rss0,
        "rss_connected_bytes": rss1,
        "idle_bytes_per_socket": (rss1 as f64 - rss0 as f64) / n as f64,
        "delivered": delivered,
        "expected": (args.rounds * n) as u64,
        "lost": lost,
        "bad": st.bad.get(),
        "broadcast_wall_s": wall,
        "server_cpu_s": cpu,
        "server_cpu_us_per_delivery": if delivered > 0 { cpu * 1e6 / delivered as f64 } else { 0.0 },
        "completion": percentiles(&completion),
        "delivery_latency": percentiles(&st.hist.borrow()),
    });

    if args.churn {
        tokio::time::sleep(args.settle).await;
        let rss2 = server_rss(pid)?;
        let conns = connect_all(addr, n).await?;
        let again = Members::spawn(conns, &new_room(n), msg_len);
        tokio::time::sleep(args.settle).await;
        let rss3 = server_rss(pid)?;
        errors.extend(again.close().await);
        tokio::time::sleep(args.settle).await;
        let rss4 = server_rss(pid)?;
        out["rss_after_close_1_bytes"] = json!(rss2);
        out["rss_connected_2_bytes"] = json!(rss3);
        out["rss_after_close_2_bytes"] = json!(rss4);
        // The second plateau must come back to within 10 % of the first.
        let ratio = rss3 as f64 / rss1 as f64;
        out["churn_plateau_ratio"] = json!(ratio);
        out["churn_ok"] = json!((0.9..=1.1).contains(&ratio));
    }
    errors.truncate(5);
    out["errors"] = json!(errors);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// (f) polling only

/// One keep-alive HTTP/1.1 connection.
struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            stream: tcp_connect(addr).await?,
            buf: Vec::with_capacity(4096),
        })
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Sends one request and returns the response body (`Content-Length` or chunked).
    async fn request(&mut self, req: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(req).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 16 * 1024 {
                return Err(io::Error::other("response head too long"));
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(io::Error::other(format!(
                "HTTP error: {}",
                head.lines().next().unwrap_or("")
            )));
        }
        let length = head.lines().find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        self.buf.drain(..head_end);
        if let Some(len) = length {
            if len > MAX_MESSAGE {
                return Err(io::Error::other("body too large"));
            }
            while self.buf.len() < len {
                self.fill().await?;
            }
            return Ok(self.buf.drain(..len).collect());
        }
        if !head.contains("transfer-encoding: chunked") {
            return Err(io::Error::other("response without a length"));
        }
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.buf.len() > 64 {
                    return Err(io::Error::other("bad chunk header"));
                }
                self.fill().await?;
            };
            let size_str = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            if size > MAX_MESSAGE || body.len() + size > MAX_MESSAGE {
                return Err(io::Error::other("body too large"));
            }
            while self.buf.len() < line_end + 2 + size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
            self.buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

fn http_get(sid: Option<&str>) -> Vec<u8> {
    let sid = sid.map(|s| format!("&sid={s}")).unwrap_or_default();
    format!("GET /socket.io/?EIO=4&transport=polling{sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .into_bytes()
}

fn http_post(sid: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A polling session: the GET connection, the POST connection and the session id.
struct Polling {
    get: Http,
    post: Http,
    get_req: Vec<u8>,
    sid: String,
}

impl Polling {
    async fn open(addr: SocketAddr) -> io::Result<Self> {
        let mut get = Http::connect(addr).await?;
        let open = get.request(&http_get(None)).await?;
        let open = String::from_utf8_lossy(&open).to_string();
        let sid = open
            .strip_prefix('0')
            .and_then(|o| o.split("\"sid\":\"").nth(1))
            .and_then(|s| s.split('"').next())
            .ok_or_else(|| io::Error::other("no open packet"))?
            .to_owned();
        let mut post = Http::connect(addr).await?;
        let ok = post.request(&http_post(&sid, "40")).await?;
        if ok != b"ok" {
            return Err(io::Error::other("POST not acknowledged"));
        }
        let get_req = http_get(Some(&sid));
        loop {
            let body = get.request(&get_req).await?;
            if body.split(|&b| b == 0x1e).any(|p| p.starts_with(b"40")) {
                break;
            }
        }
        Ok(Self {
            get,
            post,
            get_req,
            sid,
        })
    }
}

async fn poll_worker(mut s: Polling, st: Rc<AckShared>, p: String) -> io::Result<()> {
    let echo = http_post(&s.sid, &format!("420[\"echo\",{p}]"));
    let pong = http_post(&s.sid, "3");
    let reply_len = 2 + 1 + 1 + p.len() + 1;
    let mut need_pong = false;
    while st.phase.get() != Phase::Stop {
        let sent_at = Instant::now();
        st.sent.set(st.sent.get() + 1);
        // The POST carries the event while a GET waits for the ack, as a real client does.
        let post = async {
            let r = s.post.request(&echo).await?;
            if r == b"ok" {
                Ok(())
            } else {
                Err(io::Error::other("POST not acknowledged"))
            }
        };
        let get = async {
            let mut pings = false;
            loop {
                let body = s.get.request(&s.get_req).await?;
                let mut acked = None;
                for pkt in body.split(|&b| b == 0x1e) {
                    if pkt.starts_with(b"43") {
                        acked = Some(pkt.len() == reply_len);
                    } else if pkt == b"2" {
                        pings = true;
                    }
                }
                if let Some(ok) = acked {
                    return Ok::<_, io::Error>((ok, pings));
                }
            }
        };
        let (posted, got) = tokio::join!(post, get);
        posted?;
        let (ok, pings) = got?;
        st.got(sent_at, ok);
        need_pong |= pings;
        if need_pong {
            need_pong = false;
            s.post.request(&pong).await?;
        }
    }
    Ok(())
}

async fn poll_mode(args: &Args) -> io::Result<Value> {
    let addr = args.addr();
    let p = payload_json(args.payload);
    let t = Instant::now();
    let sem = Rc::new(Semaphore::new(HANDSHAKE_CONCURRENCY));
    let opening: Vec<JoinHandle<io::Result<Polling>>> = (0..args.conns)
        .map(|_| {
            let sem = Rc::clone(&sem);
            tokio::task::spawn_local(async move {
                let _permit = sem.acquire().await.map_err(io::Error::other)?;
                Polling::open(addr).await
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(args.conns);
    let all = async {
        for h in opening {
            sessions.push(h.await.map_err(io::Error::other)??);
        }
        Ok::<_, io::Error>(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, all)
        .await
        .map_err(|_| io::Error::other("polling handshakes timed out"))??;
    let connect_s = t.elapsed().as_secs_f64();
    let st = AckShared::new();
    let handles = sessions
        .into_iter()
        .map(|s| tokio::task::spawn_local(poll_worker(s, Rc::clone(&st), p.clone())))
        .collect();
    let mut out = measure_window(args, &st, handles).await?;
    out["mode"] = json!("poll");
    out["conns"] = json!(args.conns);
    out["payload"] = json!(args.payload);
    out["inflight"] = json!(1);
    out["connect_s"] = json!(connect_s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_masked_with_a_zero_key_and_sized_in_the_right_form() {
        let small = frame(OP_TEXT, b"40");
        assert_eq!(small, [0x81, 0x82, 0, 0, 0, 0, b'4', b'0']);
        let mid = frame(OP_TEXT, &[b'a'; 126]);
        assert_eq!(&mid[..4], &[0x81, 0x80 | 126, 0, 126]);
        assert_eq!(mid.len(), 4 + 4 + 126);
        let big = frame(OP_TEXT, &vec![b'a'; 70_000]);
        assert_eq!(&big[..2], &[0x81, 0x80 | 127]);
        assert_eq!(&big[2..10], &70_000u64.to_be_bytes());
        assert_eq!(big.len(), 10 + 4 + 70_000);
    }

    #[test]
    fn ack_ids_are_read_after_43() {
        assert_eq!(ack_id(b"430[\"x\"]"), Some((0, 1)));
        assert_eq!(ack_id(b"4315[true]"), Some((15, 2)));
        assert_eq!(ack_id(b"43[1]"), None);
        assert_eq!(ack_id(b"42[\"m\",1]"), None);
        assert_eq!(ack_id(b"431234567890[1]"), None);
    }

    #[test]
    fn payloads_are_json_strings_of_the_asked_length() {
        let p = payload_json(16);
        assert_eq!(p.len(), 18);
        assert_eq!(
            serde_json::from_str::<String>(&p).map(|s| s.len()).ok(),
            Some(16)
        );
    }

    #[test]
    fn find_locates_the_end_of_the_response_head() {
        assert_eq!(find(b"HTTP/1.1 101 OK\r\n\r\nrest", b"\r\n\r\n"), Some(15));
        assert_eq!(find(b"partial\r\n", b"\r\n\r\n"), None);
    }
}
