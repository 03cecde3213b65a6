//! The official Engine.IO v4 test suite (socketio/socket.io `docs/engine.io-protocol/
//! v4-test-suite`), restated case by case against `ServerSession` with literal wire strings.
//! The server is configured as the suite expects: pingInterval 300, pingTimeout 200,
//! maxPayload 1e6, both transports, and an application that echoes every message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{
    Event, HttpResponse, Method, RequestError, Route, Server, ServerConfig, ServerSession,
    Transmit, WsMessage,
};

struct Suite {
    server: Server,
    session: Option<ServerSession>,
    now: Instant,
}

/// What a request got: an immediate response, or nothing yet (a GET left waiting).
#[derive(Debug, PartialEq)]
enum Reply {
    Now(u16, String),
    Waiting,
}

fn text(r: &HttpResponse) -> String {
    String::from_utf8(r.body.to_vec()).unwrap()
}

impl Suite {
    fn new() -> Self {
        let config = ServerConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        #[expect(
            clippy::disallowed_methods,
            reason = "test epoch for the virtual clock"
        )]
        let now = Instant::now();
        Self {
            server: Server::new(Arc::new(config), [3; 32]).unwrap(),
            session: None,
            now,
        }
    }

    fn sid(&self) -> String {
        self.session.as_ref().unwrap().sid().to_string()
    }

    fn s(&mut self) -> &mut ServerSession {
        self.session.as_mut().unwrap()
    }

    /// The echo application: every message goes back as it came.
    fn echo(&mut self) {
        let s = self.session.as_mut().unwrap();
        while let Some(e) = s.poll_event() {
            if let Event::Message(m) = e {
                let _ = s.send(m);
            }
        }
    }

    fn transmits(&mut self) -> Vec<Transmit> {
        let now = self.now;
        let mut out = Vec::new();
        if let Some(s) = self.session.as_mut() {
            while let Some(t) = s.poll_transmit(now) {
                out.push(t);
            }
        }
        out
    }

    fn poll_body(&mut self) -> Option<String> {
        self.transmits().into_iter().find_map(|t| match t {
            Transmit::PollResponse(r) => Some(text(&r)),
            _ => None,
        })
    }

    fn ws_frames(&mut self) -> Vec<Transmit> {
        self.transmits()
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(t) = self.session.as_ref().and_then(ServerSession::poll_timeout) {
            if t > end {
                break;
            }
            self.now = t;
            let now = self.now;
            self.s().handle_timeout(now);
        }
        self.now = end;
    }

    /// Sends an HTTP request as the suite does; sessions that closed are gone from the map.
    fn http(&mut self, method: Method, query: &str) -> Reply {
        self.http_body(method, query, Bytes::new())
    }

    fn http_body(&mut self, method: Method, query: &str, body: Bytes) -> Reply {
        let now = self.now;
        let route = match self.server.route(method, query, false) {
            Ok(r) => r,
            Err(e) => {
                let r = e.to_response();
                return Reply::Now(r.status, text(&r));
            }
        };
        let result = match route {
            Route::Handshake(inc) => {
                self.session = Some(self.server.accept(now, inc));
                return Reply::Now(200, self.poll_body().unwrap());
            }
            Route::Poll { sid } | Route::Post { sid }
                if self
                    .session
                    .as_ref()
                    .is_none_or(|s| s.sid() != sid || s.is_closed()) =>
            {
                Err(RequestError::UnknownSid)
            }
            Route::Poll { .. } => self.s().handle_poll(now).map(|()| None),
            Route::Post { .. } => {
                let r = self.s().handle_post(now, body);
                self.echo();
                r.map(|()| Some(HttpResponse::ok()))
            }
            Route::Upgrade { .. } => unreachable!(),
        };
        match result {
            Ok(Some(r)) => Reply::Now(r.status, text(&r)),
            Ok(None) => self
                .poll_body()
                .map_or(Reply::Waiting, |b| Reply::Now(200, b)),
            Err(e) => {
                let r = e.to_response();
                Reply::Now(r.status, text(&r))
            }
        }
    }

    fn handshake_polling(&mut self) -> serde_json::Value {
        let Reply::Now(200, body) = self.http(Method::Get, "EIO=4&transport=polling") else {
            panic!("handshake failed")
        };
        assert!(body.starts_with('0'));
        serde_json::from_str(&body[1..]).unwrap()
    }

    fn handshake_ws(&mut self) -> serde_json::Value {
        let now = self.now;
        let Ok(Route::Handshake(inc)) =
            self.server
                .route(Method::Get, "EIO=4&transport=websocket", true)
        else {
            panic!("ws handshake refused")
        };
        self.session = Some(self.server.accept(now, inc));
        let frames = self.ws_frames();
        let [Transmit::Ws(WsMessage::Text(t))] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert!(t.starts_with('0'));
        serde_json::from_str(&t[1..]).unwrap()
    }

    fn ws_send(&mut self, msg: WsMessage) -> Vec<Transmit> {
        let now = self.now;
        let _ = self.s().handle_ws_message(now, msg);
        self.echo();
        self.ws_frames()
    }

    fn q(&self) -> String {
        format!("EIO=4&transport=polling&sid={}", self.sid())
    }
}

