//! A `ClientSession` fed arbitrary HTTP responses, WebSocket events and frames, clock advances
//! and application commands, with outputs drained after every step and invariants checked.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{
    ClientConfig, ClientEvent, ClientSession, ClientTransmit, HttpResult, Method, RequestId,
    Transports, Utf8Bytes, WsMessage,
};
use libfuzzer_sys::fuzz_target;
use socketio_rs_fuzz::{Clock, Input, RECORDS, app_message, body, check_own_payload};

#[derive(Debug, Default)]
struct Model {
    /// HTTP requests handed to the runtime and not answered yet.
    requests: Vec<(RequestId, Method)>,
    /// A `WsOpen` was asked for and the socket is connecting.
    ws_connecting: bool,
    /// The WebSocket is open.
    ws: bool,
    opened: bool,
    closed: bool,
    /// A text message containing the record separator was sent (finding F2).
    separator_sent: bool,
}

struct Harness {
    session: ClientSession,
    clock: Clock,
    model: Model,
}

impl Harness {
    fn drain(&mut self, step: &str) {
        let now = self.clock.now();
        let was_closed = self.model.closed;
        let max_payload = self
            .session
            .handshake()
            .and_then(|h| h.max_payload)
            .unwrap_or(u64::MAX);
        while let Some(t) = self.session.poll_transmit(now) {
            assert!(!was_closed, "{step}: {t:?} transmitted after Closed");
            match t {
                ClientTransmit::Http(req) => {
                    if req.method == Method::Post {
                        let body = req.body.as_ref().expect("a POST has a body");
                        // Finding F4 (fixed): the close POST respects `maxPayload` too.
                        check_own_payload(body, max_payload, self.model.separator_sent, step);
                    } else {
                        assert!(req.body.is_none(), "{step}: GET with a body");
                    }
                    assert!(req.query.starts_with("EIO=4&transport=polling"));
                    self.model.requests.push((req.id, req.method));
                }
                ClientTransmit::WsOpen { query } => {
                    assert!(query.starts_with("EIO=4&transport=websocket"));
                    assert!(
                        !self.model.ws && !self.model.ws_connecting,
                        "{step}: second WsOpen"
                    );
                    self.model.ws_connecting = true;
                }
                ClientTransmit::Ws(msg) => {
                    assert!(
                        self.model.ws,
                        "{step}: {msg:?} written with no WebSocket open"
                    );
                }
                ClientTransmit::WsClose => {
                    // Closing the socket the runtime just reported closed is a harmless no-op.
                    assert!(
                        self.model.ws || self.model.ws_connecting || step == "handle_ws_closed",
                        "{step}: WsClose with no WebSocket"
                    );
                    self.model.ws = false;
                    self.model.ws_connecting = false;
                }
                _ => {}
            }
        }
        while let Some(e) = self.session.poll_event() {
            assert!(!self.model.closed, "{step}: event {e:?} after Closed");
            match e {
                ClientEvent::Open(_) => {
                    assert!(!self.model.opened, "{step}: second Open");
                    self.model.opened = true;
                }
                ClientEvent::Closed(_) => self.model.closed = true,
                ClientEvent::Message(_) | ClientEvent::Upgraded => {
                    assert!(self.model.opened, "{step}: {e:?} before Open");
                }
                _ => {}
            }
        }
        assert_eq!(self.model.closed, self.session.is_closed(), "{step}");
        if self.model.closed {
            assert_eq!(
                self.session.poll_timeout(),
                None,
                "{step}: timer after Closed"
            );
        } else {
            let in_flight = |m| self.model.requests.iter().filter(|r| r.1 == m).count();
            assert!(in_flight(Method::Get) <= 1, "{step}: two GETs in flight");
            assert!(in_flight(Method::Post) <= 1, "{step}: two POSTs in flight");
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

/// An open packet with fuzzed settings.
fn open_packet(input: &mut Input<'_>) -> String {
    let sid = input.pick(&["abc", "AAAAAAAAAAAAAAAAAAAAAAAA", ""]);
    let upgrades = input.pick(&["[\"websocket\"]", "[]", "[\"polling\",\"websocket\"]"]);
    let ping_interval = u32::from(input.u8()) * 4;
    let ping_timeout = u32::from(input.u8()) * 4;
    let max_payload = match input.u8() % 4 {
        0 => String::new(),
        n => format!(",\"maxPayload\":{}", [0, 1, 16, 1000][usize::from(n)]),
    };
    format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":{ping_interval},\
         \"pingTimeout\":{ping_timeout}{max_payload}}}"
    )
}

/// A response body: an open packet (and more), dictionary records, or raw bytes.
fn response_body(input: &mut Input<'_>) -> Bytes {
    if input.u8() % 3 == 0 {
        let mut s = open_packet(input);
        if input.bool() {
            s.push('\x1e');
            s.push_str(input.pick(RECORDS));
        }
        Bytes::from(s)
    } else {
        body(input)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let config = {
        let mut c = ClientConfig::default();
        c.transports = input.pick(&[Transports::ALL, Transports::POLLING, Transports::WEBSOCKET]);
        c.upgrade = input.u8() % 4 != 0;
        c.timestamp_requests = input.bool();
        c.open_timeout = Duration::from_millis(200);
        c.upgrade_timeout = Duration::from_millis(80);
        c.max_payload = input.pick(&[16u64, 1000]);
        c.max_buffered_packets = 8;
        c
    };
    let clock = Clock::new();
    let session = ClientSession::new(Arc::new(config), clock.now(), [9; 32]).expect("valid config");
    let mut h = Harness {
        session,
        clock,
        model: Model::default(),
    };
    h.drain("new");

    let mut steps = 0;
    while !input.is_empty() && steps < 256 {
        steps += 1;
        let now = h.clock.now();
        match input.u8() % 16 {
            0..=3 if !h.model.requests.is_empty() => {
                let i = usize::from(input.u8()) % h.model.requests.len();
                let (id, _) = h.model.requests.remove(i);
                let body = response_body(&mut input);
                let result = HttpResult::Response { status: 200, body };
                let _ = h.session.handle_http_response(now, id, result);
                h.drain("handle_http_response(200)");
            }
            4 if !h.model.requests.is_empty() => {
                let i = usize::from(input.u8()) % h.model.requests.len();
                let (id, _) = h.model.requests.remove(i);
                let result = if input.bool() {
                    HttpResult::Failed
                } else {
                    HttpResult::Response {
                        status: input.pick(&[400, 403, 500]),
                        body: Bytes::from_static(b"{\"code\":1}"),
                    }
                };
                let _ = h.session.handle_http_response(now, id, result);
                h.drain("handle_http_response(error)");
            }
            5 if h.model.ws_connecting => {
                h.model.ws_connecting = false;
                h.model.ws = true;
                h.session.handle_ws_open(now);
                h.drain("handle_ws_open");
            }
            6 | 7 if h.model.ws => {
                let text = match input.u8() % 3 {
                    0 => input.pick(RECORDS).to_owned(),
                    1 => open_packet(&mut input),
                    _ => input.string(200),
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
            9 if h.model.ws || h.model.ws_connecting => {
                h.model.ws = false;
                h.model.ws_connecting = false;
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
            _ => {
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
