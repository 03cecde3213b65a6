//! Socket.IO v5 codec: `socketio-proto` (ours) against `socketioxide-parser-common` (driven
//! through `socketioxide-core`'s `Parse` trait, as socketioxide uses it) and a plain
//! `serde_json` round trip of the same JSON text (the ceiling), side by side in one run.
//!
//! Three operations per case, each with the same inputs on every side:
//!
//! - `sio_encode`: typed data in, wire text (and attachments) out. Ours `Encoded::event` /
//!   `Encoded::ack` / `Encoded::connect_ok` (what the server sends); theirs `encode_value` (or
//!   `encode_default` for CONNECT), `Packet::event`/`ack`/`connect`, then `Parse::encode`;
//!   serde_json `to_string` of the JSON body (no header, placeholders written as plain structs).
//! - `sio_decode_header`: wire text (and attachments) in, a packet whose arguments are still
//!   JSON text out. Ours `Decoder::decode_text` (+ `decode_binary`) with the JSON check
//!   deferred (header, event name and first-byte shape; binary packets checked in full);
//!   `ours_checked` the default decoder, which checks the whole JSON as the reference parser
//!   does (the server's path); theirs `Parse::decode_str` (+ `decode_bin`), which does not look
//!   at the JSON. The serde_json column is `from_str::<IgnoredAny>` on the body: the cost of the
//!   full check alone.
//! - `sio_decode_typed`: wire text in, the user's typed value out. Ours read with the JSON
//!   check deferred (`Decoder::read_text` + `read_binary`, into a `PacketBuf` read where the
//!   decoder returns it, as the server reads) + `PacketBuf::event_args` / `ack_args` /
//!   `deserialize`, which check the JSON while they deserialise it; `ours_ref` the same
//!   through `PacketRef::parse` and its readers, without building a `Packet` (the attachments
//!   handed over as a slice); theirs decode + `Parse::decode_value` / `decode_default`;
//!   serde_json `from_str` of the body into the same types (the event name skipped with
//!   `IgnoredAny`, placeholders as plain structs).
//!
//! Inputs are built in the untimed setup of `iter_batched` (refcounted clones of the wire
//! text, fresh decoder state for socketioxide and for `ours_checked`; `ours` keeps one
//! deferring decoder across iterations, as a server keeps one per connection). Outputs are
//! returned to criterion, which drops them outside the measurement, except the packet behind
//! a typed read through our `Decoder`, dropped in the measurement (with the text's reference
//! count) because taking it out of the decoder's `Result` to return it costs more than the
//! drop. The setup checks that ours and theirs write the same text and the same attachments,
//! that serde_json writes the same body, and that all three decode to the value that was
//! encoded.

// socketioxide's benchmark data (`{"foo":"bar","arr":[1,2,3]}`), the CONNECT handshake object
// and a placeholder as serde_json reads it: the same types as the profiling examples.
use socketio_benches::typed::{Data, Handshake, Ph as Placeholder};
use socketio_benches::{Batch, batch};
use std::hint::black_box;
use std::marker::PhantomData;

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use engineio_proto::Utf8Bytes;
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use socketio_proto::{
    AckId, Binary, DecodeLimits, Decoder, Encoded, Namespace, Packet, PacketBuf, PacketRef, Payload,
};
use socketioxide_core::packet::{ConnectPacket, Packet as TheirPacket, PacketData};
use socketioxide_core::parser::{Parse as _, ParseConfig, ParseError, ParserState};
use socketioxide_core::{Sid, Str, Value};
use socketioxide_parser_common::CommonParser;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

const EVENT: &str = "event";
const SID: &str = "lv_VI97HAXpY6yYW";
/// socketioxide's benchmarks use ack id 0.
const ACK_ID: u64 = 0;

fn data() -> Data {
    Data {
        foo: "bar".to_owned(),
        arr: [1, 2, 3],
    }
}

const fn ph(num: usize) -> Placeholder {
    Placeholder {
        _placeholder: true,
        num,
    }
}

/// Deterministic binary data.
fn binary(len: usize, salt: u8) -> Bytes {
    (0..len)
        .map(|i| u8::try_from((i * 31 + usize::from(salt)) % 251).unwrap_or(0))
        .collect()
}

