//! Profiling harness for `socketio-proto`: runs one operation N times, each call in its own
//! non-inlined function, so that callgrind reports its instructions per call. The inputs are
//! the cases of the `socketio_codec` bench.
//!
//! ```sh
//! cargo build --release -p socketio-benches --example sio_profile
//! valgrind --tool=callgrind target/release/examples/sio_profile t:event 20000
//! ```
//!
//! Typed decode of every `sio_decode_typed` case of the criterion bench: `t:CASE` (through the
//! connection's `Decoder` into a `PacketBuf`, the JSON check deferred, attachments fed one by
//! one), `p:CASE` (the same through `decode_*` into a `Packet`), `r:CASE` (through
//! `PacketRef`, attachments in hand) and `j:CASE` (serde_json on the JSON body, placeholders
//! as a plain struct), for CASE one of `connect`, `event`, `event_with_ack`, `ack`,
//! `binary_event`, `binary_ack`, each also with the suffix `_custom_nsp`, and `event_1KB`,
//! `event_16KB`, `event_256KB`, `binary_event_1x1KB`, `binary_event_2x1KB`,
//! `binary_event_1x64KB`, `binary_event_2x64KB`. The earlier names `typed_event`,
//! `ref_typed_event`, `json_typed_event`, `typed_ack`, `ref_typed_ack`, `json_typed_ack`,
//! `typed_bin`, `ref_typed_bin`, `json_typed_bin`, `typed_large` and `json_typed_large` run
//! the same cases. Also: `kept_typed_event`, `kept_typed_ack` (through one `Decoder` kept
//! across calls, as a server keeps one per connection), `dec_bin` / `dec_bin_full` (the binary
//! event decoded, JSON check deferred or in full, no typed read).
//!
//! Encode: `enc_event`, `enc_ack`, `enc_bin`, `enc_connect`, `enc_connect_once`
//! (`Encoded::connect_ok`), `enc_large` (the 16 KiB event), `json_enc_event`, `json_enc_bin`,
//! `json_enc_large`, `enc_str1k`, `json_enc_str1k` (an event whose one argument is a 1 KiB
//! ASCII string); `enc_bin_ack`, `enc_connect_nsp`, `enc_ack_nsp` (`/custom_nsp`), and
//! socketioxide-parser-common's encoder on the same packets: `theirs_enc_connect`,
//! `theirs_enc_connect_nsp`, `theirs_enc_event`, `theirs_enc_ack`, `theirs_enc_ack_nsp`,
//! `theirs_enc_bin`, `theirs_enc_bin_ack`, `theirs_enc_large`, `theirs_enc_str1k`. An
//! operation name ending in `_d` (`enc_event_d`, `theirs_enc_ack_d`, ...) drops the result
//! inside the measured function, as criterion's timing loop does; the others leave the drop to
//! the caller.
#![expect(
    clippy::unwrap_used,
    reason = "a profiling harness on fixed, valid inputs"
)]
use socketio_benches::typed::{
    self, Data, Kind, Ph, Runner, json_typed_case, ours_packet_typed_case, ours_typed_case,
    ref_typed_case,
};
use socketio_benches::{Batch, batch};
use std::hint::black_box;

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use serde::de::DeserializeOwned;
use socketio_proto::{AckId, Binary, DecodeLimits, Decoder, Encoded, Namespace, Packet};
use socketioxide_core::packet::{ConnectPacket, Packet as TheirPacket};
use socketioxide_core::parser::Parse as _;
use socketioxide_core::{Sid, Str, Value};
use socketioxide_parser_common::CommonParser;

#[inline(never)]
fn ours_encode_large(ns: &Namespace, b: &Batch) -> Encoded {
    Encoded::event(ns, "event", b, None).unwrap()
}

#[inline(never)]
fn json_encode_large(b: &Batch) -> String {
    serde_json::to_string(&("event", b)).unwrap()
}

#[inline(never)]
fn ours_encode_str1k(ns: &Namespace, s: &str) -> Encoded {
    Encoded::event(ns, "event", &(s,), None).unwrap()
}

#[inline(never)]
fn json_encode_str1k(s: &str) -> String {
    serde_json::to_string(&("event", s)).unwrap()
}

/// `t:event` with the connection's decoder kept from one packet to the next, as a server
/// keeps it.
#[inline(never)]
fn kept_typed_event(d: &mut Decoder, text: Utf8Bytes) -> Data {
    let p = d.decode_text(text).unwrap().unwrap();
    p.payload().unwrap().event_args().unwrap()
}

/// `t:ack` with the decoder kept.
#[inline(never)]
fn kept_typed_ack(d: &mut Decoder, text: Utf8Bytes) -> Data {
    let p = d.decode_text(text).unwrap().unwrap();
    p.payload().unwrap().ack_args().unwrap()
}

