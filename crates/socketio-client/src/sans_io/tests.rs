//! Scenario tests of a namespace socket on a virtual clock.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::{Duration, Instant};

use socketio_proto::{AckId, Namespace, Packet, Payload};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ev(name: &str) -> Payload {
    Payload::from_json(format!(r#"["{name}"]"#))
}

fn texts(s: &mut NamespaceSocket<u32>) -> Vec<String> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|p| p.encode().engineio_text().to_string())
        .collect()
}

fn events(s: &mut NamespaceSocket<u32>) -> Vec<String> {
    std::iter::from_fn(|| s.poll_event())
        .map(|e| match e {
            NamespaceEvent::Connected { sid } => format!("connected {sid}"),
            NamespaceEvent::ConnectError { message, data } => {
                format!("connect_error {message} {data:?}")
            }
            NamespaceEvent::Disconnected { reason } => format!("disconnect {reason}"),
            NamespaceEvent::Event { data, ack } => format!("event {} {ack:?}", data.json()),
            NamespaceEvent::Ack { waiter, result } => match result {
                Ok(p) => format!("ack {waiter} {}", p.json()),
                Err(e) => format!("ack {waiter} {e:?}"),
            },
        })
        .collect()
}

fn admin() -> Namespace {
    Namespace::new("/admin").unwrap()
}