/// socketioxide's benchmark attachment: the bytes 0 to 9.
fn small_binary() -> Bytes {
    Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
}

#[derive(Clone, Copy)]
enum Kind {
    Connect,
    Event(Option<u64>),
    Ack(u64),
}

/// One logical packet, with its arguments in each side's types.
///
/// `O` and `T` are ours and theirs argument types (they differ only in the binary type: our
/// `Binary`, their `Bytes`); `J` is the body as serde_json writes it and `JD` the type
/// serde_json reads the body into.
struct Case<O, T, J, JD> {
    name: String,
    ns: &'static str,
    kind: Kind,
    ours: O,
    theirs: T,
    json: J,
    json_de: PhantomData<fn() -> JD>,
}

fn case<O, T, J, JD>(
    name: impl Into<String>,
    ns: &'static str,
    kind: Kind,
    ours: O,
    theirs: T,
    json: J,
) -> Case<O, T, J, JD> {
    Case {
        name: name.into(),
        ns,
        kind,
        ours,
        theirs,
        json,
        json_de: PhantomData,
    }
}

fn their_ns(ns: &'static str) -> Str {
    Str::from(ns)
}

fn our_ns(ns: &str) -> Namespace {
    if ns == "/" {
        Namespace::main()
    } else {
        Namespace::new(ns.to_owned()).expect("valid namespace")
    }
}

impl<O, T, J, JD> Case<O, T, J, JD>
where
    O: Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned,
    J: Serialize,
    JD: DeserializeOwned,
{
    fn ours_encode(&self, ns: &Namespace) -> Encoded {
        match self.kind {
            Kind::Connect => Encoded::connect_ok(ns, SID),
            Kind::Event(ack) => {
                Encoded::event(ns, EVENT, &self.ours, ack.map(AckId)).expect("encodes")
            }
            Kind::Ack(id) => Encoded::ack(ns, AckId(id), &self.ours).expect("encodes"),
        }
    }

    fn theirs_encode(&self, ns: &Str) -> Value {
        let p = CommonParser;
        let packet = match self.kind {
            Kind::Connect => {
                let sid: Sid = SID.parse().expect("valid sid");
                let v = p.encode_default(&ConnectPacket { sid }).expect("encodes");
                TheirPacket::connect(ns.clone(), Some(v))
            }
            Kind::Event(ack) => {
                let v = p.encode_value(&self.theirs, Some(EVENT)).expect("encodes");
                let mut packet = TheirPacket::event(ns.clone(), v);
                if let Some(id) = ack {
                    packet
                        .inner
                        .set_ack_id(i64::try_from(id).expect("small id"));
                }
                packet
            }
            Kind::Ack(id) => {
                let v = p.encode_value(&self.theirs, None).expect("encodes");
                TheirPacket::ack(ns.clone(), v, i64::try_from(id).expect("small id"))
            }
        };
        p.encode(packet)
    }

    fn json_encode(&self) -> String {
        serde_json::to_string(&self.json).expect("encodes")
    }
}

/// Our decoder for a consumer that deserialises what it receives: the JSON is checked while it
/// is deserialised (binary packets are still checked in full on receipt).
fn deferred(limits: DecodeLimits) -> Decoder {
    Decoder::new(limits).defer_json_check(true)
}

/// Ours: the whole packet, text then attachments, through the connection's decoder (kept
/// across iterations for `ours`, as a server keeps it; made in the set-up and handed back with
/// the output for `ours_checked`, as socketioxide's `ParserState` is: neither decoder's
/// construction nor its drop is timed).
fn ours_decode(d: &mut Decoder, text: Utf8Bytes, atts: Vec<Bytes>) -> Packet {
    let mut p = d.decode_text(text).expect("decodes");
    for a in atts {
        p = d.decode_binary(a).expect("decodes");
    }
    p.expect("complete packet")
}

/// Theirs: the same through `Parse::decode_str` / `decode_bin` and one parser state.
fn theirs_decode(state: &ParserState, text: Str, atts: Vec<Bytes>) -> TheirPacket {
    let config = ParseConfig::default();
    let mut res = CommonParser.decode_str(&config, state, text);
    for a in atts {
        assert!(matches!(res, Err(ParseError::NeedsMoreBinaryData)));
        res = CommonParser.decode_bin(&config, state, a);
    }
    res.expect("decodes")
}

