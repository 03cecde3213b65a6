//! Engine.IO v4 codec: `engineio-proto` (ours) against `engineioxide-core` (theirs), on the same
//! inputs, side by side in one run.
//!
//! Every case hands both sides an owned input built in the untimed setup of `iter_batched`
//! (ours takes `Bytes`/`Utf8Bytes`, theirs `String`/an `http_body::Body`/a `Stream`, as their
//! public APIs require), and both sides produce owned packets or an owned payload that goes to
//! `black_box`. The setup also checks that both sides produce the same output.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use engineio_proto::payload::{decode_payload, encode_payload};
use engineio_proto::{Message, OpenPacket, Packet};
use engineioxide_core::payload as eio_payload;
use engineioxide_core::{PacketBuf, ProtocolVersion, TransportType};
use futures_util::{FutureExt as _, TryStreamExt as _};
use http_body_util::Full;

type Theirs = engineioxide_core::Packet;
type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Deterministic filler text of `len` ASCII bytes (JSON-ish, like socket.io events).
fn text(len: usize, salt: u8) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789[]{},:\"_ ";
    (0..len)
        .map(|i| char::from(ALPHABET[(i * 7 + usize::from(salt)) % ALPHABET.len()]))
        .collect()
}

/// Deterministic binary data.
fn binary(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 31 + usize::from(salt)) % 251).unwrap_or(0))
        .collect()
}

/// One logical packet, built for both implementations.
#[derive(Clone)]
enum Spec {
    Text(String),
    Binary(Vec<u8>),
    Ping,
    Pong,
    Noop,
    Open,
}

const SID: &str = "lv_VI97HAXpY6yYW";

impl Spec {
    fn ours(&self) -> Packet {
        match self {
            Self::Text(t) => Packet::Message(Message::from(t.as_str())),
            Self::Binary(b) => Packet::Message(Message::from(b.clone())),
            Self::Ping => Packet::ping(),
            Self::Pong => Packet::pong(),
            Self::Noop => Packet::Noop,
            Self::Open => Packet::Open(OpenPacket::new(
                SID,
                vec!["websocket".to_owned()],
                25_000,
                20_000,
                Some(1_000_000),
            )),
        }
    }

    fn theirs(&self) -> Theirs {
        match self {
            Self::Text(t) => Theirs::Message(t.clone().into()),
            Self::Binary(b) => Theirs::Binary(Bytes::from(b.clone())),
            Self::Ping => Theirs::Ping,
            Self::Pong => Theirs::Pong,
            Self::Noop => Theirs::Noop,
            Self::Open => Theirs::Open(engineioxide_core::OpenPacket {
                sid: SID.parse().expect("valid sid"),
                upgrades: [TransportType::Websocket].into_iter().collect(),
                ping_interval: Duration::from_millis(25_000),
                ping_timeout: Duration::from_millis(20_000),
                max_payload: 1_000_000,
            }),
        }
    }
}

fn packet_cases() -> Vec<(&'static str, Spec)> {
    vec![
        ("text_16B", Spec::Text(text(16, 1))),
        ("text_1KB", Spec::Text(text(1024, 2))),
        ("text_64KB", Spec::Text(text(64 * 1024, 3))),
        ("binary_1KB_base64", Spec::Binary(binary(1024, 4))),
        ("ping", Spec::Ping),
        ("open", Spec::Open),
    ]
}

fn payload_cases() -> Vec<(&'static str, Vec<Spec>)> {
    let mixed = (0..10u8)
        .map(|i| match i {
            3 => Spec::Pong,
            7 => Spec::Noop,
            _ => Spec::Text(text(8 + usize::from(i) * 60, i)),
        })
        .collect();
    let small = (0..100u8).map(|i| Spec::Text(text(20, i))).collect();
    let text_binary = (0..10u8)
        .map(|i| {
            if i % 2 == 0 {
                Spec::Text(text(200, i))
            } else {
                Spec::Binary(binary(300, i))
            }
        })
        .collect();
    let big = (0..8u8).map(|i| Spec::Text(text(64 * 1024, i))).collect();
    vec![
        ("1_packet", vec![Spec::Text(text(64, 0))]),
        ("10_mixed_text", mixed),
        ("100_small", small),
        ("text_binary_mix", text_binary),
        ("512KB", big),
    ]
}

