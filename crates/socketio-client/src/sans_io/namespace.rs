//! One namespace socket of the client, without I/O: connect state, acks, buffers, retries.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use socketio_proto::{AckId, Namespace, Packet, Payload};

use super::acks::AckTable;
use super::buffer::OfflineBuffer;

/// Why a namespace socket disconnected, named as the JS client names it.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server disconnected the socket (`socket.disconnect()` on the server); no
    /// reconnection follows.
    IoServerDisconnect,
    /// The application called `disconnect`; no reconnection follows.
    IoClientDisconnect,
    /// The server stopped pinging.
    PingTimeout,
    /// The connection was closed (the server went away, a network change).
    TransportClose,
    /// The connection failed (an HTTP error, a reset, a protocol violation).
    TransportError,
    /// The server sent something that could not be decoded.
    ParseError,
    /// The application closed the whole manager.
    ForcedClose,
}

impl DisconnectReason {
    /// The JS client's reason string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IoServerDisconnect => "io server disconnect",
            Self::IoClientDisconnect => "io client disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::ParseError => "parse error",
            Self::ForcedClose => "forced close",
        }
    }

    /// Whether the manager reconnects after this reason (the socket stays active).
    #[must_use]
    pub const fn reconnects(self) -> bool {
        !matches!(
            self,
            Self::IoServerDisconnect | Self::IoClientDisconnect | Self::ForcedClose
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an acknowledgement will never come.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum AckFailure {
    /// The deadline passed (for a retried emit: after the last try).
    Timeout,
    /// The socket disconnected before the reply came.
    Disconnected,
}

/// Settings of one namespace socket.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct NamespaceConfig {
    /// Retries of an emit whose ack did not come in time (`retries`); `None` disables the
    /// retry queue. With it, non-volatile emits go one at a time, each waiting for its ack.
    pub retries: Option<u32>,
    /// Default ack deadline (`ackTimeout`); `None` waits until the socket disconnects.
    pub ack_timeout: Option<Duration>,
    /// Most packets held while disconnected (the offline buffer) and in the retry queue
    /// (1024 each); beyond that an emit is refused.
    pub max_buffered: usize,
    /// Most events held when they arrive before the CONNECT reply (1024); more are dropped.
    pub max_receive_buffered: usize,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        Self {
            retries: None,
            ack_timeout: None,
            max_buffered: 1024,
            max_receive_buffered: 1024,
        }
    }
}

/// Per-emit options.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct EmitOptions {
    /// Drop the packet instead of buffering it when it cannot be written right away.
    pub volatile: bool,
    /// Ack deadline for this emit (overrides [`NamespaceConfig::ack_timeout`]).
    pub timeout: Option<Duration>,
}

impl EmitOptions {
    /// Options with `volatile` set.
    #[must_use]
    pub fn volatile(mut self, volatile: bool) -> Self {
        self.volatile = volatile;
        self
    }

    /// Options with an ack deadline.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What happened to an emit.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Emitted {
    /// Handed to the connection.
    Sent,
    /// Queued until the socket connects (or, with retries, until earlier packets are acked).
    Queued,
    /// Volatile and the connection was not writable: dropped.
    Dropped,
}

/// The emit was refused: the offline buffer (or retry queue) is full. The waiter comes back.
#[derive(Debug)]
pub struct BufferFull<W>(pub Option<W>);

/// Something the runtime must deliver to the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum NamespaceEvent<W> {
    /// The server accepted the CONNECT.
    Connected {
        /// The socket id the server assigned.
        sid: String,
    },
    /// The server refused the CONNECT (`CONNECT_ERROR`); the socket is inactive now.
    ConnectError {
        /// The `message` of the error object.
        message: String,
        /// The `data` of the error object (JSON), if any.
        data: Option<String>,
    },
    /// The socket disconnected.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// An event from the server.
    Event {
        /// `[name, args...]` and attachments.
        data: Payload,
        /// Set when the server waits for an acknowledgement.
        ack: Option<AckId>,
    },
    /// An emit's acknowledgement arrived, or never will.
    Ack {
        /// The waiter given to [`NamespaceSocket::emit`].
        waiter: W,
        /// The reply's arguments, or why there is none.
        result: Result<Payload, AckFailure>,
    },
}

#[derive(Debug)]
enum Owner<W> {
    User(W),
    Retry(u64),
}

#[derive(Debug)]
struct RetryEntry<W> {
    seq: u64,
    data: Payload,
    timeout: Option<Duration>,
    tries: u32,
    pending: Option<u64>,
    waiter: Option<W>,
}

