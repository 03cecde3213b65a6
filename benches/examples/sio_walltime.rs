//! Wall-clock companion of `sio_profile`: times typed decode through our `Decoder` (into a
//! `PacketBuf`, and into a `Packet`), through `PacketRef` and through serde_json on the body,
//! on the same cases, interleaved.
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 cargo build --release -p socketio-benches --example sio_walltime
//! taskset -c 1 target/release/examples/sio_walltime connect 300
//! ```
//!
//! The calls run in rounds (300 unless the second argument says otherwise): a batch through
//! the `Decoder` into a `PacketBuf`, one into a `Packet`, one through `PacketRef`, one through
//! serde_json, back to back (1,000 calls per batch, fewer for the large cases). A machine's
//! clock speed drifts over seconds, which in separate runs (or in criterion's groups, run one
//! after the other) moves a ratio by tens of percent; within one round the four see the same
//! speed. For each of the four the program prints the median time per call over the rounds,
//! and the median over the rounds of its ratio to serde_json's time in the same round. With
//! `all` instead of a case name it runs every case. Code placement still moves a ratio by up
//! to 10 % from one build to the next (see `docs/benchmarks.md`).

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use serde::de::DeserializeOwned;
use socketio_benches::typed::{
    self, CASES, Kind, Runner, json_typed_case, ours_packet_typed_case, ours_typed_case,
    ref_typed_case,
};
use socketio_proto::{DecodeLimits, Decoder};

/// Times one case: `rounds` rounds of `batch` calls of each reader.
struct Walltime {
    name: String,
    batch: usize,
    rounds: usize,
}

impl Runner for Walltime {
    fn run<T: DeserializeOwned, J: DeserializeOwned>(
        &mut self,
        kind: Kind,
        text: &str,
        attachments: &[Bytes],
    ) {
        let wire: Utf8Bytes = text.to_owned().into();
        let body = &text[text.find(['[', '{']).unwrap_or(0)..];
        let mut decoder = Decoder::new(DecodeLimits::default()).defer_json_check(true);
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..self.rounds {
            // The text's clones are made before the clock starts, as criterion's untimed
            // set-up makes them: a clone is an atomic increment, which a server receiving the
            // message does not pay, and which serde_json's column has no counterpart of.
            let mut wires: Vec<Utf8Bytes> = (0..self.batch).map(|_| wire.clone()).collect();
            let start = Instant::now();
            for w in wires.drain(..) {
                drop(black_box(ours_typed_case::<T>(
                    &mut decoder,
                    kind,
                    black_box(w),
                    attachments,
                )));
            }
            times[0].push(per_call(start, self.batch));
            wires.extend((0..self.batch).map(|_| wire.clone()));
            let start = Instant::now();
            for w in wires.drain(..) {
                drop(black_box(ours_packet_typed_case::<T>(
                    &mut decoder,
                    kind,
                    black_box(w),
                    attachments,
                )));
            }
            times[3].push(per_call(start, self.batch));
            let start = Instant::now();
            for _ in 0..self.batch {
                drop(black_box(ref_typed_case::<T>(
                    kind,
                    black_box(text),
                    attachments,
                )));
            }
            times[1].push(per_call(start, self.batch));
            let start = Instant::now();
            for _ in 0..self.batch {
                drop(black_box(json_typed_case::<J>(black_box(body))));
            }
            times[2].push(per_call(start, self.batch));
        }
        let ratio = |ours: &[f64]| median(ours.iter().zip(&times[2]).map(|(a, b)| a / b).collect());
        println!(
            "{:<28} decoder {:>9.1} ns  packet {:>9.1} ns  ref {:>9.1} ns  serde_json {:>9.1} ns  \
             decoder/json {:.3}  packet/json {:.3}  ref/json {:.3}",
            self.name,
            median(times[0].clone()),
            median(times[3].clone()),
            median(times[1].clone()),
            median(times[2].clone()),
            ratio(&times[0]),
            ratio(&times[3]),
            ratio(&times[1]),
        );
    }
}

/// Nanoseconds per call of a batch of `batch` calls started at `start`.
fn per_call(start: Instant, batch: usize) -> f64 {
    start.elapsed().as_secs_f64() * 1e9 / batch as f64
}

/// The median of `v` (not empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("all", String::as_str);
    let rounds: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(300);
    let names: Vec<&str> = if which == "all" {
        CASES.to_vec()
    } else {
        vec![which]
    };
    for name in names {
        // About 0.1 ms to a few ms per batch.
        let batch = match name {
            "event_256KB" => 1,
            "event_16KB" | "binary_event_1x64KB" | "binary_event_2x64KB" => 30,
            "event_1KB" => 100,
            _ => 1000,
        };
        let mut runner = Walltime {
            name: name.to_owned(),
            batch,
            rounds,
        };
        assert!(typed::case(name, &mut runner), "unknown case {name}");
    }
}