/// The binary event decoded into a `Packet` with the JSON check deferred (`deferred`) or in
/// full, and dropped: what the decoder costs before any typed read.
#[inline(never)]
fn ours_decode_bin(text: Utf8Bytes, a: Bytes, deferred: bool) {
    let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(deferred);
    d.decode_text(text).unwrap();
    drop(d.decode_binary(a).unwrap().unwrap());
}

#[inline(never)]
fn ours_encode_event(ns: &Namespace, d: &Data) -> Encoded {
    Encoded::event(ns, "event", d, None).unwrap()
}

#[inline(never)]
fn ours_encode_ack(ns: &Namespace, d: &Data) -> Encoded {
    Encoded::ack(ns, AckId(0), d).unwrap()
}

#[inline(never)]
fn ours_encode_bin(ns: &Namespace, d: &(Data, Binary)) -> Encoded {
    Encoded::event(ns, "event", d, None).unwrap()
}

#[inline(never)]
fn ours_encode_connect(ns: &Namespace) -> Encoded {
    Packet::connect_ok(ns.clone(), "lv_VI97HAXpY6yYW").encode()
}

#[inline(never)]
fn ours_encode_connect_once(ns: &Namespace) -> Encoded {
    Encoded::connect_ok(ns, "lv_VI97HAXpY6yYW")
}

#[inline(never)]
fn json_encode_event(d: &Data) -> String {
    serde_json::to_string(&("event", d)).unwrap()
}

#[inline(never)]
fn json_encode_bin(d: &Data) -> String {
    serde_json::to_string(&(
        "event",
        d,
        Ph {
            _placeholder: true,
            num: 0,
        },
    ))
    .unwrap()
}

#[inline(never)]
fn ours_encode_bin_ack(ns: &Namespace, d: &(Data, Binary)) -> Encoded {
    Encoded::ack(ns, AckId(0), d).unwrap()
}

#[inline(never)]
fn theirs_encode_connect(ns: &Str) -> Value {
    let p = CommonParser;
    let sid: Sid = "lv_VI97HAXpY6yYW".parse().unwrap();
    let v = p.encode_default(&ConnectPacket { sid }).unwrap();
    p.encode(TheirPacket::connect(ns.clone(), Some(v)))
}

#[inline(never)]
fn theirs_encode_event(ns: &Str, d: &Data) -> Value {
    let p = CommonParser;
    let v = p.encode_value(d, Some("event")).unwrap();
    p.encode(TheirPacket::event(ns.clone(), v))
}

#[inline(never)]
fn theirs_encode_large(ns: &Str, b: &Batch) -> Value {
    let p = CommonParser;
    let v = p.encode_value(b, Some("event")).unwrap();
    p.encode(TheirPacket::event(ns.clone(), v))
}

#[inline(never)]
fn theirs_encode_str1k(ns: &Str, s: &str) -> Value {
    let p = CommonParser;
    let v = p.encode_value(&(s,), Some("event")).unwrap();
    p.encode(TheirPacket::event(ns.clone(), v))
}

#[inline(never)]
fn theirs_encode_ack(ns: &Str, d: &Data) -> Value {
    let p = CommonParser;
    let v = p.encode_value(d, None).unwrap();
    p.encode(TheirPacket::ack(ns.clone(), v, 0))
}

#[inline(never)]
fn theirs_encode_bin(ns: &Str, d: &(Data, Bytes)) -> Value {
    let p = CommonParser;
    let v = p.encode_value(d, Some("event")).unwrap();
    p.encode(TheirPacket::event(ns.clone(), v))
}

#[inline(never)]
fn theirs_encode_bin_ack(ns: &Str, d: &(Data, Bytes)) -> Value {
    let p = CommonParser;
    let v = p.encode_value(d, None).unwrap();
    p.encode(TheirPacket::ack(ns.clone(), v, 0))
}

/// As `ours_encode_event`, with the result dropped inside (what criterion times).
#[inline(never)]
fn ours_encode_event_d(ns: &Namespace, d: &Data) {
    drop(black_box(ours_encode_event(ns, d)));
}

/// As `json_encode_event`, with the result dropped inside (what criterion times).
#[inline(never)]
fn json_encode_event_d(d: &Data) {
    drop(black_box(json_encode_event(d)));
}

/// As `theirs_encode_event`, with the result dropped inside (what criterion times).
#[inline(never)]
fn theirs_encode_event_d(ns: &Str, d: &Data) {
    drop(black_box(theirs_encode_event(ns, d)));
}

/// As `ours_encode_ack`, with the result dropped inside (what criterion times).
#[inline(never)]
fn ours_encode_ack_d(ns: &Namespace, d: &Data) {
    drop(black_box(ours_encode_ack(ns, d)));
}

