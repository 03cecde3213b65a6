//! The per-session server state machine.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::config::ServerConfig;
use crate::error::{ProtocolError, RequestError, SendError};
use crate::http::HttpResponse;
use crate::packet::{Message, OpenPacket, Packet, WsMessage};
use crate::payload::{PayloadDecoder, PayloadEncoder};
use crate::session::{CloseReason, Frame, Transport};
use crate::sid::Sid;

/// Something the runtime must put on the wire.
#[derive(Clone, Debug, Eq, PartialEq)]
#[must_use]
#[non_exhaustive]
pub enum Transmit {
    /// Complete the waiting GET with this response.
    PollResponse(HttpResponse),
    /// Write one frame on the session's WebSocket (the probe socket while upgrading).
    Ws(WsMessage),
    /// Close the WebSocket: the probe failed, or the session ended.
    WsClose,
}

/// Something that happened to the session, for the application.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The client sent a message.
    Message(Message),
    /// The session moved from polling to WebSocket.
    Upgraded,
    /// The session ended; no more events follow. The runtime removes the sid from its map.
    Closed(CloseReason),
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum State {
    Open,
    /// The application closed a polling session: buffered packets, then `1`, go to the next
    /// GET. `deferred` records that no GET was waiting when the close began.
    Closing {
        deferred: bool,
    },
    Closed,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Upgrade {
    None,
    /// A probe WebSocket is open; `probed` once `2probe` was answered.
    Pending {
        deadline: Instant,
        probed: bool,
    },
    Done,
}

/// One Engine.IO session on the server: heartbeat, polling, the WebSocket upgrade and closes.
///
/// It performs no I/O and reads no clock. The runtime feeds it what happened and carries out
/// what it asks for. The methods come in four groups:
///
/// - A. getters: [`sid`](Self::sid), [`transport`](Self::transport),
///   [`is_closed`](Self::is_closed);
/// - B. input from the network and the clock: `handle_*`;
/// - C. commands from the application: [`send`](Self::send), [`send_frame`](Self::send_frame),
///   [`close`](Self::close);
/// - D. output: [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout),
///   [`poll_event`](Self::poll_event).
///
/// The contract: after any B or C call, drain `poll_transmit` until `None`, then read
/// `poll_timeout` and call [`handle_timeout`](Self::handle_timeout) when it is reached, then
/// drain `poll_event`. `now` never goes backwards. Calling `handle_timeout` early is a no-op.
///
/// A `handle_*` method returning `Err` tells how to answer the HTTP request at hand; whether the
/// session closed as a result is reported, as always, by [`Event::Closed`].
#[derive(Debug)]
pub struct ServerSession {
    sid: Sid,
    config: Arc<ServerConfig>,
    state: State,
    transport: Transport,
    upgrade: Upgrade,
    /// A GET is waiting for a response.
    get_waiting: bool,
    /// A POST body is being read.
    post_in_progress: bool,
    /// Outgoing frames not yet handed to the runtime.
    out: VecDeque<Frame>,
    out_bytes: usize,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    close_deadline: Option<Instant>,
    scratch: String,
}

impl ServerSession {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        sid: Sid,
        transport: Transport,
        now: Instant,
    ) -> Self {
        let upgrades = if transport == Transport::Polling
            && config.allow_upgrades
            && config.transports.websocket
        {
            vec!["websocket".to_owned()]
        } else {
            Vec::new()
        };
        let open = OpenPacket::new(
            sid.as_str(),
            upgrades,
            duration_ms(config.ping_interval),
            duration_ms(config.ping_timeout),
            Some(config.max_payload),
        );
        let mut session = Self {
            sid,
            state: State::Open,
            transport,
            upgrade: Upgrade::None,
            // The handshake GET itself waits for the open packet.
            get_waiting: transport == Transport::Polling,
            post_in_progress: false,
            out: VecDeque::new(),
            out_bytes: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_ping: Some(now + config.ping_interval),
            pong_deadline: None,
            close_deadline: None,
            scratch: String::new(),
            config,
        };
        session.push_control(Frame::from_packet(&Packet::Open(open)));
        session.flush();
        session
    }

    // A. getters

    /// The session id.
    #[must_use]
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The transport in use: polling until an upgrade completes.
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Whether the session has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether a probe WebSocket is open and the upgrade not yet complete.
    #[must_use]
    pub fn is_upgrading(&self) -> bool {
        matches!(self.upgrade, Upgrade::Pending { .. })
    }

    /// Packets queued and not yet handed to the runtime.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    // B. input from the network and the clock

    /// A GET (long-poll) arrived for this session. On `Ok`, keep the request: a later
    /// [`Transmit::PollResponse`] answers it.
    ///
    /// # Errors
    ///
    /// Answer the request with the error's response. A second GET while one waits closes the
    /// session (the waiting one receives `1`); a GET on an upgraded session is
    /// [`RequestError::BadRequest`] and leaves the session alone.
    pub fn handle_poll(&mut self, now: Instant) -> Result<(), RequestError> {
        let _ = now;
        self.check_polling()?;
        if self.get_waiting {
            let err = ProtocolError::DuplicatePoll;
            self.close_with(CloseReason::ProtocolViolation(err.clone()));
            return Err(RequestError::ProtocolViolation(err));
        }
        self.get_waiting = true;
        self.flush();
        Ok(())
    }

    /// The waiting GET's connection went away before it was answered: the session closes with
    /// `transport error`, as the reference does. A no-op when no GET is waiting.
    pub fn handle_poll_aborted(&mut self, now: Instant) {
        let _ = now;
        if self.get_waiting && self.state != State::Closed {
            self.get_waiting = false;
            self.close_with(CloseReason::ProtocolViolation(ProtocolError::PollAborted));
        }
    }

    /// A POST arrived and its body is about to be read. Optional: lets the session detect a
    /// second POST overlapping the first, as the reference does.
    ///
    /// # Errors
    ///
    /// As [`ServerSession::handle_post`]; an overlap closes the session.
    pub fn handle_post_start(&mut self, now: Instant) -> Result<(), RequestError> {
        let _ = now;
        self.check_polling()?;
        if self.post_in_progress {
            let err = ProtocolError::OverlappingPost;
            self.close_with(CloseReason::ProtocolViolation(err.clone()));
            return Err(RequestError::ProtocolViolation(err));
        }
        self.post_in_progress = true;
        Ok(())
    }

    /// A complete POST body arrived. Its packets are processed in order before this returns,
    /// so replies the application queues while handling them are ready for the next GET.
    /// On `Ok`, answer [`HttpResponse::ok`].
    ///
    /// # Errors
    ///
    /// Answer with the error's response. An oversized body (413) or a payload that does not
    /// decode (400) closes the session; a POST on an upgraded session is
    /// [`RequestError::BadRequest`].
    pub fn handle_post(&mut self, now: Instant, body: Bytes) -> Result<(), RequestError> {
        self.check_polling()?;
        self.post_in_progress = false;
        if body.len() as u64 > self.config.max_payload {
            let err = ProtocolError::PayloadTooLarge {
                len: body.len(),
                max: self.config.max_payload,
            };
            self.close_with(CloseReason::ProtocolViolation(err));
            return Err(RequestError::PayloadTooLarge);
        }
        let decoder = match PayloadDecoder::new(body) {
            Ok(d) => d,
            Err(e) => return Err(self.reject(ProtocolError::Decode(e))),
        };
        for packet in decoder {
            let result = packet
                .map_err(ProtocolError::Decode)
                .and_then(|p| self.on_packet(now, p));
            if let Err(e) = result {
                return Err(self.reject(e));
            }
            if self.state == State::Closed {
                break;
            }
        }
        self.flush();
        Ok(())
    }

    /// The runtime found the transport broken or a request unacceptable: a reset connection,
    /// a WebSocket error, a body over the limit, a binary POST. The session closes with
    /// `transport error` (`parse error` for a decode error).
    pub fn handle_transport_error(&mut self, now: Instant, error: ProtocolError) {
        let _ = now;
        self.post_in_progress = false;
        self.close_with(CloseReason::ProtocolViolation(error));
    }

    /// A probe WebSocket for this polling session completed its handshake.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadRequest`] when the session cannot upgrade (already upgrading or
    /// upgraded, WebSocket-only, upgrades disabled, closed). The runtime closes that new
    /// WebSocket; the session is unaffected. The reference accepts such a socket and then
    /// closes it, which clients without an error handler need.
    pub fn handle_ws_open(&mut self, now: Instant) -> Result<(), RequestError> {
        let allowed = self.state == State::Open
            && self.transport == Transport::Polling
            && self.upgrade == Upgrade::None
            && self.config.allow_upgrades
            && self.config.transports.websocket;
        if !allowed {
            return Err(RequestError::BadRequest);
        }
        self.upgrade = Upgrade::Pending {
            deadline: now + self.config.upgrade_timeout,
            probed: false,
        };
        Ok(())
    }

    /// A WebSocket frame arrived: on the probe socket while upgrading, else on the session's
    /// WebSocket.
    ///
    /// # Errors
    ///
    /// The [`ProtocolError`] that closed the session, for logging.
    pub fn handle_ws_message(&mut self, now: Instant, msg: WsMessage) -> Result<(), ProtocolError> {
        if self.state == State::Closed {
            return Ok(());
        }
        if msg.len() as u64 > self.config.max_payload {
            let err = ProtocolError::PayloadTooLarge {
                len: msg.len(),
                max: self.config.max_payload,
            };
            if self.is_upgrading() {
                self.abort_upgrade(true);
                return Ok(());
            }
            self.close_with(CloseReason::ProtocolViolation(err.clone()));
            return Err(err);
        }
        if let Upgrade::Pending { probed, .. } = self.upgrade {
            self.on_probe_frame(now, &msg, probed);
            self.flush();
            return Ok(());
        }
        if self.transport != Transport::WebSocket {
            // No WebSocket belongs to this session; a runtime would not call this.
            return Ok(());
        }
        let result = Packet::decode_ws(&msg)
            .map_err(ProtocolError::Decode)
            .and_then(|p| self.on_packet(now, p));
        if let Err(e) = &result {
            self.close_with(CloseReason::ProtocolViolation(e.clone()));
        }
        self.flush();
        result
    }

    /// The WebSocket closed (or failed to open). A probe socket only aborts the upgrade; the
    /// session's own WebSocket closing ends the session with `transport close`.
    pub fn handle_ws_closed(&mut self, now: Instant) {
        let _ = now;
        if self.is_upgrading() {
            self.abort_upgrade(false);
            self.flush();
        } else if self.transport == Transport::WebSocket && self.state != State::Closed {
            self.close_with(CloseReason::TransportClose);
        }
    }

    /// Time passed: sends pings, enforces the pong, upgrade and close deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::PingTimeout);
            return;
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::ForcedClose);
            return;
        }
        if let Upgrade::Pending { deadline, .. } = self.upgrade
            && now >= deadline
        {
            self.abort_upgrade(true);
        }
        if self.next_ping.is_some_and(|d| now >= d) && self.state == State::Open {
            self.next_ping = None;
            // The pong deadline runs from when the ping is queued, not when it is delivered.
            self.pong_deadline = Some(now + self.config.ping_timeout);
            self.push_control(Frame::from_packet(&Packet::ping()));
        }
        self.flush();
    }

    // C. commands from the application

    /// Queues a message for the client.
    ///
    /// Text sent over polling must not contain U+001E, the payload record separator (as in
    /// the reference); Socket.IO's JSON never does.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] after a close, [`SendError::Full`] when the queue is at its
    /// packet or byte limit; the frame is handed back.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        self.send_frame(Frame::message(msg))
    }

    /// Queues a pre-encoded message frame; cloning one frame for many sessions shares its
    /// bytes.
    ///
    /// # Errors
    ///
    /// As [`ServerSession::send`].
    pub fn send_frame(&mut self, frame: Frame) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed(frame));
        }
        if self.out.len() >= self.config.max_buffered_packets
            || self.out_bytes + frame.len() > self.config.max_buffered_bytes
        {
            return Err(SendError::Full(frame));
        }
        self.out_bytes += frame.len();
        self.out.push_back(frame);
        self.flush();
        Ok(())
    }

    /// Closes the session (`forced close`). Queued packets are delivered first: over
    /// WebSocket they precede the close; over polling the next GET carries them and the close
    /// packet, or the close is forced after `close_timeout`.
    pub fn close(&mut self, now: Instant) {
        if self.state != State::Open {
            return;
        }
        if self.is_upgrading() {
            self.abort_upgrade(true);
        }
        match self.transport {
            Transport::WebSocket => {
                while let Some(f) = self.pop_out() {
                    self.transmits.push_back(Transmit::Ws(f.to_ws()));
                }
                self.close_with(CloseReason::ForcedClose);
            }
            Transport::Polling => {
                self.state = State::Closing {
                    deferred: !self.get_waiting,
                };
                self.close_deadline = Some(now + self.config.close_timeout);
                self.next_ping = None;
                self.pong_deadline = None;
                self.flush();
            }
        }
    }

    // D. output

    /// The next thing to put on the wire.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let _ = now;
        if let Some(t) = self.transmits.pop_front() {
            return Some(t);
        }
        if self.transport == Transport::WebSocket && self.state != State::Closed {
            return self.pop_out().map(|f| Transmit::Ws(f.to_ws()));
        }
        None
    }

    /// When [`ServerSession::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let upgrade = match self.upgrade {
            Upgrade::Pending { deadline, .. } => Some(deadline),
            _ => None,
        };
        [
            self.next_ping,
            self.pong_deadline,
            self.close_deadline,
            upgrade,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // internals

    fn check_polling(&self) -> Result<(), RequestError> {
        if self.state == State::Closed {
            return Err(RequestError::UnknownSid);
        }
        if self.transport != Transport::Polling {
            return Err(RequestError::BadRequest);
        }
        Ok(())
    }

    /// Closes for a bad POST and builds the request's error.
    fn reject(&mut self, err: ProtocolError) -> RequestError {
        self.close_with(CloseReason::ProtocolViolation(err.clone()));
        RequestError::ProtocolViolation(err)
    }

    /// Handles one packet from the client on the current transport.
    fn on_packet(&mut self, now: Instant, packet: Packet) -> Result<(), ProtocolError> {
        match packet {
            Packet::Message(m) => {
                if self.state != State::Closed {
                    self.events.push_back(Event::Message(m));
                }
            }
            Packet::Pong(_) => {
                self.pong_deadline = None;
                if self.state == State::Open {
                    self.next_ping = Some(now + self.config.ping_interval);
                }
            }
            Packet::Close => {
                if self.get_waiting && self.transport == Transport::Polling {
                    self.get_waiting = false;
                    self.transmits
                        .push_back(Transmit::PollResponse(noop_response()));
                }
                self.close_with(CloseReason::TransportClose);
            }
            Packet::Ping(_) => return Err(ProtocolError::InvalidHeartbeatDirection),
            Packet::Noop => {}
            p @ (Packet::Open(_) | Packet::Upgrade) => {
                return Err(ProtocolError::UnexpectedPacket(p.packet_type()));
            }
        }
        Ok(())
    }

    /// A frame on the probe WebSocket: `2probe`, then `5`; anything else aborts the upgrade.
    fn on_probe_frame(&mut self, now: Instant, msg: &WsMessage, probed: bool) {
        let packet = Packet::decode_ws(msg);
        match (packet, probed) {
            (Ok(Packet::Ping(data)), false) if data == "probe" => {
                self.transmits
                    .push_back(Transmit::Ws(WsMessage::Text("3probe".into())));
                if let Upgrade::Pending { deadline, .. } = self.upgrade {
                    self.upgrade = Upgrade::Pending {
                        deadline,
                        probed: true,
                    };
                }
            }
            (Ok(Packet::Upgrade), true) => {
                self.upgrade = Upgrade::Done;
                self.transport = Transport::WebSocket;
                if self.get_waiting {
                    self.get_waiting = false;
                    self.transmits
                        .push_back(Transmit::PollResponse(noop_response()));
                }
                self.events.push_back(Event::Upgraded);
                let _ = now;
            }
            _ => self.abort_upgrade(true),
        }
    }

    fn abort_upgrade(&mut self, close_socket: bool) {
        if self.is_upgrading() {
            self.upgrade = Upgrade::None;
            if close_socket {
                self.transmits.push_back(Transmit::WsClose);
            }
        }
    }

    /// Control packets (open, ping) bypass the queue limits.
    fn push_control(&mut self, frame: Frame) {
        self.out_bytes += frame.len();
        self.out.push_back(frame);
    }

    fn pop_out(&mut self) -> Option<Frame> {
        let f = self.out.pop_front()?;
        self.out_bytes -= f.len();
        Some(f)
    }

    /// Answers the waiting GET when there is something to say.
    fn flush(&mut self) {
        if self.transport != Transport::Polling || !self.get_waiting {
            return;
        }
        match self.state {
            State::Closed => {}
            State::Open => {
                if !self.out.is_empty() {
                    let (body, _) = self.drain_payload(false);
                    self.answer_get(body);
                } else if matches!(self.upgrade, Upgrade::Pending { probed: true, .. }) {
                    // Release the poll so the client can finish the upgrade.
                    self.answer_get(Bytes::from_static(b"6"));
                }
            }
            State::Closing { deferred } => {
                let (body, done) = if self.out.is_empty() && deferred {
                    (Bytes::from_static(b"6\x1e1"), true)
                } else {
                    self.drain_payload(true)
                };
                self.answer_get(body);
                if done {
                    self.close_with(CloseReason::ForcedClose);
                }
            }
        }
    }

    fn answer_get(&mut self, body: Bytes) {
        self.get_waiting = false;
        self.transmits
            .push_back(Transmit::PollResponse(HttpResponse::payload(body)));
    }

    /// Joins queued frames into one payload of at most `max_payload` bytes and
    /// `max_packets_per_poll` packets (at least one frame), appending `1` when closing and
    /// everything fit; says whether `1` went in.
    fn drain_payload(&mut self, closing: bool) -> (Bytes, bool) {
        let max = usize::try_from(self.config.max_payload).unwrap_or(usize::MAX);
        let max_packets = self
            .config
            .max_packets_per_poll
            .unwrap_or(usize::MAX)
            .max(1);
        let mut packets = 0;
        // Reserve about what the queue needs (up to the budget; binary grows by a third as
        // base64) so the body is mostly written in place.
        let queued = self.out_bytes + self.out.len();
        let mut enc = PayloadEncoder::with_capacity(max, queued);
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(f) = self.out.front() {
            if packets == max_packets
                || (!enc.is_empty() && enc.len_with_encoded(f.polling_len()) > max)
            {
                break;
            }
            if !f.push_polling(&mut enc, &mut scratch) {
                break;
            }
            packets += 1;
            let _ = self.pop_out();
        }
        self.scratch = scratch;
        let closed =
            closing && self.out.is_empty() && packets < max_packets && enc.push(&Packet::Close);
        (enc.finish().into_bytes(), closed)
    }

    /// Ends the session now. A waiting GET receives `1`; a WebSocket is closed.
    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        if self.is_upgrading() {
            self.abort_upgrade(true);
        }
        self.state = State::Closed;
        self.out.clear();
        self.out_bytes = 0;
        self.next_ping = None;
        self.pong_deadline = None;
        self.close_deadline = None;
        match self.transport {
            Transport::Polling => {
                if self.get_waiting {
                    self.get_waiting = false;
                    self.transmits
                        .push_back(Transmit::PollResponse(HttpResponse::payload(
                            Bytes::from_static(b"1"),
                        )));
                }
            }
            Transport::WebSocket => self.transmits.push_back(Transmit::WsClose),
        }
        self.events.push_back(Event::Closed(reason));
    }
}

fn noop_response() -> HttpResponse {
    HttpResponse::payload(Bytes::from_static(b"6"))
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
