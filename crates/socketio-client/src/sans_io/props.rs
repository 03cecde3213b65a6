//! Property tests of a namespace socket: arbitrary sequences of emits, server packets (acks
//! for any id included), disconnects and clock advances never panic, and every waiter is
//! resolved exactly once when the socket finally drains.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use socketio_proto::{AckId, Namespace, Packet, Payload};

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Emit {
        volatile: bool,
        waiter: bool,
        timeout_ms: u64,
        writable: bool,
    },
    Ack {
        id: u64,
    },
    Event,
    Open,
    ConnectOk,
    ConnectError,
    ServerDisconnect,
    ConnectionClosed,
    ClientDisconnect,
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), 1u64..500, any::<bool>()).prop_map(
            |(volatile, waiter, timeout_ms, writable)| Op::Emit { volatile, waiter, timeout_ms, writable }
        ),
        3 => (0u64..40).prop_map(|id| Op::Ack { id }),
        1 => Just(Op::Event),
        2 => Just(Op::Open),
        2 => Just(Op::ConnectOk),
        1 => Just(Op::ConnectError),
        1 => Just(Op::ServerDisconnect),
        1 => Just(Op::ConnectionClosed),
        1 => Just(Op::ClientDisconnect),
        3 => (0u64..700).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn ns() -> Namespace {
    Namespace::new("/p").unwrap()
}

/// Drains the events, counting each waiter's resolutions.
fn drain(s: &mut NamespaceSocket<u32>, resolved: &mut HashMap<u32, u32>) {
    while s.poll_transmit().is_some() {}
    while let Some(e) = s.poll_event() {
        if let NamespaceEvent::Ack { waiter, .. } = e {
            *resolved.entry(waiter).or_default() += 1;
        }
    }
}

fn run(config: NamespaceConfig, ops: &[Op]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = NamespaceSocket::new(ns(), config);
    let mut issued = Vec::new();
    let mut refused = Vec::new();
    let mut resolved = HashMap::new();
    let mut next = 0u32;
    for op in ops {
        match op {
            Op::Emit {
                volatile,
                waiter,
                timeout_ms,
                writable,
            } => {
                let w = waiter.then(|| {
                    next += 1;
                    next
                });
                let opts = EmitOptions::default()
                    .volatile(*volatile)
                    .timeout(Some(Duration::from_millis(*timeout_ms)));
                let data = Payload::from_json(r#"["e"]"#);
                match s.emit(now, data, w, opts, *writable) {
                    Ok(_) => issued.extend(w),
                    Err(BufferFull(back)) => {
                        assert_eq!(back, w, "a refused emit hands its waiter back");
                        refused.extend(back);
                    }
                }
            }
            Op::Ack { id } => s.handle_packet(
                now,
                Packet::Ack {
                    ns: ns(),
                    data: Payload::from_json("[]"),
                    id: AckId(*id),
                },
            ),
            Op::Event => s.handle_packet(
                now,
                Packet::Event {
                    ns: ns(),
                    data: Payload::from_json(r#"["x"]"#),
                    ack: None,
                },
            ),
            Op::Open => {
                s.open();
                s.send_connect(None);
            }
            Op::ConnectOk => s.handle_packet(
                now,
                Packet::Connect {
                    ns: ns(),
                    auth: Some(Payload::from_json(r#"{"sid":"a"}"#)),
                },
            ),
            Op::ConnectError => s.handle_packet(
                now,
                Packet::ConnectError {
                    ns: ns(),
                    data: Payload::from_json(r#"{"message":"no"}"#),
                },
            ),
            Op::ServerDisconnect => s.handle_packet(now, Packet::Disconnect { ns: ns() }),
            Op::ConnectionClosed => {
                s.handle_connection_closed(now, DisconnectReason::TransportClose);
            }
            Op::ClientDisconnect => s.disconnect(),
            Op::Advance { ms } => {
                now += Duration::from_millis(*ms);
                s.handle_timeout(now);
            }
        }
        drain(&mut s, &mut resolved);
        assert!(
            resolved.values().all(|&n| n == 1),
            "a waiter resolved twice"
        );
        assert!(
            s.buffered() <= 16 && s.queued() <= 16,
            "the buffers stay bounded"
        );
    }
    // Drain: connect, then let every deadline (and every retry) pass.
    s.open();
    s.send_connect(None);
    s.handle_packet(
        now,
        Packet::Connect {
            ns: ns(),
            auth: Some(Payload::from_json(r#"{"sid":"a"}"#)),
        },
    );
    drain(&mut s, &mut resolved);
    for _ in 0..100 {
        if s.pending_acks() == 0 && s.queued() == 0 {
            break;
        }
        now += Duration::from_secs(1);
        s.handle_timeout(now);
        drain(&mut s, &mut resolved);
    }
    assert_eq!(s.pending_acks(), 0);
    assert_eq!(s.queued(), 0);
    for w in &issued {
        assert_eq!(
            resolved.get(w),
            Some(&1),
            "waiter {w} resolved exactly once"
        );
    }
    for w in &refused {
        assert_eq!(resolved.get(w), None, "a refused waiter is never resolved");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_waiter_resolves_exactly_once(ops in proptest::collection::vec(op(), 0..80)) {
        run(NamespaceConfig { max_buffered: 16, ..Default::default() }, &ops);
    }

    #[test]
    fn every_waiter_resolves_exactly_once_with_retries(
        ops in proptest::collection::vec(op(), 0..80),
        retries in 0u32..3,
    ) {
        run(
            NamespaceConfig {
                retries: Some(retries),
                ack_timeout: Some(Duration::from_millis(100)),
                max_buffered: 16,
                ..Default::default()
            },
            &ops,
        );
    }
}