/// One namespace socket (the JS client's `Socket` minus the I/O): the CONNECT handshake, the
/// ack table, the offline send buffer, the receive buffer for events that arrive before the
/// CONNECT reply, and the `retries` queue.
///
/// Contract as in the proto crates: feed `handle_*` and commands, then drain
/// [`NamespaceSocket::poll_transmit`] (packets for the connection) and
/// [`NamespaceSocket::poll_event`], and call [`NamespaceSocket::handle_timeout`] at
/// [`NamespaceSocket::poll_timeout`]. `W` is the runtime's ack waiter (a oneshot sender).
#[derive(Debug)]
pub struct NamespaceSocket<W> {
    ns: Namespace,
    config: NamespaceConfig,
    active: bool,
    connect_sent: bool,
    sid: Option<String>,
    acks: AckTable<Owner<W>>,
    send_buffer: OfflineBuffer<Packet>,
    receive_buffer: VecDeque<(Payload, Option<AckId>)>,
    queue: VecDeque<RetryEntry<W>>,
    queue_seq: u64,
    out: VecDeque<Packet>,
    events: VecDeque<NamespaceEvent<W>>,
    dropped_events: u64,
    unknown_acks: u64,
}

impl<W> NamespaceSocket<W> {
    /// A socket for `ns`, inactive until [`NamespaceSocket::open`].
    #[must_use]
    pub fn new(ns: Namespace, config: NamespaceConfig) -> Self {
        Self {
            ns,
            send_buffer: OfflineBuffer::new(config.max_buffered),
            config,
            active: false,
            connect_sent: false,
            sid: None,
            acks: AckTable::new(),
            receive_buffer: VecDeque::new(),
            queue: VecDeque::new(),
            queue_seq: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            unknown_acks: 0,
        }
    }

    // getters

    /// The namespace.
    #[must_use]
    pub fn ns(&self) -> &Namespace {
        &self.ns
    }

