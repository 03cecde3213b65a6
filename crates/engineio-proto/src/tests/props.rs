//! Property tests: codec round trips, decoders total on arbitrary input, sessions total on
//! arbitrary operation sequences. Engine.IO v4 has no length prefixes, so no decoder here ever
//! sizes an allocation from a peer-declared length; every buffer is bounded by the input.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use crate::payload::{PayloadDecoder, decode_payload, encode_payload};
use crate::{
    ClientConfig, ClientSession, Event, HttpResult, Message, Method, OpenPacket, Packet, Route,
    Server, ServerConfig, Transmit, Transports, Utf8Bytes, WsMessage,
};

/// Text without the record separator (which v4 text data cannot carry).
fn text() -> impl Strategy<Value = String> {
    "[^\u{1e}]{0,40}"
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        text().prop_map(Message::from),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Message::from),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            "[a-zA-Z0-9_-]{1,30}",
            any::<bool>(),
            1u64..100_000,
            1u64..100_000,
            proptest::option::of(1u64..u64::from(u32::MAX))
        )
            .prop_map(|(sid, up, pi, pt, mp)| {
                let upgrades = if up {
                    vec!["websocket".to_owned()]
                } else {
                    Vec::new()
                };
                Packet::Open(OpenPacket::new(sid, upgrades, pi, pt, mp))
            }),
        Just(Packet::Close),
        text().prop_map(|t| Packet::Ping(Utf8Bytes::from(t))),
        text().prop_map(|t| Packet::Pong(Utf8Bytes::from(t))),
        message().prop_map(Packet::Message),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Poll,
    PollAborted,
    PostStart,
    Post(Vec<u8>),
    WsOpen,
    Ws(Vec<u8>, bool),
    WsClosed,
    Advance(u16),
    Send(Vec<u8>),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..32),
        proptest::sample::select(vec![
            b"4hello".to_vec(),
            b"3".to_vec(),
            b"2probe".to_vec(),
            b"5".to_vec(),
            b"1".to_vec(),
            b"4a\x1e3\x1ebAQID".to_vec(),
        ]),
    ];
    prop_oneof![
        Just(Op::Poll),
        Just(Op::PollAborted),
        Just(Op::PostStart),
        body.clone().prop_map(Op::Post),
        Just(Op::WsOpen),
        (body, any::<bool>()).prop_map(|(b, t)| Op::Ws(b, t)),
        Just(Op::WsClosed),
        any::<u16>().prop_map(Op::Advance),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Op::Send),
        Just(Op::Close),
    ]
}

proptest! {
    #[test]
    fn packet_text_round_trip(p in packet()) {
        let text = p.encode_text();
        prop_assert_eq!(text.len(), p.encoded_text_len());
        prop_assert_eq!(Packet::decode_text(&text), Ok(p.clone()));
        prop_assert_eq!(Packet::decode_ws(&p.encode_ws()), Ok(p));
    }

    #[test]
    fn payload_round_trip(packets in proptest::collection::vec(packet(), 1..12)) {
        let encoded = encode_payload(&packets);
        prop_assert_eq!(decode_payload(encoded.into_bytes()), Ok(packets));
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(dec) = PayloadDecoder::new(Bytes::from(bytes.clone())) {
            for p in dec {
                let _ = p;
            }
        }
        let _ = Packet::decode_ws(&WsMessage::Binary(Bytes::from(bytes.clone())));
        if let Ok(t) = Utf8Bytes::try_from_bytes(Bytes::from(bytes)) {
            let _ = Packet::decode_text(&t);
        }
    }

    #[test]
    fn server_session_is_total(ops in proptest::collection::vec(op(), 0..40), ws in any::<bool>()) {
        let config = ServerConfig { max_payload: 64, ..Default::default() };
        let max = config.max_payload;
        let mut server = Server::new(Arc::new(config), [5; 32]).unwrap();
        #[expect(clippy::disallowed_methods, reason = "test epoch for the virtual clock")]
        let mut now = Instant::now();
        let query = if ws { "EIO=4&transport=websocket" } else { "EIO=4&transport=polling" };
        let Ok(Route::Handshake(inc)) = server.route(Method::Get, query, ws) else { unreachable!() };
        let mut s = server.accept(now, inc);
        let mut closed = 0;
        for op in ops {
            match op {
                Op::Poll => { let _ = s.handle_poll(now); }
                Op::PollAborted => s.handle_poll_aborted(now),
                Op::PostStart => { let _ = s.handle_post_start(now); }
                Op::Post(b) => { let _ = s.handle_post(now, Bytes::from(b)); }
                Op::WsOpen => { let _ = s.handle_ws_open(now); }
                Op::Ws(b, true) => {
                    if let Ok(t) = Utf8Bytes::try_from_bytes(Bytes::from(b)) {
                        let _ = s.handle_ws_message(now, WsMessage::Text(t));
                    }
                }
                Op::Ws(b, false) => { let _ = s.handle_ws_message(now, WsMessage::Binary(Bytes::from(b))); }
                Op::WsClosed => s.handle_ws_closed(now),
                Op::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms) * 10);
                    s.handle_timeout(now);
                }
                Op::Send(b) => { let _ = s.send(Message::from(b)); }
                Op::Close => s.close(now),
            }
            while let Some(t) = s.poll_transmit(now) {
                if let Transmit::PollResponse(r) = t {
                    let single = !r.body.contains(&0x1e);
                    prop_assert!(r.body.len() as u64 <= max || single, "{:?}", r.body);
                }
            }
            if let Some(t) = s.poll_timeout() {
                prop_assert!(t > now, "deadline {:?} not after now", t - now);
            }
            while let Some(e) = s.poll_event() {
                if matches!(e, Event::Closed(_)) {
                    closed += 1;
                }
            }
        }
        prop_assert!(closed <= 1);
    }

    #[test]
    fn client_session_is_total(
        responses in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..48)), 0..20),
    ) {
        #[expect(clippy::disallowed_methods, reason = "test epoch for the virtual clock")]
        let now = Instant::now();
        let config = ClientConfig { transports: Transports::POLLING, ..Default::default() };
        let mut c = ClientSession::new(Arc::new(config), now, [0; 32]).unwrap();
        let mut ids = Vec::new();
        for (i, (status, body)) in responses.into_iter().enumerate() {
            while let Some(t) = c.poll_transmit(now) {
                if let crate::ClientTransmit::Http(r) = t {
                    ids.push(r.id);
                }
            }
            let Some(id) = ids.get(i % ids.len().max(1)).copied() else { break };
            let status = if status % 3 == 0 { 200 } else { status };
            let _ = c.handle_http_response(now, id, HttpResult::Response { status, body: Bytes::from(body) });
            let _ = c.handle_ws_message(now, WsMessage::Text("2".into()));
            while c.poll_event().is_some() {}
        }
    }
}