/// Ours as the server reads: [`ours_decode`] through `read_text` / `read_binary`, which keep
/// the packet as received (a `PacketBuf`) instead of building a `Packet`.
fn ours_read(d: &mut Decoder, text: Utf8Bytes, atts: Vec<Bytes>) -> PacketBuf {
    read_result(d, text, atts)
        .expect("decodes")
        .expect("complete packet")
}

/// [`ours_read`] with the packet left in the decoder's `Result`, for a caller that reads it
/// there, as a server does. Taking it out copies its 120 bytes, and the copy, loaded back
/// wider than the decoder stored it, waits for those stores to land.
#[inline(always)]
fn read_result(
    d: &mut Decoder,
    text: Utf8Bytes,
    atts: Vec<Bytes>,
) -> Result<Option<PacketBuf>, socketio_proto::DecodeError> {
    let mut r = d.read_text(text);
    for a in atts {
        r = d.read_binary(a);
    }
    r
}

fn ours_typed<O: DeserializeOwned>(kind: Kind, p: &PacketBuf) -> O {
    match kind {
        Kind::Connect => p.deserialize(),
        Kind::Event(_) => p.event_args(),
        Kind::Ack(_) => p.ack_args(),
    }
    .expect("typed decode")
}

/// Ours read in place: [`PacketRef::parse`] and its typed readers, the attachments (the
/// binary messages that followed the text) handed over as a slice.
fn ours_ref_typed<'a, O: serde::Deserialize<'a>>(
    kind: Kind,
    text: &'a str,
    atts: &'a [Bytes],
    limits: &DecodeLimits,
) -> O {
    let p = PacketRef::parse(text, limits).expect("decodes");
    match kind {
        Kind::Connect => p.deserialize(atts),
        Kind::Event(_) => p.event_args(atts),
        Kind::Ack(_) => p.ack_args(atts),
    }
    .expect("typed decode")
}

fn theirs_typed<T: DeserializeOwned>(p: &mut TheirPacket) -> T {
    match &mut p.inner {
        PacketData::Connect(v) => CommonParser.decode_default(v.as_ref()),
        PacketData::Event(v, _) | PacketData::BinaryEvent(v, _) => {
            CommonParser.decode_value(v, true)
        }
        PacketData::EventAck(v, _) | PacketData::BinaryAck(v, _) => {
            CommonParser.decode_value(v, false)
        }
        other => panic!("no payload: {other:?}"),
    }
    .expect("typed decode")
}

fn as_json<V: Serialize>(v: &V) -> serde_json::Value {
    serde_json::to_value(v).expect("serialises")
}