    /// The socket id, while connected.
    #[must_use]
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// Whether the server accepted the CONNECT and the socket has not disconnected since.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.sid.is_some()
    }

    /// Whether the socket wants to be connected (and so reconnects with the manager).
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Whether a CONNECT was sent and not answered yet.
    #[must_use]
    pub fn is_connecting(&self) -> bool {
        self.active && self.connect_sent && self.sid.is_none()
    }

    /// Acks waited for (user emits and retry attempts).
    #[must_use]
    pub fn pending_acks(&self) -> usize {
        self.acks.len()
    }

    /// Packets in the offline buffer.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.send_buffer.len()
    }

    /// Packets in the retry queue (the one in flight included).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Events dropped because the receive buffer was full.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Acks received for ids nobody waits for (late or bogus), ignored.
    #[must_use]
    pub fn unknown_acks(&self) -> u64 {
        self.unknown_acks
    }

    // commands

    /// Marks the socket as wanting a connection; the runtime then sends the CONNECT with
    /// [`NamespaceSocket::send_connect`] once the manager's connection is open.
    pub fn open(&mut self) {
        self.active = true;
    }

    /// Queues the CONNECT packet with the auth payload (the manager's connection is open).
    pub fn send_connect(&mut self, auth: Option<Payload>) {
        if !self.active || self.sid.is_some() {
            return;
        }
        self.connect_sent = true;
        self.out.push_back(Packet::Connect {
            ns: self.ns.clone(),
            auth,
        });
    }

    /// Emits an event: `data` is the `[name, args...]` payload. With a waiter, an ack id is
    /// allocated and the waiter is resolved through [`NamespaceEvent::Ack`]. `writable` says
    /// whether the connection can write right now (for volatile emits).
    ///
    /// # Errors
    ///
    /// [`BufferFull`] when the packet would have to be queued and the queue is full.
    pub fn emit(
        &mut self,
        now: Instant,
        data: Payload,
        waiter: Option<W>,
        opts: EmitOptions,
        writable: bool,
    ) -> Result<Emitted, BufferFull<W>> {
        if self.config.retries.is_some() && !opts.volatile {
            if self.queue.len() >= self.config.max_buffered {
                return Err(BufferFull(waiter));
            }
            let seq = self.queue_seq;
            self.queue_seq += 1;
            self.queue.push_back(RetryEntry {
                seq,
                data,
                timeout: opts.timeout,
                tries: 0,
                pending: None,
                waiter,
            });
            let head = self.queue.front().is_some_and(|e| e.seq == seq);
            self.drain_queue(now, false);
            return Ok(if head && self.is_connected() {
                Emitted::Sent
            } else {
                Emitted::Queued
            });
        }
        let connected = self.is_connected();
        if opts.volatile && !(writable && connected) {
            // Registered all the same, as in JS: a waiter then times out or fails on
            // disconnect rather than waiting forever.
            if let Some(w) = waiter {
                let deadline = self.deadline(now, opts.timeout);
                self.acks.insert(deadline, Owner::User(w));
            }
            return Ok(Emitted::Dropped);
        }
        if !connected && self.send_buffer.len() >= self.config.max_buffered {
            return Err(BufferFull(waiter));
        }
        let ack = waiter.map(|w| {
            let deadline = self.deadline(now, opts.timeout);
            AckId(self.acks.insert(deadline, Owner::User(w)))
        });
        let packet = Packet::Event {
            ns: self.ns.clone(),
            data,
            ack,
        };
        if connected {
            self.out.push_back(packet);
            Ok(Emitted::Sent)
        } else {
            // Checked above: there is room.
            let _ = self.send_buffer.push(packet);
            Ok(Emitted::Queued)
        }
    }

    /// Leaves the namespace (the application's `disconnect`): a DISCONNECT when connected,
    /// then [`DisconnectReason::IoClientDisconnect`]. No reconnection follows.
    pub fn disconnect(&mut self) {
        let was_connected = self.is_connected();
        if was_connected {
            self.out.push_back(Packet::Disconnect {
                ns: self.ns.clone(),
            });
        }
        self.active = false;
        self.connect_sent = false;
        if was_connected {
            self.on_close(DisconnectReason::IoClientDisconnect);
        }
    }

    // input

    /// A packet for this namespace arrived.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        match packet {
            Packet::Connect { auth, .. } => {
                let sid = auth.as_ref().and_then(|p| {
                    let v: serde_json::Value = serde_json::from_str(p.json()).ok()?;
                    v.get("sid")?.as_str().map(str::to_owned)
                });
                match sid {
                    Some(sid) if self.active => self.on_connect(now, sid),
                    Some(_) => {}
                    None => {
                        self.active = false;
                        self.events.push_back(NamespaceEvent::ConnectError {
                            message: "the server answered the CONNECT without a sid (a Socket.IO v2 server?)".into(),
                            data: None,
                        });
                    }
                }
            }
            Packet::Event { data, ack, .. } => {
                if self.is_connected() {
                    self.events.push_back(NamespaceEvent::Event { data, ack });
                } else if self.receive_buffer.len() < self.config.max_receive_buffered {
                    self.receive_buffer.push_back((data, ack));
                } else {
                    self.dropped_events += 1;
                }
            }
            Packet::Ack { data, id, .. } => match self.acks.take(id.0) {
                Some(Owner::User(waiter)) => self.events.push_back(NamespaceEvent::Ack {
                    waiter,
                    result: Ok(data),
                }),
                Some(Owner::Retry(seq)) => self.retry_outcome(now, seq, Ok(data)),
                None => self.unknown_acks += 1,
            },
            Packet::Disconnect { .. } => {
                let was_connected = self.is_connected();
                self.active = false;
                self.connect_sent = false;
                if was_connected {
                    self.on_close(DisconnectReason::IoServerDisconnect);
                }
            }
            Packet::ConnectError { data, .. } => {
                self.active = false;
                self.connect_sent = false;
                let (message, data) = parse_connect_error(&data);
                self.events
                    .push_back(NamespaceEvent::ConnectError { message, data });
            }
            // `Packet` is non-exhaustive; nothing else exists today.
            _ => {}
        }
    }

    /// The manager's connection closed (the socket stays active and reconnects with it,
    /// unless the reason says otherwise).
    pub fn handle_connection_closed(&mut self, now: Instant, reason: DisconnectReason) {
        let _ = now;
        self.connect_sent = false;
        if !reason.reconnects() {
            self.active = false;
        }
        if self.is_connected() {
            self.on_close(reason);
        } else {
            self.fail_unbuffered_acks();
        }
    }

    /// Time passed: expires ack deadlines (retrying queued emits).
    pub fn handle_timeout(&mut self, now: Instant) {
        for (id, owner) in self.acks.expire(now) {
            match owner {
                Owner::User(waiter) => {
                    self.send_buffer
                        .remove_where(|p| p.ack_id() == Some(AckId(id)));
                    self.events.push_back(NamespaceEvent::Ack {
                        waiter,
                        result: Err(AckFailure::Timeout),
                    });
                }
                Owner::Retry(seq) => self.retry_outcome(now, seq, Err(AckFailure::Timeout)),
            }
        }
    }

    // output

    /// The next packet to write on the connection.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        self.out.pop_front()
    }

    /// When [`NamespaceSocket::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.acks.poll_timeout()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<NamespaceEvent<W>> {
        self.events.pop_front()
    }

    // internals

    fn deadline(&self, now: Instant, timeout: Option<Duration>) -> Option<Instant> {
        timeout.or(self.config.ack_timeout).map(|t| now + t)
    }

    fn on_connect(&mut self, now: Instant, sid: String) {
        self.sid = Some(sid.clone());
        for (data, ack) in std::mem::take(&mut self.receive_buffer) {
            self.events.push_back(NamespaceEvent::Event { data, ack });
        }
        self.out.extend(self.send_buffer.drain());
        self.drain_queue(now, true);
        self.events.push_back(NamespaceEvent::Connected { sid });
    }

    fn on_close(&mut self, reason: DisconnectReason) {
        self.sid = None;
        self.events
            .push_back(NamespaceEvent::Disconnected { reason });
        // JS `_clearAcks`: acks of packets still in the offline buffer stay (they go out on
        // the next connect); the others fail now.
        self.fail_unbuffered_acks();
    }

    fn fail_unbuffered_acks(&mut self) {
        let buffer = &self.send_buffer;
        let failed = self
            .acks
            .drain_where(|id, _| !buffer.any(|p| p.ack_id() == Some(AckId(id))));
        let mut retried = Vec::new();
        for (_, owner) in failed {
            match owner {
                Owner::User(waiter) => self.events.push_back(NamespaceEvent::Ack {
                    waiter,
                    result: Err(AckFailure::Disconnected),
                }),
                Owner::Retry(seq) => retried.push(seq),
            }
        }
        for seq in retried {
            // Not connected: the head is only marked as not in flight (or given up after
            // its last try); it goes out again on connect.
            self.retry_failed_offline(seq);
        }
    }

    fn retry_failed_offline(&mut self, seq: u64) {
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        if head.seq != seq {
            return;
        }
        head.pending = None;
        if self.config.retries.is_some_and(|r| head.tries > r)
            && let Some(entry) = self.queue.pop_front()
            && let Some(waiter) = entry.waiter
        {
            self.events.push_back(NamespaceEvent::Ack {
                waiter,
                result: Err(AckFailure::Disconnected),
            });
        }
    }

    fn retry_outcome(&mut self, now: Instant, seq: u64, result: Result<Payload, AckFailure>) {
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        if head.seq != seq {
            return; // already settled
        }
        head.pending = None;
        let retries = self.config.retries.unwrap_or(0);
        let done = match &result {
            Ok(_) => true,
            Err(_) => head.tries > retries,
        };
        if done
            && let Some(entry) = self.queue.pop_front()
            && let Some(waiter) = entry.waiter
        {
            self.events
                .push_back(NamespaceEvent::Ack { waiter, result });
        }
        self.drain_queue(now, false);
    }

    /// Sends the head of the retry queue if nothing is in flight (`force` after a connect:
    /// the in-flight try is abandoned and sent again under a new id).
    fn drain_queue(&mut self, now: Instant, force: bool) {
        if !self.is_connected() {
            return;
        }
        let default_timeout = self.config.ack_timeout;
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        if head.pending.is_some() && !force {
            return;
        }
        if let Some(old) = head.pending.take() {
            self.acks.take(old);
        }
        head.tries += 1;
        let deadline = head.timeout.or(default_timeout).map(|t| now + t);
        let data = head.data.clone();
        let id = self.acks.insert(deadline, Owner::Retry(head.seq));
        head.pending = Some(id);
        self.out.push_back(Packet::Event {
            ns: self.ns.clone(),
            data,
            ack: Some(AckId(id)),
        });
    }
}

/// `{"message": ..., "data": ...}`, or a bare string from protocol v4 servers.
fn parse_connect_error(data: &Payload) -> (String, Option<String>) {
    match serde_json::from_str::<serde_json::Value>(data.json()) {
        Ok(serde_json::Value::Object(mut map)) => {
            let message = match map.remove("message") {
                Some(serde_json::Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let data = map.remove("data").map(|d| d.to_string());
            (message, data)
        }
        Ok(serde_json::Value::String(s)) => (s, None),
        Ok(other) => (other.to_string(), None),
        Err(_) => (data.json().to_string(), None),
    }
}
