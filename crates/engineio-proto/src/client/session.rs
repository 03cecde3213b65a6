//! The client session state machine.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::config::ClientConfig;
use crate::error::{ConfigError, DecodeError, ProtocolError, SendError};
use crate::http::Method;
use crate::packet::{Message, OpenPacket, Packet, WsMessage};
use crate::payload::{PayloadDecoder, PayloadEncoder};
use crate::session::{CloseReason, Frame, Transport};

/// Identifies an HTTP request of the client so its result can be matched.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct RequestId(pub(crate) u64);

/// An HTTP request for the runtime to perform against the server's Engine.IO path.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// Pass it back to [`ClientSession::handle_http_response`].
    pub id: RequestId,
    /// `GET` (handshake, long-poll) or `POST` (data, `Content-Type: text/plain;charset=UTF-8`).
    pub method: Method,
    /// The query string, without `?`.
    pub query: String,
    /// The body of a POST.
    pub body: Option<Bytes>,
}

/// How an HTTP request of the client ended.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum HttpResult {
    /// The server answered.
    Response {
        /// Status code.
        status: u16,
        /// Body.
        body: Bytes,
    },
    /// The request failed without an answer (connection refused or reset, timeout).
    Failed,
}

/// Something the runtime must do for the client.
#[derive(Clone, Debug, Eq, PartialEq)]
#[must_use]
#[non_exhaustive]
pub enum ClientTransmit {
    /// Perform this HTTP request.
    Http(HttpRequest),
    /// Open a WebSocket to the Engine.IO path with this query string, then call
    /// [`ClientSession::handle_ws_open`] (or [`ClientSession::handle_ws_closed`] on failure).
    WsOpen {
        /// The query string, without `?`.
        query: String,
    },
    /// Write this frame on the WebSocket.
    Ws(WsMessage),
    /// Close the WebSocket.
    WsClose,
}