fn bench_case<O, T, J, JD>(c: &mut Criterion, case: &Case<O, T, J, JD>)
where
    O: Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned,
    J: Serialize,
    JD: DeserializeOwned,
{
    let name = &case.name;
    let ns = our_ns(case.ns);
    let tns = their_ns(case.ns);

    // Same text and attachments on both sides, and serde_json writes the same body.
    let ours = case.ours_encode(&ns);
    let Value::Str(their_text, their_bins) = case.theirs_encode(&tns) else {
        panic!("{name}: the common parser writes text")
    };
    assert_eq!(
        ours.text().as_str(),
        their_text.as_str(),
        "{name}: texts differ"
    );
    let their_bins: Vec<Bytes> = their_bins.unwrap_or_default().into_iter().collect();
    assert_eq!(
        ours.attachments(),
        &their_bins[..],
        "{name}: attachments differ"
    );
    let text = ours.text();
    let atts = ours.attachments().to_vec();
    let body = case.json_encode();
    assert!(text.ends_with(body.as_str()), "{name}: bodies differ");
    let body = text
        .tail(text.len() - body.len())
        .expect("body on a char boundary");

    // All three decode the packet, and to the value that was encoded.
    let limits = DecodeLimits::default();
    let packet = ours_decode(&mut Decoder::new(limits), text.clone(), atts.clone());
    assert_eq!(
        ours_decode(&mut deferred(limits), text.clone(), atts.clone()),
        packet,
        "{name}: deferred check decodes differently"
    );
    let mut theirs = theirs_decode(
        &ParserState::default(),
        Str::from(text.to_string()),
        atts.clone(),
    );
    assert_eq!(
        packet.payload().map(Payload::json),
        match &theirs.inner {
            PacketData::Connect(v) => v.as_ref().and_then(Value::as_str).map(Str::as_str),
            PacketData::Event(v, _)
            | PacketData::BinaryEvent(v, _)
            | PacketData::EventAck(v, _)
            | PacketData::BinaryAck(v, _) => v.as_str().map(Str::as_str),
            _ => None,
        },
        "{name}: decoded payloads differ"
    );
    let expected = match case.kind {
        Kind::Connect => as_json(&Handshake { sid: SID.into() }),
        _ => as_json(&case.ours),
    };
    let read = ours_read(&mut deferred(limits), text.clone(), atts.clone());
    assert_eq!(read.clone().into_packet(), packet, "{name}: read differs");
    assert_eq!(as_json(&ours_typed::<O>(case.kind, &read)), expected);
    let r = PacketRef::parse(&text, &limits).expect("PacketRef reads the text");
    assert_eq!(
        Some(r.json()),
        packet.payload().map(Payload::json),
        "{name}: PacketRef reads another payload"
    );
    assert_eq!(
        as_json(&ours_ref_typed::<O>(case.kind, &text, &atts, &limits)),
        expected
    );
    assert_eq!(as_json(&theirs_typed::<T>(&mut theirs)), expected);
    let _: JD = serde_json::from_str(&body).expect("serde_json decodes the body");
    let their_input = Str::from(text.to_string());

    let size = if text.len() >= 16 * 1024 || atts.iter().any(|a| a.len() >= 16 * 1024) {
        BatchSize::LargeInput
    } else {
        BatchSize::SmallInput
    };

    let mut g: Group<'_> = c.benchmark_group(format!("sio_encode/{name}"));
    g.bench_function("ours", |b| {
        b.iter_batched(|| (), |()| case.ours_encode(black_box(&ns)), size);
    });
    g.bench_function("socketioxide", |b| {
        b.iter_batched(|| (), |()| case.theirs_encode(black_box(&tns)), size);
    });
    g.bench_function("serde_json", |b| {
        b.iter_batched(|| (), |()| case.json_encode(), size);
    });
    g.finish();

    let mut g: Group<'_> = c.benchmark_group(format!("sio_decode_header/{name}"));
    g.bench_function("ours", |b| {
        let mut d = deferred(limits);
        b.iter_batched(
            || (text.clone(), atts.clone()),
            |(t, a)| ours_decode(&mut d, black_box(t), a),
            size,
        );
    });
    g.bench_function("ours_checked", |b| {
        b.iter_batched(
            || (Decoder::new(limits), text.clone(), atts.clone()),
            |(mut d, t, a)| {
                let p = ours_decode(&mut d, black_box(t), a);
                (d, p)
            },
            size,
        );
    });
    g.bench_function("socketioxide", |b| {
        b.iter_batched(
            || (ParserState::default(), their_input.clone(), atts.clone()),
            |(s, t, a)| {
                let p = theirs_decode(&s, black_box(t), a);
                (s, p)
            },
            size,
        );
    });
    g.bench_function("serde_json", |b| {
        b.iter_batched(
            || (),
            |()| serde_json::from_str::<IgnoredAny>(black_box(&body)).expect("valid JSON"),
            size,
        );
    });
    g.finish();

    let mut g: Group<'_> = c.benchmark_group(format!("sio_decode_typed/{name}"));
    let kind = case.kind;
    g.bench_function("ours", |b| {
        let mut d = deferred(limits);
        b.iter_batched(
            || (text.clone(), atts.clone()),
            |(t, a)| {
                let r = read_result(&mut d, black_box(t), a);
                let Ok(Some(p)) = &r else {
                    panic!("does not decode: {r:?}")
                };
                ours_typed::<O>(kind, p)
            },
            size,
        );
    });
    g.bench_function("ours_ref", |b| {
        b.iter_batched(
            || (),
            |()| ours_ref_typed::<O>(kind, black_box(text.as_str()), &atts, &limits),
            size,
        );
    });
    g.bench_function("socketioxide", |b| {
        b.iter_batched(
            || (ParserState::default(), their_input.clone(), atts.clone()),
            |(s, t, a)| {
                let mut p = theirs_decode(&s, black_box(t), a);
                let v = theirs_typed::<T>(&mut p);
                (s, p, v)
            },
            size,
        );
    });
    g.bench_function("serde_json", |b| {
        b.iter_batched(
            || (),
            |()| serde_json::from_str::<JD>(black_box(&body)).expect("decodes"),
            size,
        );
    });
    g.finish();
}

