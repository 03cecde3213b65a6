//! Client against server scenarios on the pair harness.

use std::time::Duration;

use bytes::Bytes;

use super::pair::{Direction, Pair};
use crate::{
    ClientConfig, ClientEvent, CloseReason, ConfigError, Event, Message, Method, ProtocolError,
    ServerConfig, Transport, Transports,
};

fn polling_client() -> ClientConfig {
    ClientConfig {
        transports: Transports::POLLING,
        ..Default::default()
    }
}

fn ws_client() -> ClientConfig {
    ClientConfig {
        transports: Transports::WEBSOCKET,
        ..Default::default()
    }
}

fn opened(events: &[ClientEvent]) -> bool {
    events.iter().any(|e| matches!(e, ClientEvent::Open(_)))
}

fn client_messages(events: &[ClientEvent]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn server_messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_over_polling() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    let events = p.client_events();
    let Some(ClientEvent::Open(open)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(open.upgrades, vec!["websocket".to_owned()]);
    assert_eq!(
        (open.ping_interval, open.ping_timeout, open.max_payload),
        (25000, 20000, Some(1_000_000))
    );
    let sid = p.session().sid();
    assert_eq!(p.client.sid(), Some(sid.as_str()));
    // The handshake response carries only the open packet.
    assert!(p.poll_bodies[0].starts_with(b"0{\"sid\":"));
    assert!(!p.poll_bodies[0].contains(&0x1e));
    assert_eq!(p.client.transport(), Transport::Polling);
}

#[test]
fn handshake_over_websocket() {
    let mut p = Pair::new(ServerConfig::default(), ws_client());
    p.drive();
    let events = p.client_events();
    let Some(ClientEvent::Open(open)) = events.first() else {
        panic!("{events:?}")
    };
    assert!(open.upgrades.is_empty());
    assert_eq!(p.client.transport(), Transport::WebSocket);
    assert_eq!(p.session().transport(), Transport::WebSocket);
}

#[test]
fn messages_both_ways_over_polling() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    p.client.send(Message::from("hello")).unwrap();
    p.client
        .send(Message::Binary(Bytes::from_static(&[1, 2, 3])))
        .unwrap();
    p.drive();
    let got = server_messages(&p.server_events());
    assert_eq!(
        got,
        vec![
            Message::from("hello"),
            Message::Binary(Bytes::from_static(&[1, 2, 3]))
        ]
    );
    p.session().send(Message::from("world")).unwrap();
    p.session()
        .send(Message::Binary(Bytes::from_static(&[4])))
        .unwrap();
    p.drive();
    let got = client_messages(&p.client_events());
    assert_eq!(
        got,
        vec![
            Message::from("world"),
            Message::Binary(Bytes::from_static(&[4]))
        ]
    );
}

#[test]
fn binary_over_polling_is_base64() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    p.session()
        .send(Message::Binary(Bytes::from_static(&[1, 2, 3, 4])))
        .unwrap();
    p.drive();
    assert!(
        p.poll_bodies.iter().any(|b| &b[..] == b"bAQIDBA=="),
        "{:?}",
        p.poll_bodies
    );
    p.client
        .send(Message::Binary(Bytes::from_static(&[1, 2, 3, 4])))
        .unwrap();
    p.drive();
    assert!(
        p.post_bodies.iter().any(|b| &b[..] == b"bAQIDBA=="),
        "{:?}",
        p.post_bodies
    );
}

#[test]
fn messages_both_ways_over_websocket() {
    let mut p = Pair::new(ServerConfig::default(), ws_client());
    p.drive();
    p.client.send(Message::from("a")).unwrap();
    p.client
        .send(Message::Binary(Bytes::from_static(&[9])))
        .unwrap();
    p.session().send(Message::from("b")).unwrap();
    p.drive();
    assert_eq!(
        server_messages(&p.server_events()),
        vec![
            Message::from("a"),
            Message::Binary(Bytes::from_static(&[9]))
        ]
    );
    assert_eq!(
        client_messages(&p.client_events()),
        vec![Message::from("b")]
    );
}