fn ws_text(s: &str) -> WsMessage {
    WsMessage::Text(s.into())
}

fn assert_open(json: &serde_json::Value, upgrades: &[&str]) {
    let obj = json.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    assert!(obj["sid"].is_string());
    assert_eq!(obj["upgrades"], serde_json::json!(upgrades));
    assert_eq!(obj["pingInterval"], 300);
    assert_eq!(obj["pingTimeout"], 200);
    assert_eq!(obj["maxPayload"], 1_000_000);
}

#[test]
fn eio01_polling_handshake_opens_a_session() {
    let mut s = Suite::new();
    let open = s.handshake_polling();
    assert_open(&open, &["websocket"]);
}

#[test]
fn eio02_polling_handshake_fails_with_an_invalid_eio() {
    let mut s = Suite::new();
    for q in ["transport=polling", "EIO=abc&transport=polling"] {
        assert!(matches!(s.http(Method::Get, q), Reply::Now(400, _)));
    }
}

#[test]
fn eio03_polling_handshake_fails_with_an_invalid_transport() {
    let mut s = Suite::new();
    for q in ["EIO=4", "EIO=4&transport=abc"] {
        assert!(matches!(s.http(Method::Get, q), Reply::Now(400, _)));
    }
}

#[test]
fn eio04_polling_handshake_fails_with_an_invalid_method() {
    let mut s = Suite::new();
    assert!(matches!(
        s.http(Method::Post, "EIO=4&transport=polling"),
        Reply::Now(400, _)
    ));
    assert!(matches!(
        s.http(Method::Other, "EIO=4&transport=polling"),
        Reply::Now(400, _)
    ));
}

#[test]
fn eio05_websocket_handshake_opens_a_session() {
    let mut s = Suite::new();
    let open = s.handshake_ws();
    assert_open(&open, &[]);
}

#[test]
fn eio06_07_websocket_handshake_fails_with_invalid_parameters() {
    let s = Suite::new();
    for q in [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        let err = s.server.route(Method::Get, q, true).unwrap_err();
        assert_eq!(err.to_ws_response().status, 400);
    }
}

#[test]
fn eio08_polling_one_text_packet() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    assert_eq!(
        s.http_body(Method::Post, &q, Bytes::from_static(b"4hello")),
        Reply::Now(200, "ok".into())
    );
    assert_eq!(s.http(Method::Get, &q), Reply::Now(200, "4hello".into()));
}

#[test]
fn eio09_polling_several_text_packets_come_back_in_one_body() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    let body = Bytes::from_static(b"4test1\x1e4test2\x1e4test3");
    assert_eq!(
        s.http_body(Method::Post, &q, body),
        Reply::Now(200, "ok".into())
    );
    assert_eq!(
        s.http(Method::Get, &q),
        Reply::Now(200, "4test1\x1e4test2\x1e4test3".into())
    );
}

#[test]
fn eio10_polling_text_and_binary_packets() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    let body = Bytes::from_static(b"4hello\x1ebAQIDBA==");
    assert_eq!(
        s.http_body(Method::Post, &q, body),
        Reply::Now(200, "ok".into())
    );
    assert_eq!(
        s.http(Method::Get, &q),
        Reply::Now(200, "4hello\x1ebAQIDBA==".into())
    );
}

#[test]
fn eio11_polling_invalid_packet_closes_the_session() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    assert!(matches!(
        s.http_body(Method::Post, &q, Bytes::from_static(b"abc")),
        Reply::Now(400, _)
    ));
    assert!(matches!(s.http(Method::Get, &q), Reply::Now(400, _)));
}

#[test]
fn eio12_duplicate_poll_closes_the_session() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    assert_eq!(s.http(Method::Get, &q), Reply::Waiting);
    let second = s.http(Method::Get, &format!("{q}&t=burst"));
    // The duplicate gets 400 and the waiting first GET is answered with the close packet.
    assert!(matches!(second, Reply::Now(400, _)), "{second:?}");
    assert_eq!(s.poll_body().as_deref(), Some("1"));
    let Reply::Now(400, body) = s.http(Method::Get, &q) else {
        panic!()
    };
    assert_eq!(body, r#"{"code":1,"message":"Session ID unknown"}"#);
}

#[test]
fn eio13_cancelled_poll_closes_the_session() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    assert_eq!(s.http(Method::Get, &q), Reply::Waiting);
    s.advance(5);
    let now = s.now;
    s.s().handle_poll_aborted(now);
    assert!(matches!(s.http(Method::Get, &q), Reply::Now(400, _)));
}