/// socketioxide-parser-common's own benchmark packets (its `packet_encode`/`packet_decode`
/// benches): connect, event, event with ack, ack, binary event and binary ack, each on `/` and
/// on `/custom_nsp`.
fn bench_reference_cases(c: &mut Criterion) {
    for (suffix, ns) in [("", "/"), ("_custom_nsp", "/custom_nsp")] {
        let connect = case::<Handshake, Handshake, _, Handshake>(
            format!("connect{suffix}"),
            ns,
            Kind::Connect,
            Handshake { sid: SID.into() },
            Handshake { sid: SID.into() },
            Handshake { sid: SID.into() },
        );
        bench_case(c, &connect);
        for (name, ack) in [("event", None), ("event_with_ack", Some(ACK_ID))] {
            let event = case::<Data, Data, _, (IgnoredAny, Data)>(
                format!("{name}{suffix}"),
                ns,
                Kind::Event(ack),
                data(),
                data(),
                (EVENT, data()),
            );
            bench_case(c, &event);
        }
        let ack = case::<Data, Data, _, (Data,)>(
            format!("ack{suffix}"),
            ns,
            Kind::Ack(ACK_ID),
            data(),
            data(),
            (data(),),
        );
        bench_case(c, &ack);
        let binary_event = case::<(Data, Binary), (Data, Bytes), _, (IgnoredAny, Data, Placeholder)>(
            format!("binary_event{suffix}"),
            ns,
            Kind::Event(None),
            (data(), Binary(small_binary())),
            (data(), small_binary()),
            (EVENT, data(), ph(0)),
        );
        bench_case(c, &binary_event);
        let binary_ack = case::<(Data, Binary), (Data, Bytes), _, (Data, Placeholder)>(
            format!("binary_ack{suffix}"),
            ns,
            Kind::Ack(ACK_ID),
            (data(), Binary(small_binary())),
            (data(), small_binary()),
            (data(), ph(0)),
        );
        bench_case(c, &binary_ack);
    }
}

/// Events carrying one struct whose JSON is about 1 KiB, 16 KiB and 256 KiB.
fn bench_large_events(c: &mut Criterion) {
    for (name, len) in [("1KB", 1024), ("16KB", 16 * 1024), ("256KB", 256 * 1024)] {
        let b = batch(len);
        let event = case::<Batch, Batch, _, (IgnoredAny, Batch)>(
            format!("event_{name}"),
            "/",
            Kind::Event(None),
            b.clone(),
            b.clone(),
            (EVENT, b),
        );
        bench_case(c, &event);
    }
}

/// Binary events with one and two attachments of 1 KiB and 64 KiB.
fn bench_binary_events(c: &mut Criterion) {
    for (name, len) in [("1KB", 1024), ("64KB", 64 * 1024)] {
        let a = binary(len, 1);
        let one = case::<(Data, Binary), (Data, Bytes), _, (IgnoredAny, Data, Placeholder)>(
            format!("binary_event_1x{name}"),
            "/",
            Kind::Event(None),
            (data(), Binary(a.clone())),
            (data(), a.clone()),
            (EVENT, data(), ph(0)),
        );
        bench_case(c, &one);
        let b = binary(len, 2);
        let two = case::<
            (Data, Binary, Binary),
            (Data, Bytes, Bytes),
            _,
            (IgnoredAny, Data, Placeholder, Placeholder),
        >(
            format!("binary_event_2x{name}"),
            "/",
            Kind::Event(None),
            (data(), Binary(a.clone()), Binary(b.clone())),
            (data(), a.clone(), b.clone()),
            (EVENT, data(), ph(0), ph(1)),
        );
        bench_case(c, &two);
    }
}

criterion_group!(
    benches,
    bench_reference_cases,
    bench_large_events,
    bench_binary_events
);
criterion_main!(benches);
