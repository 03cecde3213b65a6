//! The pair harness: a `ClientSession` and a `ServerSession` joined by an in-memory wire with a
//! virtual clock, latency and fault injection. Written against the public API only.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{
    ClientConfig, ClientEvent, ClientSession, ClientTransmit, Event, HttpRequest, HttpResponse,
    HttpResult, Method, RequestId, Route, Server, ServerConfig, ServerSession, Transmit, WsMessage,
};

/// Direction of a message on the wire.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Direction {
    ToServer,
    ToClient,
}

#[derive(Debug)]
enum Msg {
    Http(HttpRequest),
    HttpResult(RequestId, HttpResult),
    WsOpen(String),
    WsOpened,
    Ws(WsMessage),
    WsClosed,
}

impl Msg {
    fn direction(&self) -> Direction {
        match self {
            Self::Http(_) | Self::WsOpen(_) => Direction::ToServer,
            Self::HttpResult(..) | Self::WsOpened => Direction::ToClient,
            Self::Ws(_) | Self::WsClosed => unreachable!("ws direction is explicit"),
        }
    }
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    dir: Direction,
    msg: Msg,
}

pub(crate) struct Pair {
    pub(crate) server: Server,
    pub(crate) session: Option<ServerSession>,
    pub(crate) client: ClientSession,
    pub(crate) now: Instant,
    pub(crate) latency: Duration,
    wire: VecDeque<InFlight>,
    waiting_get: Option<RequestId>,
    /// Every poll response the server produced, for assertions on raw bodies.
    pub(crate) poll_bodies: Vec<Bytes>,
    /// Every POST body the client produced.
    pub(crate) post_bodies: Vec<Bytes>,
    server_events: Vec<Event>,
    client_events: Vec<ClientEvent>,
    ws_blocked: bool,
    drop_dirs: Vec<Direction>,
    /// Drop every message in this direction (a dead peer).
    pub(crate) black_hole: Option<Direction>,
}

