//! A `ServerSession` (from `Server::new` + `route` + `accept`) fed an arbitrary sequence of
//! network, clock and application operations, with `poll_transmit`/`poll_event` drained after
//! every step and the session's invariants checked.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{
    CloseReason, Event, Method, ProtocolError, Route, Server, ServerConfig, ServerSession,
    Transmit, Transport, Transports, Utf8Bytes, WsMessage,
};
use libfuzzer_sys::fuzz_target;
use socketio_rs_fuzz::{Clock, Input, RECORDS, app_message, body, check_own_payload};

/// What the runtime holds, as far as the invariants need it.
#[derive(Debug, Default)]
struct Model {
    /// GETs waiting for a `PollResponse`.
    gets: usize,
    /// A WebSocket (the session's or a probe) is open.
    ws: bool,
    /// The `Closed` event was seen.
    closed: bool,
    /// A text message containing the record separator was sent (finding F2).
    separator_sent: bool,
}

struct Harness {
    session: ServerSession,
    clock: Clock,
    model: Model,
    max_payload: u64,
}

impl Harness {
    /// Drains the outputs of one step and checks the invariants.
    fn drain(&mut self, step: &str) {
        let now = self.clock.now();
        let was_closed = self.model.closed;
        let mut last_poll_body = None;
        while let Some(t) = self.session.poll_transmit(now) {
            assert!(!was_closed, "{step}: {t:?} transmitted after Closed");
            match t {
                Transmit::PollResponse(res) => {
                    assert!(
                        self.model.gets > 0,
                        "{step}: PollResponse without a waiting GET"
                    );
                    self.model.gets -= 1;
                    assert_eq!(res.status, 200);
                    check_own_payload(&res.body, self.max_payload, self.model.separator_sent, step);
                    last_poll_body = Some(res.body);
                }
                Transmit::Ws(msg) => {
                    assert!(
                        self.model.ws,
                        "{step}: {msg:?} written with no WebSocket open"
                    );
                    if let WsMessage::Text(t) = &msg {
                        assert!(!t.is_empty(), "{step}: empty text frame");
                    }
                }
                Transmit::WsClose => {
                    // Closing the socket the runtime just reported closed is a harmless no-op.
                    assert!(
                        self.model.ws || step == "handle_ws_closed",
                        "{step}: WsClose with no WebSocket open"
                    );
                    self.model.ws = false;
                }
                _ => {}
            }
        }
        while let Some(e) = self.session.poll_event() {
            assert!(!self.model.closed, "{step}: event {e:?} after Closed");
            if let Event::Closed(reason) = e {
                self.model.closed = true;
                assert!(self.session.is_closed());
                // A polling session this side closes tells the client so: the last response
                // of the closing step ends with the close packet (the client's own `1` is
                // answered with `6` instead).
                if let Some(body) = &last_poll_body
                    && self.session.transport() == Transport::Polling
                    && reason != CloseReason::TransportClose
                {
                    // Finding F3 (fixed): the close packet is never dropped.
                    assert!(
                        &body[..] == b"1" || body.ends_with(b"\x1e1"),
                        "{step}: closed ({reason}) without sending `1`; last response {body:?}"
                    );
                }
            }
        }
        assert_eq!(self.model.closed, self.session.is_closed(), "{step}");
        if self.model.closed {
            assert_eq!(
                self.session.poll_timeout(),
                None,
                "{step}: timer after Closed"
            );
        }
    }