fn connect_ok(s: &mut NamespaceSocket<u32>, now: Instant) {
    s.handle_packet(
        now,
        Packet::Connect {
            ns: s.ns().clone(),
            auth: Some(Payload::from_json(r#"{"sid":"abc"}"#)),
        },
    );
}

fn ack(id: u64, json: &str) -> Packet {
    Packet::Ack {
        ns: admin(),
        data: Payload::from_json(json.to_owned()),
        id: AckId(id),
    }
}

fn connected(config: NamespaceConfig, now: Instant) -> NamespaceSocket<u32> {
    let mut s = NamespaceSocket::new(admin(), config);
    s.open();
    s.send_connect(None);
    connect_ok(&mut s, now);
    assert_eq!(texts(&mut s), ["40/admin,"]);
    assert_eq!(events(&mut s), ["connected abc"]);
    s
}

#[test]
fn offline_emits_are_flushed_in_order_on_connect_and_volatile_ones_dropped() {
    let t0 = Instant::now();
    let mut s = NamespaceSocket::new(admin(), NamespaceConfig::default());
    let opts = EmitOptions::default();
    assert_eq!(
        s.emit(t0, ev("a"), None, opts, false).unwrap(),
        Emitted::Queued
    );
    assert_eq!(
        s.emit(t0, ev("b"), Some(1), opts, false).unwrap(),
        Emitted::Queued
    );
    assert_eq!(
        s.emit(t0, ev("v"), None, opts.volatile(true), true)
            .unwrap(),
        Emitted::Dropped,
        "volatile while not connected is dropped even if the engine could write"
    );
    assert_eq!(s.buffered(), 2);
    assert!(texts(&mut s).is_empty());
    s.open();
    s.send_connect(Some(Payload::from_json(r#"{"token":"t"}"#)));
    assert_eq!(texts(&mut s), [r#"40/admin,{"token":"t"}"#]);
    assert!(s.is_connecting());
    connect_ok(&mut s, t0);
    assert_eq!(texts(&mut s), [r#"42/admin,["a"]"#, r#"42/admin,0["b"]"#]);
    assert_eq!(events(&mut s), ["connected abc"]);
    assert_eq!(
        s.emit(t0, ev("c"), None, opts, true).unwrap(),
        Emitted::Sent
    );
    assert_eq!(
        s.emit(t0, ev("v"), None, opts.volatile(true), false)
            .unwrap(),
        Emitted::Dropped,
        "volatile with a busy engine is dropped"
    );
    assert_eq!(
        s.emit(t0, ev("v"), None, opts.volatile(true), true)
            .unwrap(),
        Emitted::Sent
    );
    assert_eq!(texts(&mut s), [r#"42/admin,["c"]"#, r#"42/admin,["v"]"#]);
    s.handle_packet(t0, ack(0, r#"["ok"]"#));
    assert_eq!(events(&mut s), [r#"ack 1 ["ok"]"#]);
}

#[test]
fn the_offline_buffer_is_bounded() {
    let t0 = Instant::now();
    let config = NamespaceConfig {
        max_buffered: 2,
        ..Default::default()
    };
    let mut s = NamespaceSocket::new(admin(), config);
    let opts = EmitOptions::default();
    s.emit(t0, ev("a"), None, opts, false).unwrap();
    s.emit(t0, ev("b"), None, opts, false).unwrap();
    let refused = s.emit(t0, ev("c"), Some(9), opts, false).unwrap_err();
    assert_eq!(refused.0, Some(9), "the waiter comes back");
    assert_eq!(s.pending_acks(), 0, "a refused emit leaves no ack entry");
    assert_eq!(s.buffered(), 2);
}

#[test]
fn ack_timeout_fires_without_a_reply_and_frees_the_entry() {
    let t0 = Instant::now();
    let mut s = connected(NamespaceConfig::default(), t0);
    let opts = EmitOptions::default().timeout(Some(ms(100)));
    s.emit(t0, ev("q"), Some(7), opts, true).unwrap();
    s.emit(t0, ev("forever"), Some(8), EmitOptions::default(), true)
        .unwrap();
    assert_eq!(
        texts(&mut s),
        [r#"42/admin,0["q"]"#, r#"42/admin,1["forever"]"#]
    );
    assert_eq!(s.pending_acks(), 2);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(100)));
    s.handle_timeout(t0 + ms(99));
    assert!(events(&mut s).is_empty());
    s.handle_timeout(t0 + ms(100));
    assert_eq!(events(&mut s), ["ack 7 Timeout"]);
    assert_eq!(s.pending_acks(), 1);
    assert_eq!(
        s.poll_timeout(),
        None,
        "no deadline for an ack without timeout"
    );
    // A late reply and a reply to an id never used are ignored.
    s.handle_packet(t0 + ms(150), ack(0, "[]"));
    s.handle_packet(t0 + ms(150), ack(42, "[]"));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.unknown_acks(), 2);
    // The default ack_timeout applies when the emit sets none.
    let config = NamespaceConfig {
        ack_timeout: Some(ms(50)),
        ..Default::default()
    };
    let mut s = connected(config, t0);
    s.emit(t0, ev("q"), Some(1), EmitOptions::default(), true)
        .unwrap();
    s.handle_timeout(t0 + ms(50));
    assert_eq!(events(&mut s), ["ack 1 Timeout"]);
}

#[test]
fn a_buffered_packet_whose_ack_times_out_is_not_sent_later() {
    let t0 = Instant::now();
    let mut s = NamespaceSocket::new(admin(), NamespaceConfig::default());
    let opts = EmitOptions::default().timeout(Some(ms(100)));
    s.emit(t0, ev("late"), Some(1), opts, false).unwrap();
    s.emit(t0, ev("kept"), None, EmitOptions::default(), false)
        .unwrap();
    s.handle_timeout(t0 + ms(100));
    assert_eq!(events(&mut s), ["ack 1 Timeout"]);
    assert_eq!(s.buffered(), 1);
    s.open();
    s.send_connect(None);
    connect_ok(&mut s, t0 + ms(200));
    assert_eq!(texts(&mut s), ["40/admin,", r#"42/admin,["kept"]"#]);
}

#[test]
fn disconnect_fails_acks_in_flight_but_keeps_buffered_ones() {
    let t0 = Instant::now();
    let mut s = connected(NamespaceConfig::default(), t0);
    s.emit(t0, ev("sent"), Some(1), EmitOptions::default(), true)
        .unwrap();
    s.handle_connection_closed(t0, DisconnectReason::TransportClose);
    assert_eq!(
        events(&mut s),
        ["disconnect transport close", "ack 1 Disconnected"]
    );
    assert!(s.is_active(), "a transport close keeps the socket active");
    s.emit(t0, ev("offline"), Some(2), EmitOptions::default(), false)
        .unwrap();
    s.handle_connection_closed(t0, DisconnectReason::TransportError);
    assert!(
        events(&mut s).is_empty(),
        "a buffered packet's ack survives"
    );
    assert_eq!(s.pending_acks(), 1);
    texts(&mut s);
    s.send_connect(None);
    connect_ok(&mut s, t0);
    assert_eq!(texts(&mut s), ["40/admin,", r#"42/admin,1["offline"]"#]);
    s.handle_packet(t0, ack(1, "[1]"));
    assert_eq!(events(&mut s), ["connected abc", "ack 2 [1]"]);
}

#[test]
fn server_and_client_disconnects_deactivate_the_socket() {
    let t0 = Instant::now();
    let mut s = connected(NamespaceConfig::default(), t0);
    s.handle_packet(t0, Packet::Disconnect { ns: admin() });
    assert_eq!(events(&mut s), ["disconnect io server disconnect"]);
    assert!(!s.is_active());
    s.send_connect(None);
    assert!(
        texts(&mut s).is_empty(),
        "an inactive socket does not reconnect"
    );

    let mut s = connected(NamespaceConfig::default(), t0);
    s.disconnect();
    assert_eq!(texts(&mut s), ["41/admin,"]);
    assert_eq!(events(&mut s), ["disconnect io client disconnect"]);
    assert!(!s.is_active());
    s.handle_connection_closed(t0, DisconnectReason::TransportClose);
    assert!(
        events(&mut s).is_empty(),
        "a disconnected socket reports nothing twice"
    );
}

#[test]
fn connect_error_carries_message_and_data() {
    let t0 = Instant::now();
    let mut s: NamespaceSocket<u32> = NamespaceSocket::new(admin(), NamespaceConfig::default());
    s.open();
    s.send_connect(None);
    s.handle_packet(
        t0,
        Packet::ConnectError {
            ns: admin(),
            data: Payload::from_json(r#"{"message":"not authorized","data":{"code":42}}"#),
        },
    );
    assert_eq!(
        events(&mut s),
        [r#"connect_error not authorized Some("{\"code\":42}")"#]
    );
    assert!(!s.is_active());
    // A v4-style bare string, and a CONNECT without sid.
    s.open();
    s.handle_packet(
        t0,
        Packet::ConnectError {
            ns: admin(),
            data: Payload::from_json(r#""Invalid namespace""#),
        },
    );
    assert_eq!(events(&mut s), ["connect_error Invalid namespace None"]);
    s.open();
    s.handle_packet(
        t0,
        Packet::Connect {
            ns: admin(),
            auth: None,
        },
    );
    assert!(events(&mut s)[0].starts_with("connect_error the server answered"));
}

#[test]
fn events_before_the_connect_reply_are_held_and_bounded() {
    let t0 = Instant::now();
    let config = NamespaceConfig {
        max_receive_buffered: 2,
        ..Default::default()
    };
    let mut s: NamespaceSocket<u32> = NamespaceSocket::new(admin(), config);
    s.open();
    s.send_connect(None);
    for name in ["m1", "m2", "m3"] {
        s.handle_packet(
            t0,
            Packet::Event {
                ns: admin(),
                data: ev(name),
                ack: None,
            },
        );
    }
    assert!(events(&mut s).is_empty());
    assert_eq!(s.dropped_events(), 1);
    connect_ok(&mut s, t0);
    assert_eq!(
        events(&mut s),
        [
            r#"event ["m1"] None"#,
            r#"event ["m2"] None"#,
            "connected abc"
        ]
    );
}

#[test]
fn retries_send_one_packet_at_a_time_and_resend_under_a_new_id() {
    let t0 = Instant::now();
    let config = NamespaceConfig {
        retries: Some(2),
        ack_timeout: Some(ms(100)),
        ..Default::default()
    };
    let mut s = connected(config, t0);
    let opts = EmitOptions::default();
    assert_eq!(
        s.emit(t0, ev("a"), Some(1), opts, true).unwrap(),
        Emitted::Sent
    );
    assert_eq!(
        s.emit(t0, ev("b"), None, opts, true).unwrap(),
        Emitted::Queued
    );
    assert_eq!(texts(&mut s), [r#"42/admin,0["a"]"#], "b waits for a's ack");
    // First ack lost: after the timeout, the same event goes again with a new id.
    s.handle_timeout(t0 + ms(100));
    assert_eq!(texts(&mut s), [r#"42/admin,1["a"]"#]);
    assert!(events(&mut s).is_empty());
    // The late ack of the first try is ignored; the second one settles "a" once.
    s.handle_packet(t0 + ms(150), ack(0, r#"["late"]"#));
    assert!(texts(&mut s).is_empty());
    s.handle_packet(t0 + ms(150), ack(1, r#"["ok"]"#));
    assert_eq!(events(&mut s), [r#"ack 1 ["ok"]"#]);
    assert_eq!(texts(&mut s), [r#"42/admin,2["b"]"#]);
    // "b" never gets an ack: 3 tries (retries + 1), then it is given up.
    s.handle_timeout(t0 + ms(250));
    s.handle_timeout(t0 + ms(350));
    assert_eq!(texts(&mut s), [r#"42/admin,3["b"]"#, r#"42/admin,4["b"]"#]);
    s.handle_timeout(t0 + ms(450));
    assert!(texts(&mut s).is_empty());
    assert_eq!(s.queued(), 0);
    assert_eq!(s.pending_acks(), 0);
    // A volatile emit bypasses the queue.
    s.emit(t0, ev("a2"), Some(2), opts, true).unwrap();
    s.emit(t0, ev("v"), None, opts.volatile(true), true)
        .unwrap();
    assert_eq!(texts(&mut s), [r#"42/admin,5["a2"]"#, r#"42/admin,["v"]"#]);
    // Exhausting the tries reports the timeout to the waiter.
    s.handle_timeout(t0 + ms(1000));
    s.handle_timeout(t0 + ms(2000));
    s.handle_timeout(t0 + ms(3000));
    assert_eq!(events(&mut s), ["ack 2 Timeout"]);
}

#[test]
fn retries_wait_for_a_connection_and_resend_after_reconnect() {
    let t0 = Instant::now();
    let config = NamespaceConfig {
        retries: Some(5),
        ack_timeout: Some(ms(100)),
        ..Default::default()
    };
    let mut s = NamespaceSocket::new(admin(), config);
    let opts = EmitOptions::default();
    assert_eq!(
        s.emit(t0, ev("a"), Some(1), opts, false).unwrap(),
        Emitted::Queued
    );
    s.open();
    s.send_connect(None);
    connect_ok(&mut s, t0);
    assert_eq!(texts(&mut s), ["40/admin,", r#"42/admin,0["a"]"#]);
    // The connection drops with "a" in flight: it is sent again on the next connect.
    s.handle_connection_closed(t0, DisconnectReason::TransportClose);
    assert_eq!(
        events(&mut s),
        ["connected abc", "disconnect transport close"]
    );
    assert_eq!(s.queued(), 1);
    s.send_connect(None);
    connect_ok(&mut s, t0 + ms(10));
    assert_eq!(texts(&mut s), ["40/admin,", r#"42/admin,1["a"]"#]);
    s.handle_packet(t0 + ms(20), ack(1, "[true]"));
    assert_eq!(events(&mut s), ["connected abc", "ack 1 [true]"]);
    assert_eq!(s.queued(), 0);
}