/// Something that happened to the client session.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The handshake completed.
    Open(OpenPacket),
    /// The server sent a message.
    Message(Message),
    /// The session moved to WebSocket.
    Upgraded,
    /// The session ended; no more events follow.
    Closed(CloseReason),
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum State {
    Opening,
    Open,
    Closed,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Upgrade {
    None,
    /// The probe WebSocket is being opened.
    Connecting {
        deadline: Instant,
    },
    /// `2probe` sent.
    Probing {
        deadline: Instant,
    },
    /// `3probe` received: polling pauses until the GET and POST in flight finish.
    Pausing {
        deadline: Instant,
    },
    Done,
}

/// One Engine.IO session on the client: the handshake, polling, the upgrade, the heartbeat.
///
/// The mirror image of [`crate::ServerSession`], with the same contract: after any input or
/// command drain [`poll_transmit`](Self::poll_transmit), then read
/// [`poll_timeout`](Self::poll_timeout), then drain [`poll_event`](Self::poll_event); `now`
/// never goes backwards. At most one GET and one POST are in flight; messages sent while a POST
/// is in flight are batched into the next one, up to the server's `maxPayload`.
#[derive(Debug)]
pub struct ClientSession {
    config: Arc<ClientConfig>,
    rng: ChaCha20Rng,
    state: State,
    transport: Transport,
    upgrade: Upgrade,
    handshake: Option<OpenPacket>,
    next_id: u64,
    handshake_req: Option<RequestId>,
    get_req: Option<RequestId>,
    post_req: Option<RequestId>,
    out: VecDeque<Packet>,
    transmits: VecDeque<ClientTransmit>,
    events: VecDeque<ClientEvent>,
    open_deadline: Option<Instant>,
    ping_deadline: Option<Instant>,
}

impl ClientSession {
    /// Starts a session: the first transmit is the handshake (a polling GET, or a WebSocket
    /// when polling is disabled). `seed` feeds the cache-busting `t=` parameter only.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the configuration is out of range.
    pub fn new(
        config: Arc<ClientConfig>,
        now: Instant,
        seed: [u8; 32],
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let transport = if config.transports.polling {
            Transport::Polling
        } else {
            Transport::WebSocket
        };
        let mut s = Self {
            rng: ChaCha20Rng::from_seed(seed),
            state: State::Opening,
            transport,
            upgrade: Upgrade::None,
            handshake: None,
            next_id: 0,
            handshake_req: None,
            get_req: None,
            post_req: None,
            out: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            open_deadline: Some(now + config.open_timeout),
            ping_deadline: None,
            config,
        };
        match transport {
            Transport::Polling => {
                let id = s.request(Method::Get, None);
                s.handshake_req = Some(id);
            }
            Transport::WebSocket => {
                let query = s.query(Transport::WebSocket);
                s.transmits.push_back(ClientTransmit::WsOpen { query });
            }
        }
        Ok(s)
    }

    // A. getters

    /// The handshake data, once open.
    #[must_use]
    pub fn handshake(&self) -> Option<&OpenPacket> {
        self.handshake.as_ref()
    }

    /// The session id, once open.
    #[must_use]
    pub fn sid(&self) -> Option<&str> {
        self.handshake.as_ref().map(|h| h.sid.as_str())
    }

    /// The transport in use.
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Whether the handshake completed and the session has not ended.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the session has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the next message would go out right away rather than wait in the queue (the
    /// JS client's "writable"); `volatile` sends are dropped when this is false.
    #[must_use]
    pub fn is_writable(&self) -> bool {
        self.state == State::Open
            && !matches!(self.upgrade, Upgrade::Pausing { .. })
            && (self.transport == Transport::WebSocket || self.post_req.is_none())
    }

    // B. input

    /// An HTTP request finished.
    ///
    /// # Errors
    ///
    /// The [`ProtocolError`] that closed the session, for logging.
    pub fn handle_http_response(
        &mut self,
        now: Instant,
        id: RequestId,
        result: HttpResult,
    ) -> Result<(), ProtocolError> {
        if self.state == State::Closed {
            return Ok(());
        }
        let kind = if self.handshake_req == Some(id) {
            self.handshake_req = None;
            Kind::Handshake
        } else if self.get_req == Some(id) {
            self.get_req = None;
            Kind::Get
        } else if self.post_req == Some(id) {
            self.post_req = None;
            Kind::Post
        } else {
            return Ok(());
        };
        let body = match result {
            HttpResult::Response { status: 200, body } => body,
            HttpResult::Response { status, .. } => {
                return Err(self.fail(ProtocolError::HttpStatus(status)));
            }
            HttpResult::Failed => return Err(self.fail(ProtocolError::TransportFailure)),
        };
        let result = match kind {
            Kind::Post => Ok(()),
            Kind::Handshake | Kind::Get => self.on_payload(now, body, kind == Kind::Handshake),
        };
        if let Err(e) = result {
            return Err(self.fail(e));
        }
        if self.state == State::Open && self.transport == Transport::Polling {
            if matches!(self.upgrade, Upgrade::Pausing { .. }) {
                self.maybe_finish_upgrade();
            } else if self.get_req.is_none() {
                let id = self.request(Method::Get, None);
                self.get_req = Some(id);
            }
        }
        self.flush();
        Ok(())
    }

    /// The WebSocket asked for by [`ClientTransmit::WsOpen`] is open.
    pub fn handle_ws_open(&mut self, now: Instant) {
        let _ = now;
        if let Upgrade::Connecting { deadline } = self.upgrade {
            self.upgrade = Upgrade::Probing { deadline };
            self.transmits
                .push_back(ClientTransmit::Ws(WsMessage::Text("2probe".into())));
        }
    }

    /// A WebSocket frame arrived.
    ///
    /// # Errors
    ///
    /// The [`ProtocolError`] that closed the session, for logging.
    pub fn handle_ws_message(&mut self, now: Instant, msg: WsMessage) -> Result<(), ProtocolError> {
        if self.state == State::Closed {
            return Ok(());
        }
        let max = self.config.max_payload;
        if let Upgrade::Probing { deadline } = self.upgrade {
            match Packet::decode_ws(&msg) {
                Ok(Packet::Pong(d)) if d == "probe" && msg.len() as u64 <= max => {
                    self.upgrade = Upgrade::Pausing { deadline };
                    self.maybe_finish_upgrade();
                }
                _ => self.abort_upgrade(true),
            }
            return Ok(());
        }
        if self.transport != Transport::WebSocket {
            return Ok(());
        }
        if msg.len() as u64 > max {
            return Err(self.fail(ProtocolError::PayloadTooLarge {
                len: msg.len(),
                max,
            }));
        }
        let result = Packet::decode_ws(&msg)
            .map_err(ProtocolError::from)
            .and_then(|p| {
                if self.state == State::Opening {
                    match p {
                        Packet::Open(open) => {
                            self.on_open(now, open);
                            Ok(())
                        }
                        other => Err(ProtocolError::UnexpectedPacket(other.packet_type())),
                    }
                } else {
                    self.on_packet(now, p)
                }
            });
        if let Err(e) = result {
            return Err(self.fail(e));
        }
        self.flush();
        Ok(())
    }

    /// The WebSocket closed or could not be opened. A probe only aborts the upgrade; the
    /// session's own WebSocket closing ends the session with `transport close`.
    pub fn handle_ws_closed(&mut self, now: Instant) {
        let _ = now;
        if self.state == State::Closed {
            return;
        }
        if self.is_upgrading() {
            self.abort_upgrade(false);
        } else if self.transport == Transport::WebSocket {
            self.close_with(CloseReason::TransportClose);
        }
    }

    /// Time passed: enforces the handshake, ping and upgrade deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.open_deadline.is_some_and(|d| now >= d) {
            self.fail(ProtocolError::HandshakeTimeout);
            return;
        }
        if self.ping_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::PingTimeout);
            return;
        }
        if self.upgrade_deadline().is_some_and(|d| now >= d) {
            self.abort_upgrade(true);
        }
    }

    // C. commands

    /// Queues a message for the server.
    ///
    /// Text sent over polling must not contain U+001E, the payload record separator (as in
    /// the reference); Socket.IO's JSON never does.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] after a close, [`SendError::Full`] at the queue limit.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        if self.state == State::Closed {
            return Err(SendError::Closed(Frame::message(msg)));
        }
        if self.out.len() >= self.config.max_buffered_packets {
            return Err(SendError::Full(Frame::message(msg)));
        }
        self.out.push_back(Packet::Message(msg));
        self.flush();
        Ok(())
    }

    /// Closes the session (`forced close`): a `1` in a POST over polling, a closed socket over
    /// WebSocket.
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Open && self.transport == Transport::Polling {
            // Messages already queued go first, in the same POST when no POST is in flight and
            // they fit within the server's maxPayload together with the close packet.
            let max = self.server_max_payload();
            let mut enc = PayloadEncoder::new(max);
            if self.post_req.is_none() {
                let queued: usize = self.out.iter().map(|p| p.encoded_text_len() + 1).sum();
                if queued < max {
                    for p in self.out.drain(..) {
                        enc.push(&p);
                    }
                }
            }
            enc.push(&Packet::Close);
            let body = enc.finish().into_bytes();
            let _ = self.request(Method::Post, Some(body));
        }
        self.close_with(CloseReason::ForcedClose);
    }

    // D. output

    /// The next thing for the runtime to do.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ClientTransmit> {
        let _ = now;
        self.transmits.pop_front()
    }

    /// When [`ClientSession::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        [
            self.open_deadline,
            self.ping_deadline,
            self.upgrade_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    // internals

    fn is_upgrading(&self) -> bool {
        matches!(
            self.upgrade,
            Upgrade::Connecting { .. } | Upgrade::Probing { .. } | Upgrade::Pausing { .. }
        )
    }

    fn upgrade_deadline(&self) -> Option<Instant> {
        match self.upgrade {
            Upgrade::Connecting { deadline }
            | Upgrade::Probing { deadline }
            | Upgrade::Pausing { deadline } => Some(deadline),
            Upgrade::None | Upgrade::Done => None,
        }
    }

    fn query(&mut self, transport: Transport) -> String {
        let mut q = format!("EIO=4&transport={}", transport.as_str());
        if let Some(h) = &self.handshake {
            let _ = write!(q, "&sid={}", h.sid);
        }
        if transport == Transport::Polling && self.config.timestamp_requests {
            let _ = write!(q, "&t={:x}", self.rng.next_u64());
        }
        if !self.config.query.is_empty() {
            q.push('&');
            q.push_str(&self.config.query);
        }
        q
    }

    fn request(&mut self, method: Method, body: Option<Bytes>) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let query = self.query(Transport::Polling);
        self.transmits.push_back(ClientTransmit::Http(HttpRequest {
            id,
            method,
            query,
            body,
        }));
        id
    }

    fn on_open(&mut self, now: Instant, open: OpenPacket) {
        self.state = State::Open;
        self.open_deadline = None;
        self.ping_deadline = Some(now + ms(open.ping_interval) + ms(open.ping_timeout));
        let upgrade = self.transport == Transport::Polling
            && self.config.upgrade
            && self.config.transports.websocket
            && open.upgrades.iter().any(|u| u == "websocket");
        self.events.push_back(ClientEvent::Open(open.clone()));
        self.handshake = Some(open);
        if upgrade {
            self.upgrade = Upgrade::Connecting {
                deadline: now + self.config.upgrade_timeout,
            };
            let query = self.query(Transport::WebSocket);
            self.transmits.push_back(ClientTransmit::WsOpen { query });
        }
    }

    fn on_payload(
        &mut self,
        now: Instant,
        body: Bytes,
        handshake: bool,
    ) -> Result<(), ProtocolError> {
        if body.len() as u64 > self.config.max_payload {
            return Err(ProtocolError::PayloadTooLarge {
                len: body.len(),
                max: self.config.max_payload,
            });
        }
        let mut packets = PayloadDecoder::new(body)?;
        if handshake {
            match packets.next() {
                Some(Ok(Packet::Open(open))) => self.on_open(now, open),
                Some(Ok(p)) => return Err(ProtocolError::UnexpectedPacket(p.packet_type())),
                Some(Err(e)) => return Err(e.into()),
                None => return Err(DecodeError::Empty.into()),
            }
        }
        for p in packets {
            self.on_packet(now, p?)?;
            if self.state == State::Closed {
                break;
            }
        }
        Ok(())
    }

    fn on_packet(&mut self, now: Instant, packet: Packet) -> Result<(), ProtocolError> {
        match packet {
            Packet::Ping(data) => {
                if let Some(h) = &self.handshake {
                    self.ping_deadline = Some(now + ms(h.ping_interval) + ms(h.ping_timeout));
                }
                self.out.push_front(Packet::Pong(data));
            }
            Packet::Message(m) => self.events.push_back(ClientEvent::Message(m)),
            Packet::Close => self.close_with(CloseReason::TransportClose),
            Packet::Noop | Packet::Upgrade | Packet::Pong(_) => {}
            Packet::Open(_) => {
                return Err(ProtocolError::UnexpectedPacket(crate::PacketType::Open));
            }
        }
        Ok(())
    }

    /// Switches to the WebSocket once nothing is in flight over polling.
    fn maybe_finish_upgrade(&mut self) {
        if matches!(self.upgrade, Upgrade::Pausing { .. })
            && self.get_req.is_none()
            && self.post_req.is_none()
        {
            self.upgrade = Upgrade::Done;
            self.transport = Transport::WebSocket;
            self.transmits
                .push_back(ClientTransmit::Ws(WsMessage::Text("5".into())));
            self.events.push_back(ClientEvent::Upgraded);
            self.flush();
        }
    }

    fn abort_upgrade(&mut self, close_socket: bool) {
        let was_pausing = matches!(self.upgrade, Upgrade::Pausing { .. });
        self.upgrade = Upgrade::None;
        if close_socket {
            self.transmits.push_back(ClientTransmit::WsClose);
        }
        if was_pausing && self.state == State::Open && self.get_req.is_none() {
            let id = self.request(Method::Get, None);
            self.get_req = Some(id);
        }
        self.flush();
    }

    /// Sends queued packets if the transport can take them.
    fn flush(&mut self) {
        if self.state != State::Open || matches!(self.upgrade, Upgrade::Pausing { .. }) {
            return;
        }
        match self.transport {
            Transport::WebSocket => {
                while let Some(p) = self.out.pop_front() {
                    self.transmits.push_back(ClientTransmit::Ws(p.encode_ws()));
                }
            }
            Transport::Polling => {
                if self.post_req.is_some() || self.out.is_empty() {
                    return;
                }
                let max = self.server_max_payload();
                let mut enc = PayloadEncoder::new(max);
                while let Some(p) = self.out.front() {
                    if !enc.push(p) {
                        break;
                    }
                    self.out.pop_front();
                }
                let body = enc.finish().into_bytes();
                let id = self.request(Method::Post, Some(body));
                self.post_req = Some(id);
            }
        }
    }

    /// The server's `maxPayload`, once known.
    fn server_max_payload(&self) -> usize {
        self.handshake
            .as_ref()
            .and_then(|h| h.max_payload)
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(usize::MAX)
    }

    fn fail(&mut self, err: ProtocolError) -> ProtocolError {
        self.close_with(CloseReason::ProtocolViolation(err.clone()));
        err
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        if self.transport == Transport::WebSocket || self.is_upgrading() {
            self.transmits.push_back(ClientTransmit::WsClose);
        }
        self.state = State::Closed;
        self.upgrade = Upgrade::None;
        self.out.clear();
        self.open_deadline = None;
        self.ping_deadline = None;
        self.events.push_back(ClientEvent::Closed(reason));
    }
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Kind {
    Handshake,
    Get,
    Post,
}

fn ms(v: u64) -> std::time::Duration {
    std::time::Duration::from_millis(v)
}