impl Pair {
    pub(crate) fn new(server: ServerConfig, client: ClientConfig) -> Self {
        #[expect(
            clippy::disallowed_methods,
            reason = "the harness's one epoch for its virtual clock"
        )]
        let now = Instant::now();
        let server = Server::new(Arc::new(server), [1; 32]).unwrap();
        let client = ClientSession::new(Arc::new(client), now, [2; 32]).unwrap();
        let mut pair = Self {
            server,
            session: None,
            client,
            now,
            latency: Duration::from_millis(1),
            wire: VecDeque::new(),
            waiting_get: None,
            poll_bodies: Vec::new(),
            post_bodies: Vec::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
            ws_blocked: false,
            drop_dirs: Vec::new(),
            black_hole: None,
        };
        pair.pump();
        pair
    }

    pub(crate) fn session(&mut self) -> &mut ServerSession {
        self.session.as_mut().expect("no server session yet")
    }

    /// WebSocket connection attempts fail from now on.
    pub(crate) fn block_websocket(&mut self) {
        self.ws_blocked = true;
    }

    /// Drops the next message sent in `dir`.
    pub(crate) fn drop_next(&mut self, dir: Direction) {
        self.drop_dirs.push(dir);
    }

    pub(crate) fn server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }

    pub(crate) fn client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// The client's waiting GET goes away (the TCP connection drops).
    pub(crate) fn abort_waiting_get(&mut self) {
        if let Some(id) = self.waiting_get.take() {
            let now = self.now;
            self.session().handle_poll_aborted(now);
            self.send(Direction::ToClient, Msg::HttpResult(id, HttpResult::Failed));
        }
        self.pump();
    }

    /// Sends a raw HTTP request to the server as if the client made it (fault injection).
    pub(crate) fn inject_request(&mut self, method: Method, query: String, body: Option<Bytes>) {
        let req = HttpRequest {
            id: RequestId(u64::MAX - 1),
            method,
            query,
            body,
        };
        self.send(Direction::ToServer, Msg::Http(req));
    }

    fn send(&mut self, dir: Direction, msg: Msg) {
        if self.black_hole == Some(dir) {
            return;
        }
        if let Some(i) = self.drop_dirs.iter().position(|d| *d == dir) {
            self.drop_dirs.remove(i);
            return;
        }
        self.wire.push_back(InFlight {
            at: self.now + self.latency,
            dir,
            msg,
        });
    }

    /// Moves every pending transmit of both sides onto the wire and collects events.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(t) = self.client.poll_transmit(now) {
            match t {
                ClientTransmit::Http(req) => {
                    if let Some(b) = &req.body {
                        self.post_bodies.push(b.clone());
                    }
                    self.send(Direction::ToServer, Msg::Http(req));
                }
                ClientTransmit::WsOpen { query } => {
                    if self.ws_blocked {
                        self.send(Direction::ToClient, Msg::WsClosed);
                    } else {
                        self.send(Direction::ToServer, Msg::WsOpen(query));
                    }
                }
                ClientTransmit::Ws(m) => self.send(Direction::ToServer, Msg::Ws(m)),
                ClientTransmit::WsClose => self.send(Direction::ToServer, Msg::WsClosed),
            }
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        if let Some(session) = self.session.as_mut() {
            let mut out = Vec::new();
            while let Some(t) = session.poll_transmit(now) {
                out.push(t);
            }
            while let Some(e) = session.poll_event() {
                self.server_events.push(e);
            }
            for t in out {
                match t {
                    Transmit::PollResponse(res) => {
                        let id = self
                            .waiting_get
                            .take()
                            .expect("poll response without a GET");
                        self.poll_bodies.push(res.body.clone());
                        self.respond(id, res);
                    }
                    Transmit::Ws(m) => self.send(Direction::ToClient, Msg::Ws(m)),
                    Transmit::WsClose => self.send(Direction::ToClient, Msg::WsClosed),
                }
            }
        }
    }

    fn respond(&mut self, id: RequestId, res: HttpResponse) {
        let result = HttpResult::Response {
            status: res.status,
            body: res.body,
        };
        self.send(Direction::ToClient, Msg::HttpResult(id, result));
    }

    fn deliver(&mut self, f: InFlight) {
        let now = self.now;
        match (f.dir, f.msg) {
            (Direction::ToServer, Msg::Http(req)) => self.server_http(req),
            (Direction::ToServer, Msg::WsOpen(query)) => {
                match self.server.route(Method::Get, &query, true) {
                    Ok(Route::Handshake(inc)) => {
                        self.session = Some(self.server.accept(now, inc));
                        self.send(Direction::ToClient, Msg::WsOpened);
                    }
                    Ok(Route::Upgrade { .. }) => {
                        self.send(Direction::ToClient, Msg::WsOpened);
                        if self.session().handle_ws_open(now).is_err() {
                            self.send(Direction::ToClient, Msg::WsClosed);
                        }
                    }
                    _ => self.send(Direction::ToClient, Msg::WsClosed),
                }
            }
            (Direction::ToServer, Msg::Ws(m)) => {
                if let Some(s) = self.session.as_mut() {
                    let _ = s.handle_ws_message(now, m);
                }
            }
            (Direction::ToServer, Msg::WsClosed) => {
                if let Some(s) = self.session.as_mut() {
                    s.handle_ws_closed(now);
                }
            }
            (Direction::ToClient, Msg::HttpResult(id, r)) => {
                let _ = self.client.handle_http_response(now, id, r);
            }
            (Direction::ToClient, Msg::WsOpened) => self.client.handle_ws_open(now),
            (Direction::ToClient, Msg::Ws(m)) => {
                let _ = self.client.handle_ws_message(now, m);
            }
            (Direction::ToClient, Msg::WsClosed) => self.client.handle_ws_closed(now),
            (dir, msg) => unreachable!("{msg:?} cannot travel {dir:?} ({:?})", msg.direction()),
        }
        self.pump();
    }

    fn server_http(&mut self, req: HttpRequest) {
        let now = self.now;
        let route = self.server.route(req.method, &req.query, false);
        match route {
            Err(e) => self.respond(req.id, e.to_response()),
            Ok(Route::Handshake(inc)) => {
                self.waiting_get = Some(req.id);
                self.session = Some(self.server.accept(now, inc));
            }
            Ok(Route::Poll { sid }) => match self.live_session(sid) {
                None => self.respond(req.id, crate::RequestError::UnknownSid.to_response()),
                Some(s) => match s.handle_poll(now) {
                    Ok(()) => {
                        assert!(self.waiting_get.is_none(), "harness saw two waiting GETs");
                        self.waiting_get = Some(req.id);
                    }
                    Err(e) => self.respond(req.id, e.to_response()),
                },
            },
            Ok(Route::Post { sid }) => match self.live_session(sid) {
                None => self.respond(req.id, crate::RequestError::UnknownSid.to_response()),
                Some(s) => {
                    let body = req.body.unwrap_or_default();
                    match s.handle_post(now, body) {
                        Ok(()) => self.respond(req.id, HttpResponse::ok()),
                        Err(e) => self.respond(req.id, e.to_response()),
                    }
                }
            },
            Ok(Route::Upgrade { .. }) => unreachable!("upgrades arrive as WsOpen"),
        }
    }

    /// The session with this sid, unless it is closed (the runtime's map no longer has it).
    fn live_session(&mut self, sid: crate::Sid) -> Option<&mut ServerSession> {
        self.session
            .as_mut()
            .filter(|s| s.sid() == sid && !s.is_closed())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let wire = self.wire.iter().map(|f| f.at).min();
        let server = self.session.as_ref().and_then(ServerSession::poll_timeout);
        [wire, self.client.poll_timeout(), server]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs everything due up to `deadline`, in time order, then sets the clock to it.
    pub(crate) fn run_until(&mut self, deadline: Instant) {
        for _ in 0..100_000 {
            self.pump();
            let Some(t) = self.next_deadline().filter(|t| *t <= deadline) else {
                self.now = deadline;
                return;
            };
            self.now = self.now.max(t);
            self.step_now();
        }
        panic!("livelock: the pair never went idle");
    }

    fn step_now(&mut self) {
        let now = self.now;
        if let Some(i) = self.wire.iter().position(|f| f.at <= now) {
            let f = self.wire.remove(i).expect("index from position");
            self.deliver(f);
            return;
        }
        self.client.handle_timeout(now);
        if let Some(s) = self.session.as_mut() {
            s.handle_timeout(now);
        }
        self.pump();
    }

    /// Delivers everything on the wire (timers fire only if due before a delivery).
    pub(crate) fn drive(&mut self) {
        for _ in 0..100_000 {
            self.pump();
            let Some(t) = self.wire.iter().map(|f| f.at).min() else {
                return;
            };
            self.run_until(t);
        }
        panic!("livelock: the wire never drained");
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        let deadline = self.now + by;
        self.run_until(deadline);
    }
}
