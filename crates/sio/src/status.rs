//! The status page of `sio serve`: `/` is a static HTML page whose script fetches
//! `/status.json` once a second; the JSON is built here from the server's introspection API
//! (`SocketIo::namespaces`, `Nsp::stats`, the engine's session count). Message rates come from
//! a sampler that records the packet counters every second and compares the newest counters
//! with those of up to five seconds ago.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use socketio_server::{NsStats, SocketIo};

/// The status page: plain HTML and a script, no client library.
pub(crate) const PAGE: &str = include_str!("status.html");

/// Most rooms and sockets listed per namespace; the totals are always given.
const LIST_CAP: usize = 100;
/// Samples kept for the rates: one a second, so rates span up to five seconds.
const SAMPLES: usize = 6;

/// What the status JSON is built from.
#[derive(Clone, Debug)]
pub(crate) struct Status {
    io: SocketIo,
    started: Instant,
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

#[derive(Debug)]
struct Sample {
    at: Instant,
    counts: HashMap<String, NsStats>,
}

/// `/status.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    server: &'static str,
    uptime_secs: u64,
    /// Open Engine.IO sessions (connections).
    sessions: usize,
    namespaces: Vec<NsReport>,
}

#[derive(Debug, Serialize)]
struct NsReport {
    name: String,
    /// Connected sockets of this namespace.
    sockets: usize,
    /// Rooms other than the sockets' own, with their member counts, largest first (capped).
    rooms: Vec<RoomReport>,
    rooms_total: usize,
    packets_received: u64,
    packets_sent: u64,
    received_per_sec: f64,
    sent_per_sec: f64,
    /// The sockets (capped), sorted by id.
    socket_list: Vec<SocketReport>,
}

#[derive(Debug, Serialize)]
struct RoomReport {
    name: String,
    sockets: usize,
}

#[derive(Debug, Serialize)]
struct SocketReport {
    id: String,
    /// The transport of the handshake request (a polling client may have upgraded since).
    transport: &'static str,
    remote_addr: Option<String>,
    rooms: Vec<String>,
}

impl Status {
    pub(crate) fn new(io: SocketIo) -> Self {
        Self {
            io,
            started: Instant::now(),
            samples: Arc::new(Mutex::new(VecDeque::with_capacity(SAMPLES))),
        }
    }

    fn counts(&self) -> HashMap<String, NsStats> {
        self.io
            .namespaces()
            .iter()
            .map(|ns| (ns.name().to_owned(), ns.stats()))
            .collect()
    }

    /// Records the counters once a second, forever (the task ends with the runtime).
    pub(crate) async fn sample(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let sample = Sample {
                at: Instant::now(),
                counts: self.counts(),
            };
            let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
            if samples.len() == SAMPLES {
                samples.pop_front();
            }
            samples.push_back(sample);
        }
    }

    /// The report as of now.
    pub(crate) fn report(&self) -> Report {
        let now = Instant::now();
        let baseline = {
            let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
            samples
                .front()
                .map(|s| (now.duration_since(s.at), s.counts.clone()))
        };
        let namespaces = self
            .io
            .namespaces()
            .iter()
            .map(|ns| {
                let stats = ns.stats();
                let (received_per_sec, sent_per_sec) = match &baseline {
                    Some((elapsed, counts)) if *elapsed >= Duration::from_millis(500) => {
                        let old = counts.get(ns.name()).copied().unwrap_or_default();
                        let secs = elapsed.as_secs_f64();
                        (
                            rate(stats.packets_received, old.packets_received, secs),
                            rate(stats.packets_sent, old.packets_sent, secs),
                        )
                    }
                    _ => (0.0, 0.0),
                };
                let mut sockets = ns.sockets();
                sockets.sort_by(|a, b| a.id().cmp(b.id()));
                let mut members: HashMap<String, usize> = HashMap::new();
                let mut socket_list = Vec::new();
                for s in &sockets {
                    let mut rooms: Vec<String> =
                        s.rooms().into_iter().filter(|r| r != s.id()).collect();
                    rooms.sort();
                    for r in &rooms {
                        *members.entry(r.clone()).or_default() += 1;
                    }
                    if socket_list.len() < LIST_CAP {
                        let hs = s.handshake();
                        socket_list.push(SocketReport {
                            id: s.id().to_owned(),
                            transport: hs.transport.as_str(),
                            remote_addr: hs.remote_addr.map(|a| a.to_string()),
                            rooms,
                        });
                    }
                }
                let rooms_total = members.len();
                let mut rooms: Vec<RoomReport> = members
                    .into_iter()
                    .map(|(name, sockets)| RoomReport { name, sockets })
                    .collect();
                rooms.sort_by(|a, b| b.sockets.cmp(&a.sockets).then(a.name.cmp(&b.name)));
                rooms.truncate(LIST_CAP);
                NsReport {
                    name: ns.name().to_owned(),
                    sockets: sockets.len(),
                    rooms,
                    rooms_total,
                    packets_received: stats.packets_received,
                    packets_sent: stats.packets_sent,
                    received_per_sec,
                    sent_per_sec,
                    socket_list,
                }
            })
            .collect();
        Report {
            server: concat!("sio ", env!("CARGO_PKG_VERSION")),
            uptime_secs: self.started.elapsed().as_secs(),
            sessions: self.io.engine().session_count(),
            namespaces,
        }
    }
}

/// Packets per second between two counter readings, to one decimal.
fn rate(now: u64, then: u64, secs: f64) -> f64 {
    // A rate for display: counts beyond 2^52 lose only precision.
    let delta = now.saturating_sub(then) as f64;
    (delta / secs * 10.0).round() / 10.0
}