#[test]
fn messages_flow_over_the_upgraded_websocket() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.drive();
    assert!(opened(&p.client_events()));
    assert_eq!(p.client.transport(), Transport::WebSocket);
    assert_eq!(p.session().transport(), Transport::WebSocket);
    assert!(p.server_events().contains(&Event::Upgraded));
    p.session().send(Message::from("after")).unwrap();
    p.client.send(Message::from("up")).unwrap();
    p.drive();
    assert_eq!(
        client_messages(&p.client_events()),
        vec![Message::from("after")]
    );
    assert_eq!(
        server_messages(&p.server_events()),
        vec![Message::from("up")]
    );
}

#[test]
fn upgrade_flushes_packets_buffered_during_the_probe_in_order() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    // Step until the client has opened but the upgrade has not completed.
    while !p.client.is_open() {
        p.advance(Duration::from_millis(1));
    }
    for i in 0..5 {
        p.session().send(Message::from(format!("s{i}"))).unwrap();
        p.client.send(Message::from(format!("c{i}"))).unwrap();
    }
    p.drive();
    assert_eq!(p.client.transport(), Transport::WebSocket);
    let want: Vec<Message> = (0..5).map(|i| Message::from(format!("s{i}"))).collect();
    assert_eq!(client_messages(&p.client_events()), want);
    let want: Vec<Message> = (0..5).map(|i| Message::from(format!("c{i}"))).collect();
    assert_eq!(server_messages(&p.server_events()), want);
}

#[test]
fn upgrade_falls_back_to_polling_when_websocket_is_blocked() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.block_websocket();
    p.drive();
    assert_eq!(p.client.transport(), Transport::Polling);
    p.client.send(Message::from("still")).unwrap();
    p.drive();
    assert_eq!(
        server_messages(&p.server_events()),
        vec![Message::from("still")]
    );
}

#[test]
fn upgrade_timeout_drops_the_probe_and_keeps_polling() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.advance(Duration::from_millis(2)); // handshake done, probe WebSocket requested
    p.black_hole = Some(Direction::ToClient);
    p.advance(Duration::from_millis(5)); // `3probe` is lost
    p.black_hole = None;
    assert!(p.session().is_upgrading());
    p.advance(Duration::from_secs(10));
    assert!(!p.session().is_upgrading());
    assert_eq!(p.session().transport(), Transport::Polling);
    assert!(!p.session().is_closed());
}

#[test]
fn heartbeat_keeps_both_sides_alive() {
    for client in [polling_client(), ws_client(), ClientConfig::default()] {
        let mut p = Pair::new(ServerConfig::default(), client);
        p.advance(Duration::from_secs(200));
        assert!(!p.session().is_closed());
        assert!(p.client.is_open());
        let closed = p
            .client_events()
            .into_iter()
            .any(|e| matches!(e, ClientEvent::Closed(_)));
        assert!(!closed);
    }
}

#[test]
fn heartbeat_timeout_closes_the_server_side() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    p.black_hole = Some(Direction::ToServer);
    p.advance(Duration::from_millis(44_990));
    assert!(!p.session().is_closed());
    p.advance(Duration::from_millis(20));
    assert!(
        p.server_events()
            .contains(&Event::Closed(CloseReason::PingTimeout))
    );
}

#[test]
fn server_ping_timeout_counts_from_queueing_without_a_get() {
    // The client never polls again: the ping is never fetched, the session still dies at
    // pingInterval + pingTimeout (EIO suite: "closes the session upon ping timeout").
    let config = ServerConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let mut p = Pair::new(config, polling_client());
    p.advance(Duration::from_millis(2)); // handshake answered
    p.black_hole = Some(Direction::ToServer);
    let t0 = p.now;
    p.advance(Duration::from_millis(600));
    assert!(p.session().is_closed());
    assert!(p.now - t0 >= Duration::from_millis(490));
}

#[test]
fn heartbeat_timeout_closes_the_client_side() {
    for client in [polling_client(), ws_client()] {
        let mut p = Pair::new(ServerConfig::default(), client);
        p.drive();
        p.black_hole = Some(Direction::ToClient);
        p.advance(Duration::from_secs(46));
        let events = p.client_events();
        assert!(
            events.contains(&ClientEvent::Closed(CloseReason::PingTimeout)),
            "{events:?}"
        );
    }
}