/// As `theirs_encode_ack`, with the result dropped inside (what criterion times).
#[inline(never)]
fn theirs_encode_ack_d(ns: &Str, d: &Data) {
    drop(black_box(theirs_encode_ack(ns, d)));
}

/// As `ours_encode_bin`, with the result dropped inside (what criterion times).
#[inline(never)]
fn ours_encode_bin_d(ns: &Namespace, d: &(Data, Binary)) {
    drop(black_box(ours_encode_bin(ns, d)));
}

/// As `json_encode_bin`, with the result dropped inside (what criterion times).
#[inline(never)]
fn json_encode_bin_d(d: &Data) {
    drop(black_box(json_encode_bin(d)));
}

/// As `theirs_encode_bin`, with the result dropped inside (what criterion times).
#[inline(never)]
fn theirs_encode_bin_d(ns: &Str, d: &(Data, Bytes)) {
    drop(black_box(theirs_encode_bin(ns, d)));
}

/// As `ours_encode_bin_ack`, with the result dropped inside (what criterion times).
#[inline(never)]
fn ours_encode_bin_ack_d(ns: &Namespace, d: &(Data, Binary)) {
    drop(black_box(ours_encode_bin_ack(ns, d)));
}

/// As `theirs_encode_bin_ack`, with the result dropped inside (what criterion times).
#[inline(never)]
fn theirs_encode_bin_ack_d(ns: &Str, d: &(Data, Bytes)) {
    drop(black_box(theirs_encode_bin_ack(ns, d)));
}

/// As `ours_encode_connect_once`, with the result dropped inside (what criterion times).
#[inline(never)]
fn ours_encode_connect_once_d(ns: &Namespace) {
    drop(black_box(ours_encode_connect_once(ns)));
}

/// As `theirs_encode_connect`, with the result dropped inside (what criterion times).
#[inline(never)]
fn theirs_encode_connect_d(ns: &Str) {
    drop(black_box(theirs_encode_connect(ns)));
}

/// Runs `which` (`t`, `p`, `r` or `j`) of one typed-decode case `n` times.
fn typed_case<T: DeserializeOwned, J: DeserializeOwned>(
    which: &str,
    k: Kind,
    text: &str,
    atts: &[Bytes],
    n: usize,
) {
    let wire: Utf8Bytes = text.to_owned().into();
    // The body: past the header (type, attachment count, namespace, ack id).
    let body = &text[text.find(['[', '{']).unwrap()..];
    let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(true);
    for _ in 0..n {
        match which {
            "t" => drop(black_box(ours_typed_case::<T>(
                &mut d,
                k,
                black_box(wire.clone()),
                atts,
            ))),
            "p" => drop(black_box(ours_packet_typed_case::<T>(
                &mut d,
                k,
                black_box(wire.clone()),
                atts,
            ))),
            "r" => drop(black_box(ref_typed_case::<T>(k, black_box(text), atts))),
            "j" => drop(black_box(json_typed_case::<J>(black_box(body)))),
            _ => panic!("op"),
        }
    }
}

/// Runs `which` (`t`, `p`, `r` or `j`) of a typed-decode case `n` times.
struct Profile<'a> {
    which: &'a str,
    n: usize,
}