#[test]
fn eio14_websocket_text_echo() {
    let mut s = Suite::new();
    s.handshake_ws();
    assert_eq!(
        s.ws_send(ws_text("4hello")),
        [Transmit::Ws(ws_text("4hello"))]
    );
}

#[test]
fn eio15_websocket_binary_echo() {
    let mut s = Suite::new();
    s.handshake_ws();
    let bin = WsMessage::Binary(Bytes::from_static(&[1, 2, 3, 4]));
    assert_eq!(s.ws_send(bin.clone()), [Transmit::Ws(bin)]);
}

#[test]
fn eio16_websocket_invalid_packet_closes_the_session() {
    let mut s = Suite::new();
    s.handshake_ws();
    assert_eq!(s.ws_send(ws_text("abc")), [Transmit::WsClose]);
    assert!(s.s().is_closed());
}

#[test]
fn eio17_polling_heartbeat() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    for _ in 0..3 {
        assert_eq!(s.http(Method::Get, &q), Reply::Waiting);
        s.advance(300);
        assert_eq!(s.poll_body().as_deref(), Some("2"));
        assert_eq!(
            s.http_body(Method::Post, &q, Bytes::from_static(b"3")),
            Reply::Now(200, "ok".into())
        );
    }
}

#[test]
fn eio18_polling_ping_timeout() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    s.advance(500);
    assert!(matches!(s.http(Method::Get, &q), Reply::Now(400, _)));
}

#[test]
fn eio19_websocket_heartbeat() {
    let mut s = Suite::new();
    s.handshake_ws();
    for _ in 0..3 {
        s.advance(300);
        assert_eq!(s.ws_frames(), [Transmit::Ws(ws_text("2"))]);
        assert_eq!(s.ws_send(ws_text("3")), []);
    }
    assert!(!s.s().is_closed());
}

#[test]
fn eio20_websocket_ping_timeout() {
    let mut s = Suite::new();
    s.handshake_ws();
    s.advance(300);
    assert_eq!(s.ws_frames(), [Transmit::Ws(ws_text("2"))]);
    s.advance(199);
    assert_eq!(s.ws_frames(), []);
    s.advance(1);
    assert_eq!(s.ws_frames(), [Transmit::WsClose]);
}

#[test]
fn eio21_polling_forced_close() {
    let mut s = Suite::new();
    s.handshake_polling();
    let q = s.q();
    assert_eq!(s.http(Method::Get, &q), Reply::Waiting);
    let now = s.now;
    assert!(s.s().handle_post(now, Bytes::from_static(b"1")).is_ok());
    assert_eq!(s.poll_body().as_deref(), Some("6"));
    assert!(matches!(s.http(Method::Get, &q), Reply::Now(400, _)));
}

#[test]
fn eio22_websocket_forced_close() {
    let mut s = Suite::new();
    s.handshake_ws();
    assert_eq!(s.ws_send(ws_text("1")), [Transmit::WsClose]);
}

fn upgrade(s: &mut Suite) {
    s.handshake_polling();
    let now = s.now;
    s.s().handle_ws_open(now).unwrap();
    assert_eq!(
        s.ws_send(ws_text("2probe")),
        [Transmit::Ws(ws_text("3probe"))]
    );
    let q = s.q();
    // A GET during the upgrade is released with a noop.
    assert_eq!(s.http(Method::Get, &q), Reply::Now(200, "6".into()));
    assert_eq!(s.ws_send(ws_text("5")), []);
}

#[test]
fn eio23_upgrade_from_polling_to_websocket() {
    let mut s = Suite::new();
    upgrade(&mut s);
    assert_eq!(
        s.ws_send(ws_text("4hello")),
        [Transmit::Ws(ws_text("4hello"))]
    );
}

#[test]
fn eio24_polling_after_upgrade_is_refused() {
    let mut s = Suite::new();
    upgrade(&mut s);
    let q = s.q();
    let Reply::Now(400, body) = s.http(Method::Get, &q) else {
        panic!()
    };
    assert_eq!(body, r#"{"code":3,"message":"Bad request"}"#);
    assert_eq!(
        s.ws_send(ws_text("4hello")),
        [Transmit::Ws(ws_text("4hello"))]
    );
}

#[test]
fn eio25_second_websocket_after_upgrade_is_refused() {
    let mut s = Suite::new();
    upgrade(&mut s);
    let now = s.now;
    // The runtime accepts the 101 and closes the new socket; the session is untouched.
    assert_eq!(s.s().handle_ws_open(now), Err(RequestError::BadRequest));
    assert_eq!(
        s.ws_send(ws_text("4hello")),
        [Transmit::Ws(ws_text("4hello"))]
    );
}