fn theirs_encode_payload(bufs: Vec<PacketBuf>) -> Bytes {
    let rx = futures_util::stream::iter(bufs);
    eio_payload::encoder(rx, ProtocolVersion::V4, false, u64::MAX)
        .now_or_never()
        .expect("the encoder completes in one poll")
        .data
}

fn theirs_decode_payload(body: Bytes) -> Vec<Theirs> {
    eio_payload::decoder(Full::new(body), None, ProtocolVersion::V4, u64::MAX)
        .try_collect()
        .now_or_never()
        .expect("the decoder completes in one poll")
        .expect("the payload decodes")
}

fn bench_packets(c: &mut Criterion) {
    for (name, spec) in packet_cases() {
        let ours = spec.ours();
        let theirs = spec.theirs();
        let wire = ours.encode_text();
        assert_eq!(
            wire.as_str(),
            String::from(theirs.clone()),
            "{name}: encodings differ"
        );
        let wire_string = wire.to_string();

        let mut g: Group<'_> = c.benchmark_group(format!("packet_encode/{name}"));
        g.bench_function("ours", |b| {
            b.iter_batched(|| ours.clone(), |p| p.encode_text(), BatchSize::SmallInput);
        });
        g.bench_function("theirs", |b| {
            b.iter_batched(|| theirs.clone(), String::from, BatchSize::SmallInput);
        });
        g.finish();

        let mut g: Group<'_> = c.benchmark_group(format!("packet_decode/{name}"));
        g.bench_function("ours", |b| {
            b.iter_batched(
                || wire.clone(),
                |t| Packet::decode_text(black_box(&t)).expect("decodes"),
                BatchSize::SmallInput,
            );
        });
        // engineioxide-core's `Packet::parse` has no arm for the open packet (`0`): the server
        // crate never decodes one.
        if Theirs::parse(ProtocolVersion::V4, wire_string.clone()).is_ok() {
            let parsed = Theirs::parse(ProtocolVersion::V4, wire_string.clone()).expect("ok");
            assert_eq!(parsed, theirs, "{name}: theirs decodes differently");
            g.bench_function("theirs", |b| {
                b.iter_batched(
                    || wire_string.clone(),
                    |s| Theirs::parse(ProtocolVersion::V4, black_box(s)).expect("decodes"),
                    BatchSize::SmallInput,
                );
            });
        }
        g.finish();
    }
}

fn bench_payloads(c: &mut Criterion) {
    for (name, specs) in payload_cases() {
        let ours: Vec<Packet> = specs.iter().map(Spec::ours).collect();
        let theirs: Vec<PacketBuf> = specs
            .iter()
            .map(|s| std::iter::once(s.theirs()).collect())
            .collect();
        let body = encode_payload(&ours).into_bytes();
        assert_eq!(
            body,
            theirs_encode_payload(theirs.clone()),
            "{name}: payloads differ"
        );
        assert_eq!(decode_payload(body.clone()).expect("decodes"), ours);
        assert_eq!(theirs_decode_payload(body.clone()).len(), ours.len());
        let size = if body.len() > 100_000 {
            BatchSize::LargeInput
        } else {
            BatchSize::SmallInput
        };

        let mut g: Group<'_> = c.benchmark_group(format!("payload_encode/{name}"));
        g.bench_function("ours", |b| {
            b.iter_batched(|| ours.clone(), |v| encode_payload(&v), size);
        });
        g.bench_function("theirs", |b| {
            b.iter_batched(|| theirs.clone(), theirs_encode_payload, size);
        });
        g.finish();

        let mut g: Group<'_> = c.benchmark_group(format!("payload_decode/{name}"));
        g.bench_function("ours", |b| {
            b.iter_batched(
                || body.clone(),
                |body| decode_payload(black_box(body)).expect("decodes"),
                size,
            );
        });
        g.bench_function("theirs", |b| {
            b.iter_batched(
                || body.clone(),
                |body| theirs_decode_payload(black_box(body)),
                size,
            );
        });
        g.finish();
    }
}

criterion_group!(benches, bench_packets, bench_payloads);
criterion_main!(benches);