    fn timeout(&mut self) {
        let now = self.clock.now();
        self.session.handle_timeout(now);
        if let Some(t) = self.session.poll_timeout() {
            assert!(
                t > now,
                "poll_timeout {:?} not after now once handle_timeout ran",
                now.saturating_duration_since(t)
            );
        }
        self.drain("handle_timeout");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max_payload = input.pick(&[8u64, 9, 16, 64, 1000]);
    let max_packets_per_poll = input.pick(&[None, Some(1usize), Some(2), Some(16)]);
    let config = {
        let mut c = ServerConfig::default();
        c.ping_interval = Duration::from_millis(100);
        c.ping_timeout = Duration::from_millis(50);
        c.upgrade_timeout = Duration::from_millis(80);
        c.close_timeout = Duration::from_millis(120);
        c.max_payload = max_payload;
        c.max_buffered_packets = 8;
        c.max_buffered_bytes = 256;
        c.max_packets_per_poll = max_packets_per_poll;
        c.allow_upgrades = input.u8() % 4 != 0;
        c.transports = Transports::ALL;
        c
    };
    let mut server = Server::new(Arc::new(config), [7; 32]).expect("valid config");
    let websocket = input.u8() % 4 == 0;
    let (query, upgrade) = if websocket {
        ("EIO=4&transport=websocket", true)
    } else {
        ("EIO=4&transport=polling&t=abc", false)
    };
    let Ok(Route::Handshake(incoming)) = server.route(Method::Get, query, upgrade) else {
        panic!("handshake refused");
    };
    let clock = Clock::new();
    let session = server.accept(clock.now(), incoming);
    let sid = session.sid();
    let mut h = Harness {
        session,
        clock,
        model: Model {
            gets: usize::from(!websocket),
            ws: websocket,
            closed: false,
            separator_sent: false,
        },
        max_payload,
    };
    h.drain("accept");

    // Requests for this sid route as expected.
    let q = format!("EIO=4&transport=polling&sid={sid}");
    assert_eq!(
        server.route(Method::Get, &q, false),
        Ok(Route::Poll { sid })
    );
    assert_eq!(
        server.route(Method::Post, &q, false),
        Ok(Route::Post { sid })
    );

    let mut steps = 0;
    while !input.is_empty() && steps < 256 {
        steps += 1;
        let now = h.clock.now();
        match input.u8() % 18 {
            0 => {
                if h.session.handle_poll(now).is_ok() {
                    h.model.gets += 1;
                }
                h.drain("handle_poll");
            }
            1 => {
                h.session.handle_poll_aborted(now);
                h.model.gets = 0;
                h.drain("handle_poll_aborted");
            }
            2 => {
                let _ = h.session.handle_post_start(now);
                h.drain("handle_post_start");
            }
            3 | 4 => {
                let b = body(&mut input);
                let _ = h.session.handle_post(now, b);
                h.drain("handle_post");
            }
            5 => {
                if h.session.handle_ws_open(now).is_ok() {
                    assert!(!h.model.ws || h.model.closed, "two WebSockets open at once");
                    h.model.ws = true;
                }
                h.drain("handle_ws_open");
            }
            6 | 7 if h.model.ws => {
                let text = if input.bool() {
                    input.pick(RECORDS).to_owned()
                } else {
                    input.string(200)
                };
                let _ = h
                    .session
                    .handle_ws_message(now, WsMessage::Text(Utf8Bytes::from(text)));
                h.drain("handle_ws_message(text)");
            }
            8 if h.model.ws => {
                let b = Bytes::copy_from_slice(input.bytes(200));
                let _ = h.session.handle_ws_message(now, WsMessage::Binary(b));
                h.drain("handle_ws_message(binary)");
            }
            9 if h.model.ws => {
                h.model.ws = false;
                h.session.handle_ws_closed(now);
                h.drain("handle_ws_closed");
            }
            10 | 11 => {
                h.clock
                    .advance(Duration::from_millis(u64::from(input.u8())));
                h.timeout();
            }
            12 => {
                if let Some(t) = h.session.poll_timeout() {
                    h.clock.advance_to(t);
                }
                h.timeout();
            }
            13 | 14 => {
                let msg = app_message(&mut input, &mut h.model.separator_sent);
                let _ = h.session.send(msg);
                h.drain("send");
            }
            15 => {
                h.session.close(now);
                h.drain("close");
            }
            16 => {
                h.session
                    .handle_transport_error(now, ProtocolError::TransportFailure);
                h.drain("handle_transport_error");
            }
            _ => {
                // An early handle_timeout is a no-op for the timers.
                let before = h.session.poll_timeout();
                h.session.handle_timeout(now);
                if before.is_some_and(|t| t > now) {
                    assert_eq!(h.session.poll_timeout(), before, "early handle_timeout");
                }
                h.drain("early handle_timeout");
            }
        }
    }
});