impl Runner for Profile<'_> {
    fn run<T: DeserializeOwned, J: DeserializeOwned>(
        &mut self,
        kind: Kind,
        text: &str,
        attachments: &[Bytes],
    ) {
        typed_case::<T, J>(self.which, kind, text, attachments, self.n);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args[1].as_str();
    let n: usize = args[2].parse().unwrap();
    // The earlier names of some typed-decode cases.
    let op = match op {
        "typed_event" => "t:event",
        "ref_typed_event" => "r:event",
        "json_typed_event" => "j:event",
        "typed_ack" => "t:ack",
        "ref_typed_ack" => "r:ack",
        "json_typed_ack" => "j:ack",
        "typed_bin" => "t:binary_event",
        "ref_typed_bin" => "r:binary_event",
        "json_typed_bin" => "j:binary_event",
        "typed_large" => "t:event_16KB",
        "json_typed_large" => "j:event_16KB",
        other => other,
    };
    if let Some((which, case)) = op.split_once(':') {
        assert!(typed::case(case, &mut Profile { which, n }), "case");
        return;
    }
    let data = Data {
        foo: "bar".into(),
        arr: [1, 2, 3],
    };
    let ns = Namespace::main();
    let text: Utf8Bytes = r#"2["event",{"foo":"bar","arr":[1,2,3]}]"#.into();
    let btext: Utf8Bytes =
        r#"51-["event",{"foo":"bar","arr":[1,2,3]},{"_placeholder":true,"num":0}]"#.into();
    let att = Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let bd = (data.clone(), Binary(att.clone()));
    let large = batch(16 * 1024);
    // 1 KiB of ASCII letters: nothing to escape.
    let str1k: String = (0..1024_u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let atext: Utf8Bytes = r#"30[{"foo":"bar","arr":[1,2,3]}]"#.into();
    let cns = Namespace::new("/custom_nsp").unwrap();
    let tns = Str::from("/");
    let tcns = Str::from("/custom_nsp");
    let tbd = (data.clone(), att.clone());
    let mut kept = Decoder::new(DecodeLimits::default()).defer_json_check(true);
    for _ in 0..n {
        match op {
            "kept_typed_event" => drop(black_box(kept_typed_event(
                &mut kept,
                black_box(text.clone()),
            ))),
            "kept_typed_ack" => drop(black_box(kept_typed_ack(
                &mut kept,
                black_box(atext.clone()),
            ))),
            "dec_bin" => ours_decode_bin(black_box(btext.clone()), att.clone(), true),
            "dec_bin_full" => ours_decode_bin(black_box(btext.clone()), att.clone(), false),
            "enc_event" => drop(black_box(ours_encode_event(&ns, black_box(&data)))),
            "enc_ack" => drop(black_box(ours_encode_ack(&ns, black_box(&data)))),
            "enc_bin" => drop(black_box(ours_encode_bin(&ns, black_box(&bd)))),
            "enc_connect" => drop(black_box(ours_encode_connect(black_box(&ns)))),
            "enc_connect_once" => drop(black_box(ours_encode_connect_once(black_box(&ns)))),
            "json_enc_event" => drop(black_box(json_encode_event(black_box(&data)))),
            "json_enc_bin" => drop(black_box(json_encode_bin(black_box(&data)))),
            "enc_large" => drop(black_box(ours_encode_large(&ns, black_box(&large)))),
            "json_enc_large" => drop(black_box(json_encode_large(black_box(&large)))),
            "enc_str1k" => drop(black_box(ours_encode_str1k(&ns, black_box(&str1k)))),
            "json_enc_str1k" => drop(black_box(json_encode_str1k(black_box(&str1k)))),
            "enc_bin_ack" => drop(black_box(ours_encode_bin_ack(&ns, black_box(&bd)))),
            "enc_connect_nsp" => drop(black_box(ours_encode_connect_once(black_box(&cns)))),
            "enc_ack_nsp" => drop(black_box(ours_encode_ack(&cns, black_box(&data)))),
            "theirs_enc_connect" => drop(black_box(theirs_encode_connect(black_box(&tns)))),
            "theirs_enc_connect_nsp" => drop(black_box(theirs_encode_connect(black_box(&tcns)))),
            "theirs_enc_event" => drop(black_box(theirs_encode_event(&tns, black_box(&data)))),
            "theirs_enc_large" => drop(black_box(theirs_encode_large(&tns, black_box(&large)))),
            "theirs_enc_str1k" => drop(black_box(theirs_encode_str1k(&tns, black_box(&str1k)))),
            "theirs_enc_ack" => drop(black_box(theirs_encode_ack(&tns, black_box(&data)))),
            "theirs_enc_ack_nsp" => drop(black_box(theirs_encode_ack(&tcns, black_box(&data)))),
            "theirs_enc_bin" => drop(black_box(theirs_encode_bin(&tns, black_box(&tbd)))),
            "theirs_enc_bin_ack" => drop(black_box(theirs_encode_bin_ack(&tns, black_box(&tbd)))),
            "enc_event_d" => ours_encode_event_d(&ns, black_box(&data)),
            "json_enc_event_d" => json_encode_event_d(black_box(&data)),
            "theirs_enc_event_d" => theirs_encode_event_d(&tns, black_box(&data)),
            "enc_ack_d" => ours_encode_ack_d(&ns, black_box(&data)),
            "theirs_enc_ack_d" => theirs_encode_ack_d(&tns, black_box(&data)),
            "enc_bin_d" => ours_encode_bin_d(&ns, black_box(&bd)),
            "json_enc_bin_d" => json_encode_bin_d(black_box(&data)),
            "theirs_enc_bin_d" => theirs_encode_bin_d(&tns, black_box(&tbd)),
            "enc_bin_ack_d" => ours_encode_bin_ack_d(&ns, black_box(&bd)),
            "theirs_enc_bin_ack_d" => theirs_encode_bin_ack_d(&tns, black_box(&tbd)),
            "enc_connect_once_d" => ours_encode_connect_once_d(black_box(&ns)),
            "theirs_enc_connect_d" => theirs_encode_connect_d(black_box(&tns)),
            _ => panic!("op"),
        }
    }
}