#[test]
fn duplicate_poll_closes_the_session() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    let sid = p.session().sid();
    p.inject_request(
        Method::Get,
        format!("EIO=4&transport=polling&sid={sid}"),
        None,
    );
    p.drive();
    let events = p.server_events();
    assert!(
        events.contains(&Event::Closed(CloseReason::ProtocolViolation(
            ProtocolError::DuplicatePoll
        )))
    );
    // The waiting GET received the close packet; the client sees the server close.
    assert_eq!(p.poll_bodies.last().map(|b| &b[..]), Some(&b"1"[..]));
    assert!(
        p.client_events()
            .contains(&ClientEvent::Closed(CloseReason::TransportClose))
    );
}

#[test]
fn cancelled_poll_closes_the_session() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    p.abort_waiting_get();
    p.drive();
    let events = p.server_events();
    assert!(
        events.contains(&Event::Closed(CloseReason::ProtocolViolation(
            ProtocolError::PollAborted
        )))
    );
    let events = p.client_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Closed(CloseReason::ProtocolViolation(_))))
    );
}

#[test]
fn poll_response_respects_max_payload() {
    let config = ServerConfig {
        max_payload: 64,
        ..Default::default()
    };
    let mut p = Pair::new(config, polling_client());
    p.drive();
    for i in 0..20 {
        p.session()
            .send(Message::from(format!("message-{i:02}")))
            .unwrap();
    }
    p.drive();
    let got = client_messages(&p.client_events());
    assert_eq!(got.len(), 20);
    assert_eq!(got[19], Message::from("message-19"));
    let payloads: Vec<_> = p.poll_bodies.iter().skip(1).collect();
    assert!(payloads.len() >= 4, "{payloads:?}");
    assert!(payloads.iter().all(|b| b.len() <= 64), "{payloads:?}");
}

#[test]
fn poll_response_respects_max_packets_per_poll() {
    let config = ServerConfig {
        max_packets_per_poll: Some(16),
        ..Default::default()
    };
    assert_eq!(
        ServerConfig {
            max_packets_per_poll: Some(0),
            ..Default::default()
        }
        .validate(),
        Err(ConfigError::ZeroSize("max_packets_per_poll"))
    );
    let mut p = Pair::new(config, polling_client());
    p.drive();
    for i in 0..40 {
        p.session().send(Message::from(format!("m{i}"))).unwrap();
    }
    p.drive();
    let got = client_messages(&p.client_events());
    assert_eq!(got.len(), 40);
    assert_eq!(got[39], Message::from("m39"));
    // The waiting GET takes the first message at once; the rest go 16 at a time.
    let counts: Vec<usize> = p
        .poll_bodies
        .iter()
        .skip(1)
        .map(|b| b.split(|c| *c == 0x1e).count())
        .collect();
    assert_eq!(counts, [1, 16, 16, 7]);
}

#[test]
fn client_posts_are_batched_and_split_by_max_payload() {
    let config = ServerConfig {
        max_payload: 64,
        ..Default::default()
    };
    let mut p = Pair::new(config, polling_client());
    p.drive();
    for i in 0..20 {
        p.client
            .send(Message::from(format!("message-{i:02}")))
            .unwrap();
    }
    p.drive();
    let got = server_messages(&p.server_events());
    assert_eq!(got.len(), 20);
    assert!(
        p.post_bodies.len() >= 4 && p.post_bodies.len() < 20,
        "{}",
        p.post_bodies.len()
    );
    assert!(p.post_bodies.iter().all(|b| b.len() <= 64));
}

#[test]
fn client_close_over_polling() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    let now = p.now;
    p.client.close(now);
    p.drive();
    assert!(
        p.client_events()
            .contains(&ClientEvent::Closed(CloseReason::ForcedClose))
    );
    assert!(
        p.server_events()
            .contains(&Event::Closed(CloseReason::TransportClose))
    );
    // The waiting GET was released with a noop.
    assert_eq!(p.poll_bodies.last().map(|b| &b[..]), Some(&b"6"[..]));
}

#[test]
fn client_close_over_websocket() {
    let mut p = Pair::new(ServerConfig::default(), ws_client());
    p.drive();
    let now = p.now;
    p.client.close(now);
    p.drive();
    assert!(
        p.server_events()
            .contains(&Event::Closed(CloseReason::TransportClose))
    );
}

#[test]
fn server_close_over_polling_delivers_queued_packets_first() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    p.drive();
    p.session().send(Message::from("bye")).unwrap();
    let now = p.now;
    p.session().close(now);
    p.drive();
    let events = p.client_events();
    assert_eq!(client_messages(&events), vec![Message::from("bye")]);
    assert!(events.contains(&ClientEvent::Closed(CloseReason::TransportClose)));
    assert!(
        p.server_events()
            .contains(&Event::Closed(CloseReason::ForcedClose))
    );
}

#[test]
fn server_close_over_websocket() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::default());
    p.drive();
    p.session().send(Message::from("bye")).unwrap();
    let now = p.now;
    p.session().close(now);
    p.drive();
    let events = p.client_events();
    assert_eq!(client_messages(&events), vec![Message::from("bye")]);
    assert!(events.contains(&ClientEvent::Closed(CloseReason::TransportClose)));
}

#[test]
fn client_handshake_times_out() {
    let mut p = Pair::new(ServerConfig::default(), polling_client());
    // The handshake GET is already on the wire; its answer is lost.
    p.black_hole = Some(Direction::ToClient);
    p.advance(Duration::from_millis(19_990));
    assert!(p.client_events().is_empty());
    p.advance(Duration::from_millis(20));
    let events = p.client_events();
    assert!(
        events.contains(&ClientEvent::Closed(CloseReason::ProtocolViolation(
            ProtocolError::HandshakeTimeout
        )))
    );
}

#[test]
fn a_lost_pong_closes_the_server_side() {
    let mut p = Pair::new(ServerConfig::default(), ws_client());
    p.drive();
    p.advance(Duration::from_millis(24_990));
    // The next client frame is the pong to the ping due at 25 s; it is lost.
    p.drop_next(Direction::ToServer);
    p.advance(Duration::from_millis(20_020));
    assert!(
        p.server_events()
            .contains(&Event::Closed(CloseReason::PingTimeout))
    );
}

#[test]
fn closing_with_a_full_last_response_still_sends_the_close_packet() {
    // Fuzz finding F3: the queue fills the last response exactly; `1` must follow in the next.
    let config = ServerConfig {
        max_payload: 8,
        ..Default::default()
    };
    let mut p = Pair::new(config, polling_client());
    p.drive();
    p.session().send(Message::from("abcdefg")).unwrap(); // `4abcdefg`: 8 bytes
    let now = p.now;
    p.session().close(now);
    p.drive();
    let events = p.client_events();
    assert_eq!(client_messages(&events), vec![Message::from("abcdefg")]);
    assert!(
        events.contains(&ClientEvent::Closed(CloseReason::TransportClose)),
        "{events:?}"
    );
}

#[test]
fn client_close_respects_the_server_max_payload() {
    // Fuzz finding F4: the close POST stays within maxPayload.
    let config = ServerConfig {
        max_payload: 8,
        ..Default::default()
    };
    let mut p = Pair::new(config, polling_client());
    p.drive();
    p.client.send(Message::from("0123456789")).unwrap();
    p.client.send(Message::from("0123456789")).unwrap();
    let now = p.now;
    p.client.close(now);
    p.drive();
    assert!(
        p.post_bodies
            .iter()
            .all(|b| b.len() <= 8 || !b.contains(&0x1e)),
        "{:?}",
        p.post_bodies
    );
    assert!(
        p.server_events()
            .iter()
            .any(|e| matches!(e, Event::Closed(_)))
    );
}

#[test]
fn tiny_max_payload_is_refused() {
    // Fuzz finding F1.
    let config = ServerConfig {
        max_payload: 2,
        ..Default::default()
    };
    assert!(crate::Server::new(std::sync::Arc::new(config), [0; 32]).is_err());
}
