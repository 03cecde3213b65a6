//! The adapter of one namespace: local state in an [`InMemoryAdapter`], everything else over
//! the bus in the classic protocol.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rmpv::Value;
use socketio_adapter::{
    AckCallback, Adapter, AdapterError, BroadcastOptions, InMemoryAdapter, LocalSocket,
    NamespaceHooks, PartialReplies, Room, ServerAck, SocketId, SocketInfo,
};
use socketio_proto::{Namespace, Packet, Payload};
use tokio::sync::mpsc;

use crate::cluster::Shared;
use crate::codec::{self, BusError, Channels, get, get_str, get_u64, kind, map};

/// Per-node callbacks of a broadcast with acks this node started.
struct AckRequest {
    on_count: Arc<dyn Fn(usize) + Send + Sync>,
    on_ack: AckCallback,
}

pub(crate) struct AdapterInner {
    shared: Arc<Shared>,
    local: InMemoryAdapter,
    ns: Namespace,
    uid: String,
    channels: Channels,
    hooks: OnceLock<Weak<dyn NamespaceHooks>>,
    /// Requests waiting for responses, by request id: responses are handed to the waiter.
    requests: Mutex<HashMap<String, mpsc::Sender<Value>>>,
    /// Broadcasts with acks this node started, by request id.
    ack_requests: Mutex<HashMap<String, AckRequest>>,
    /// Keeps the cluster's background tasks alive while an adapter exists.
    _tasks: Arc<dyn Send + Sync>,
}

/// The Redis adapter of one namespace (made by [`crate::RedisCluster::adapter`]).
///
/// Local operations use the in-memory adapter; broadcasts are also published on Redis, and
/// cluster operations are requests answered by every other server. Every request ends: with
/// the answers, or [`AdapterError::Timeout`] after the request timeout, or at once with
/// [`AdapterError::Unavailable`] while Redis is down.
pub struct RedisAdapter {
    inner: Arc<AdapterInner>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("ns", &self.inner.ns)
            .field("uid", &self.inner.uid)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RedisAdapter {
    pub(crate) fn new(shared: Arc<Shared>, ns: Namespace, tasks: Arc<dyn Send + Sync>) -> Self {
        let uid = codec::uid(6);
        let channels = Channels::new(&shared.config.key, ns.as_str(), &uid);
        let inner = Arc::new(AdapterInner {
            local: InMemoryAdapter::new(ns.clone()),
            shared,
            ns,
            uid,
            channels,
            hooks: OnceLock::new(),
            requests: Mutex::new(HashMap::new()),
            ack_requests: Mutex::new(HashMap::new()),
            _tasks: tasks,
        });
        inner.shared.register(inner.ns.as_str(), &inner);
        Self { inner }
    }

    /// This adapter's id on the bus (6 alphanumerics, as the reference's).
    #[must_use]
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        self.inner
            .shared
            .unregister(self.inner.ns.as_str(), Arc::as_ptr(&self.inner));
    }
}

/// A waiting request; removes itself from the table when dropped.
struct Waiter<'a> {
    inner: &'a AdapterInner,
    id: String,
    rx: mpsc::Receiver<Value>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        lock(&self.inner.requests).remove(&self.id);
    }
}

impl AdapterInner {
    pub(crate) fn channels(&self) -> &Channels {
        &self.channels
    }

    fn timeout(&self) -> Duration {
        self.shared.config.requests_timeout
    }

    fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.shared.publish(channel, payload)
    }

    fn publish_request(&self, request: &serde_json::Value) -> Result<(), AdapterError> {
        self.publish(
            self.channels.request.clone(),
            request.to_string().into_bytes(),
        )
    }

    /// Where responses to `request` go (the requester's own channel when configured).
    fn response_channel(&self, request: &Value) -> String {
        match get_str(request, "uid") {
            Some(uid) if self.shared.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", self.channels.response)
            }
            _ => self.channels.response.clone(),
        }
    }

    fn waiter(&self, capacity: usize) -> Waiter<'_> {
        let id = codec::uid(6);
        let (tx, rx) = mpsc::channel(capacity.clamp(1, 4096));
        lock(&self.requests).insert(id.clone(), tx);
        Waiter {
            inner: self,
            id,
            rx,
        }
    }

    fn hooks(&self) -> Option<Arc<dyn NamespaceHooks>> {
        self.hooks.get().and_then(Weak::upgrade)
    }

    /// Whether a local room exists (has members).
    fn has_room(&self, room: &str) -> bool {
        !self
            .local
            .local_sockets(&BroadcastOptions::new().to(Room::from(room)))
            .is_empty()
    }

    fn socket_details(&self, opts: &BroadcastOptions) -> Vec<serde_json::Value> {
        self.local
            .local_sockets(opts)
            .iter()
            .map(|s| {
                let rooms: Vec<String> = self
                    .local
                    .rooms_of(s.id())
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                serde_json::json!({
                    "id": s.id().as_str(),
                    "handshake": s.handshake(),
                    "rooms": rooms,
                    "data": s.data(),
                })
            })
            .collect()
    }

    /// A message on `<key>#<nsp>#[<room>#]`: `[uid, packet, opts]` in msgpack.
    pub(crate) fn on_broadcast(&self, room: &str, bytes: &[u8]) -> Result<(), BusError> {
        if !room.is_empty() && !self.has_room(room) {
            return Ok(());
        }
        let v = codec::decode(bytes)?;
        let Value::Array(items) = &v else {
            return Err(BusError::Schema("broadcast is not an array"));
        };
        let [uid, packet, opts, ..] = items.as_slice() else {
            return Err(BusError::Schema("broadcast has fewer than 3 elements"));
        };
        if uid.as_str() == Some(self.uid.as_str()) {
            return Ok(());
        }
        let nsp = match get(packet, "nsp") {
            None | Some(Value::Nil) => "/",
            Some(v) => v.as_str().ok_or(BusError::Schema("nsp is not a string"))?,
        };
        if nsp != self.ns.as_str() {
            return Ok(());
        }
        let packet = self.event_packet(packet)?;
        let opts = codec::opts_from(Some(opts))?;
        // Local delivery only: the broadcast came from another node.
        let _ = self.local.broadcast(&packet, &opts);
        Ok(())
    }

    /// `{type: 2, data: [event, ...args]}` into an EVENT of this namespace (no ack id).
    fn event_packet(&self, packet: &Value) -> Result<Packet, BusError> {
        match get_u64(packet, "type") {
            Some(codec::EVENT | codec::BINARY_EVENT) => {}
            _ => return Err(BusError::Schema("packet is not an EVENT")),
        }
        let data = match get(packet, "data") {
            Some(d @ Value::Array(items)) if items.first().is_some_and(Value::is_str) => d,
            _ => return Err(BusError::Schema("packet data is not [name, ...args]")),
        };
        Ok(Packet::Event {
            ns: self.ns.clone(),
            data: codec::mp_to_payload(data)?,
            ack: None,
        })
    }

    /// A message on the request channel.
    pub(crate) fn on_request(self: &Arc<Self>, bytes: &[u8]) -> Result<(), BusError> {
        let req = codec::decode(bytes)?;
        if !matches!(req, Value::Map(_)) {
            return Err(BusError::Schema("request is not a map"));
        }
        let ty = get_u64(&req, "type").ok_or(BusError::Schema("request has no type"))?;
        let own = get_str(&req, "uid") == Some(self.uid.as_str());
        let request_id = get_str(&req, "requestId");
        match ty {
            kind::SOCKETS | kind::ALL_ROOMS | kind::REMOTE_FETCH => {
                let id = request_id.ok_or(BusError::Schema("request has no requestId"))?;
                // Our own request, or one reusing the id of a request of ours (answering it
                // would count as another server's answer): ignored, as the reference does.
                if own || lock(&self.requests).contains_key(id) {
                    return Ok(());
                }
                let response = match ty {
                    kind::SOCKETS => {
                        let mut opts = BroadcastOptions::new();
                        opts.rooms = codec::rooms(get(&req, "rooms"))?;
                        let ids: Vec<String> = self
                            .local
                            .local_sockets(&opts)
                            .iter()
                            .map(|s| s.id().to_string())
                            .collect();
                        serde_json::json!({ "requestId": id, "sockets": ids })
                    }
                    kind::ALL_ROOMS => {
                        let rooms: Vec<String> = futures_now(self.local.all_rooms())
                            .and_then(Result::ok)
                            .unwrap_or_default()
                            .iter()
                            .map(ToString::to_string)
                            .collect();
                        serde_json::json!({ "requestId": id, "rooms": rooms })
                    }
                    _ => {
                        let opts = codec::opts_from(get(&req, "opts"))?;
                        serde_json::json!({ "requestId": id, "sockets": self.socket_details(&opts) })
                    }
                };
                let _ = self.publish(
                    self.response_channel(&req),
                    response.to_string().into_bytes(),
                );
            }
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE | kind::REMOTE_DISCONNECT => {
                if own {
                    // Applied locally when it was sent.
                    return Ok(());
                }
                if let Some(opts) = get(&req, "opts") {
                    let opts = codec::opts_from(Some(opts))?;
                    match ty {
                        kind::REMOTE_JOIN => {
                            let rooms = codec::rooms(get(&req, "rooms"))?;
                            for s in self.local.local_sockets(&opts) {
                                self.local.join(s.id(), &rooms);
                            }
                        }
                        kind::REMOTE_LEAVE => {
                            let rooms = codec::rooms(get(&req, "rooms"))?;
                            for s in self.local.local_sockets(&opts) {
                                for r in &rooms {
                                    self.local.leave(s.id(), r);
                                }
                            }
                        }
                        _ => {
                            let close = get(&req, "close").and_then(Value::as_bool) == Some(true);
                            for s in self.local.local_sockets(&opts) {
                                if close {
                                    s.close();
                                } else {
                                    s.disconnect();
                                }
                            }
                        }
                    }
                    return Ok(());
                }
                // The legacy form: one socket by id, answered.
                let sid = get_str(&req, "sid").ok_or(BusError::Schema("request has no sid"))?;
                let target = BroadcastOptions::new().to(Room::from(sid));
                let Some(socket) = self.local.local_sockets(&target).into_iter().next() else {
                    return Ok(());
                };
                match ty {
                    kind::REMOTE_JOIN | kind::REMOTE_LEAVE => {
                        let room = get(&req, "room").ok_or(BusError::Schema("no room"))?;
                        let room = codec::rooms(Some(&Value::Array(vec![room.clone()])))?;
                        if ty == kind::REMOTE_JOIN {
                            self.local.join(socket.id(), &room);
                        } else {
                            for r in &room {
                                self.local.leave(socket.id(), r);
                            }
                        }
                    }
                    _ if get(&req, "close").and_then(Value::as_bool) == Some(true) => {
                        socket.close();
                    }
                    _ => socket.disconnect(),
                }
                if let Some(id) = request_id {
                    let response = serde_json::json!({ "requestId": id });
                    let _ = self.publish(
                        self.response_channel(&req),
                        response.to_string().into_bytes(),
                    );
                }
            }
            kind::SERVER_SIDE_EMIT => {
                if own {
                    return Ok(());
                }
                let data = match get(&req, "data") {
                    Some(d @ Value::Array(items)) if items.first().is_some_and(Value::is_str) => {
                        codec::mp_to_payload(d)?
                    }
                    _ => return Err(BusError::Schema("serverSideEmit data is not [name, ...]")),
                };
                let Some(hooks) = self.hooks() else {
                    return Ok(());
                };
                let ack: Option<ServerAck> = request_id.map(|id| {
                    let id = id.to_owned();
                    let weak = Arc::downgrade(self);
                    let ack: ServerAck = Box::new(move |reply: Payload| {
                        let Some(this) = weak.upgrade() else { return };
                        let first = codec::payload_to_json(&reply)
                            .ok()
                            .and_then(|v| v.as_array().and_then(|a| a.first().cloned()))
                            .unwrap_or(serde_json::Value::Null);
                        let response = serde_json::json!({
                            "type": kind::SERVER_SIDE_EMIT,
                            "requestId": id,
                            "data": first,
                        });
                        let _ = this.publish(
                            this.channels.response.clone(),
                            response.to_string().into_bytes(),
                        );
                    });
                    ack
                });
                hooks.server_side_emit(data, ack);
            }
            kind::BROADCAST => {
                let id = request_id
                    .ok_or(BusError::Schema("request has no requestId"))?
                    .to_owned();
                if own || lock(&self.ack_requests).contains_key(&id) {
                    return Ok(());
                }
                let packet = get(&req, "packet").ok_or(BusError::Schema("no packet"))?;
                let nsp = get_str(packet, "nsp").unwrap_or("/");
                if nsp != self.ns.as_str() {
                    return Ok(());
                }
                let opts = codec::opts_from(get(&req, "opts"))?;
                let Packet::Event { ns, data, .. } = self.event_packet(packet)? else {
                    return Ok(());
                };
                let Some(hooks) = self.hooks() else {
                    return Ok(());
                };
                let ack_id = hooks.next_ack_id();
                let packet = Packet::Event {
                    ns,
                    data,
                    ack: Some(ack_id),
                };
                let channel = self.response_channel(&req);
                let (weak, id2, channel2) = (Arc::downgrade(self), id.clone(), channel.clone());
                let on_count = Arc::new(move |n: usize| {
                    let Some(this) = weak.upgrade() else { return };
                    let response = serde_json::json!({
                        "type": kind::BROADCAST_CLIENT_COUNT,
                        "requestId": id2,
                        "clientCount": n,
                    });
                    let _ = this.publish(channel2.clone(), response.to_string().into_bytes());
                });
                let weak = Arc::downgrade(self);
                let on_ack: AckCallback = Arc::new(move |reply: Payload| {
                    let Some(this) = weak.upgrade() else { return };
                    let first = match codec::payload_to_mp(&reply) {
                        Ok(Value::Array(mut items)) if !items.is_empty() => items.swap_remove(0),
                        _ => Value::Nil,
                    };
                    let response = map(vec![
                        ("type", Value::from(kind::BROADCAST_ACK)),
                        ("requestId", Value::from(id.as_str())),
                        ("packet", first),
                    ]);
                    let _ = this.publish(channel.clone(), codec::encode(&response));
                });
                let targets = self.local.local_sockets(&opts);
                let _ = self
                    .local
                    .broadcast_with_ack(&packet, &opts, on_count, on_ack);
                // Nobody waits for these acks after the requester's timeout.
                let wait = opts.flags.timeout.unwrap_or_else(|| self.timeout());
                let targets: Vec<Weak<dyn LocalSocket>> =
                    targets.iter().map(Arc::downgrade).collect();
                if !targets.is_empty()
                    && let Ok(rt) = tokio::runtime::Handle::try_current()
                {
                    rt.spawn(async move {
                        tokio::time::sleep(wait).await;
                        for t in targets.iter().filter_map(Weak::upgrade) {
                            t.forget_ack(ack_id);
                        }
                    });
                }
            }
            _ => return Err(BusError::Schema("unknown request type")),
        }
        Ok(())
    }

    /// A message on a response channel.
    pub(crate) fn on_response(&self, bytes: &[u8]) -> Result<(), BusError> {
        let resp = codec::decode(bytes)?;
        let Some(id) = get_str(&resp, "requestId") else {
            return Err(BusError::Schema("response has no requestId"));
        };
        let ack = lock(&self.ack_requests)
            .get(id)
            .map(|a| (Arc::clone(&a.on_count), Arc::clone(&a.on_ack)));
        if let Some((on_count, on_ack)) = ack {
            match get_u64(&resp, "type") {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    let n = get_u64(&resp, "clientCount")
                        .ok_or(BusError::Schema("clientCount is not a number"))?;
                    on_count(usize::try_from(n).unwrap_or(usize::MAX));
                }
                Some(kind::BROADCAST_ACK) => {
                    let arg = get(&resp, "packet").cloned().unwrap_or(Value::Nil);
                    on_ack(codec::mp_to_payload(&Value::Array(vec![arg]))?);
                }
                _ => return Err(BusError::Schema("unexpected response to a broadcast")),
            }
            return Ok(());
        }
        let tx = lock(&self.requests).get(id).cloned();
        if let Some(tx) = tx {
            // A full queue means more responses than servers: extra ones are dropped.
            let _ = tx.try_send(resp);
        }
        Ok(())
    }

    /// Counts servers, publishes `request` (with `requestId` set) and gathers the responses of
    /// every other server, or fails at the timeout.
    async fn gather(
        &self,
        mut request: serde_json::Value,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<Value>, (AdapterError, Vec<Value>)> {
        let mut waiter = self.waiter(expected + 8);
        request["requestId"] = serde_json::Value::from(waiter.id.as_str());
        self.publish_request(&request)
            .map_err(|e| (e, Vec::new()))?;
        let mut got = Vec::with_capacity(expected.min(1024));
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        while got.len() < expected {
            tokio::select! {
                r = waiter.rx.recv() => match r {
                    Some(v) => got.push(v),
                    None => break,
                },
                () = &mut deadline => return Err((AdapterError::Timeout, got)),
            }
        }
        Ok(got)
    }

    /// `disconnectSockets(close)`: the local sockets now, the other nodes' by request.
    fn disconnect(&self, opts: &BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        for s in self.local.local_sockets(opts) {
            if close {
                s.close();
            } else {
                s.disconnect();
            }
        }
        if opts.flags.local {
            return Ok(());
        }
        self.publish_request(&serde_json::json!({
            "uid": self.uid,
            "type": kind::REMOTE_DISCONNECT,
            "opts": opts_json(opts),
            "close": close,
        }))
    }

    async fn other_servers(&self) -> Result<usize, AdapterError> {
        Ok(self
            .shared
            .numsub(&self.channels.request)
            .await?
            .saturating_sub(1))
    }
}

/// Polls a future that is ready at once (the in-memory adapter's async methods).
fn futures_now<F: Future>(f: F) -> Option<F::Output> {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn rooms_json(rooms: &[Room]) -> serde_json::Value {
    rooms.iter().map(|r| r.as_str()).collect()
}

fn opts_json(opts: &BroadcastOptions) -> serde_json::Value {
    serde_json::json!({ "rooms": rooms_json(&opts.rooms), "except": rooms_json(&opts.except) })
}

#[async_trait]
impl Adapter for RedisAdapter {
    fn add_socket(&self, socket: Arc<dyn LocalSocket>) {
        self.inner.local.add_socket(socket);
    }

    fn remove_socket(&self, id: &SocketId) {
        self.inner.local.remove_socket(id);
    }

    fn join(&self, id: &SocketId, rooms: &[Room]) {
        self.inner.local.join(id, rooms);
    }

    fn leave(&self, id: &SocketId, room: &Room) {
        self.inner.local.leave(id, room);
    }

    fn rooms_of(&self, id: &SocketId) -> Vec<Room> {
        self.inner.local.rooms_of(id)
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<Arc<dyn LocalSocket>> {
        self.inner.local.local_sockets(opts)
    }

    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) -> Result<usize, AdapterError> {
        let n = self.inner.local.broadcast(packet, opts)?;
        if opts.flags.local {
            return Ok(n);
        }
        let Some(data) = packet.payload() else {
            return Ok(n);
        };
        let data = codec::payload_to_mp(data).map_err(|_| AdapterError::Encode)?;
        let msg = Value::Array(vec![
            Value::from(self.inner.uid.as_str()),
            map(vec![
                ("type", Value::from(codec::EVENT)),
                ("data", data),
                ("nsp", Value::from(self.inner.ns.as_str())),
            ]),
            codec::opts_to(opts, true),
        ]);
        let mut channel = self.inner.channels.broadcast.clone();
        if let [room] = opts.rooms.as_slice() {
            channel.push_str(room.as_str());
            channel.push('#');
        }
        self.inner.publish(channel, codec::encode(&msg))?;
        Ok(n)
    }

    fn broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_count: Arc<dyn Fn(usize) + Send + Sync>,
        on_ack: AckCallback,
    ) -> Result<(), AdapterError> {
        let mut remote = Ok(());
        if !opts.flags.local
            && let Some(data) = packet.payload()
        {
            let inner = &self.inner;
            let data = codec::payload_to_mp(data).map_err(|_| AdapterError::Encode)?;
            let id = codec::uid(6);
            let request = map(vec![
                ("uid", Value::from(inner.uid.as_str())),
                ("requestId", Value::from(id.as_str())),
                ("type", Value::from(kind::BROADCAST)),
                (
                    "packet",
                    map(vec![
                        ("type", Value::from(codec::EVENT)),
                        ("data", data),
                        ("nsp", Value::from(inner.ns.as_str())),
                    ]),
                ),
                ("opts", codec::opts_to(opts, true)),
            ]);
            lock(&inner.ack_requests).insert(
                id.clone(),
                AckRequest {
                    on_count: Arc::clone(&on_count),
                    on_ack: Arc::clone(&on_ack),
                },
            );
            remote = inner.publish(inner.channels.request.clone(), codec::encode(&request));
            // Nobody can tell when every ack has come, so forget the request after its timeout.
            let wait = opts.flags.timeout.unwrap_or_else(|| inner.timeout());
            let weak = Arc::downgrade(inner);
            if remote.is_err() {
                lock(&inner.ack_requests).remove(&id);
            } else if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Some(inner) = weak.upgrade() {
                        lock(&inner.ack_requests).remove(&id);
                    }
                });
            }
        }
        self.inner
            .local
            .broadcast_with_ack(packet, opts, on_count, on_ack)?;
        remote
    }

    async fn add_sockets(
        &self,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Result<(), AdapterError> {
        self.inner.local.add_sockets(opts, rooms).await?;
        if opts.flags.local {
            return Ok(());
        }
        self.inner.publish_request(&serde_json::json!({
            "uid": self.inner.uid,
            "type": kind::REMOTE_JOIN,
            "opts": opts_json(opts),
            "rooms": rooms_json(rooms),
        }))
    }

    async fn del_sockets(
        &self,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Result<(), AdapterError> {
        self.inner.local.del_sockets(opts, rooms).await?;
        if opts.flags.local {
            return Ok(());
        }
        self.inner.publish_request(&serde_json::json!({
            "uid": self.inner.uid,
            "type": kind::REMOTE_LEAVE,
            "opts": opts_json(opts),
            "rooms": rooms_json(rooms),
        }))
    }

    async fn disconnect_sockets(&self, opts: &BroadcastOptions) -> Result<(), AdapterError> {
        self.inner.disconnect(opts, false)
    }

    async fn close_sockets(&self, opts: &BroadcastOptions) -> Result<(), AdapterError> {
        self.inner.disconnect(opts, true)
    }

    async fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let mut sockets = self.inner.local.fetch_sockets(opts).await?;
        if opts.flags.local {
            return Ok(sockets);
        }
        let others = self.inner.other_servers().await?;
        if others == 0 {
            return Ok(sockets);
        }
        let request = serde_json::json!({
            "uid": self.inner.uid,
            "type": kind::REMOTE_FETCH,
            "opts": opts_json(opts),
        });
        let timeout = opts.flags.timeout.unwrap_or_else(|| self.inner.timeout());
        let responses = self
            .inner
            .gather(request, others, timeout)
            .await
            .map_err(|(e, _)| e)?;
        for r in &responses {
            let Some(Value::Array(list)) = get(r, "sockets") else {
                continue;
            };
            for s in list {
                let Some(id) = get_str(s, "id") else { continue };
                let Ok(rooms) = codec::rooms(get(s, "rooms")) else {
                    continue;
                };
                let json = |k| {
                    get(s, k)
                        .and_then(|v| codec::mp_to_json(v).ok())
                        .unwrap_or_default()
                };
                sockets.push(
                    SocketInfo::new(SocketId::from(id), rooms)
                        .with_details(json("handshake"), json("data")),
                );
            }
        }
        Ok(sockets)
    }

    async fn all_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        let mut rooms = self.inner.local.all_rooms().await?;
        let others = self.inner.other_servers().await?;
        if others == 0 {
            return Ok(rooms);
        }
        let request = serde_json::json!({ "uid": self.inner.uid, "type": kind::ALL_ROOMS });
        let responses = self
            .inner
            .gather(request, others, self.inner.timeout())
            .await
            .map_err(|(e, _)| e)?;
        let mut seen: std::collections::HashSet<Room> = rooms.iter().cloned().collect();
        for r in &responses {
            if let Ok(list) = codec::rooms(get(r, "rooms")) {
                rooms.extend(list.into_iter().filter(|r| seen.insert(r.clone())));
            }
        }
        Ok(rooms)
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.inner.shared.numsub(&self.inner.channels.request).await
    }

    fn bind(&self, hooks: Weak<dyn NamespaceHooks>) {
        let _ = self.inner.hooks.set(hooks);
    }

    fn server_side_emit(&self, data: &Payload) -> Result<(), AdapterError> {
        let data = codec::payload_to_json(data).map_err(|_| AdapterError::Encode)?;
        self.inner.publish_request(&serde_json::json!({
            "uid": self.inner.uid,
            "type": kind::SERVER_SIDE_EMIT,
            "data": data,
        }))
    }

    async fn server_side_emit_with_ack(
        &self,
        data: &Payload,
        timeout: Option<Duration>,
    ) -> Result<Vec<Payload>, PartialReplies> {
        let data = codec::payload_to_json(data)
            .map_err(|_| PartialReplies::new(AdapterError::Encode, Vec::new()))?;
        let others = self
            .inner
            .other_servers()
            .await
            .map_err(|e| PartialReplies::new(e, Vec::new()))?;
        if others == 0 {
            return Ok(Vec::new());
        }
        let request = serde_json::json!({
            "uid": self.inner.uid,
            "type": kind::SERVER_SIDE_EMIT,
            "data": data,
        });
        let to_payloads = |vs: Vec<Value>| -> Vec<Payload> {
            vs.iter()
                .filter_map(|v| {
                    let d = get(v, "data").cloned().unwrap_or(Value::Nil);
                    codec::mp_to_payload(&Value::Array(vec![d])).ok()
                })
                .collect()
        };
        match self
            .inner
            .gather(
                request,
                others,
                timeout.unwrap_or_else(|| self.inner.timeout()),
            )
            .await
        {
            Ok(v) => Ok(to_payloads(v)),
            Err((e, partial)) => Err(PartialReplies::new(e, to_payloads(partial))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use engineio_proto::Frame;
    use proptest::prelude::*;
    use socketio_proto::AckId;

    use super::*;
    use crate::{RedisAdapterConfig, RedisCluster};

    struct Hooks(std::sync::atomic::AtomicU64);

    impl NamespaceHooks for Hooks {
        fn next_ack_id(&self) -> AckId {
            AckId(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        }
        fn server_side_emit(&self, _: Payload, ack: Option<ServerAck>) {
            if let Some(ack) = ack {
                ack(Payload::from_json("[1]"));
            }
        }
    }

    #[derive(Default)]
    struct Probe {
        id: SocketId,
        frames: Mutex<usize>,
    }

    impl LocalSocket for Probe {
        fn id(&self) -> &SocketId {
            &self.id
        }
        fn send(&self, frames: &[Frame], _: bool) {
            *self.frames.lock().unwrap() += frames.len();
        }
        fn register_ack(&self, _: AckId, callback: AckCallback) {
            callback(Payload::from_json(r#"["ok"]"#));
        }
        fn disconnect(&self) {}
    }

    /// Runs `f` with an adapter (Redis unreachable: nothing leaves the process) holding two
    /// sockets, one of them in room `r`.
    fn with_adapter(f: impl FnOnce(&Arc<AdapterInner>, &Probe)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let cluster =
                RedisCluster::new("redis://127.0.0.1:1", RedisAdapterConfig::default()).unwrap();
            let adapter = cluster.redis_adapter(&Namespace::main());
            let hooks: Arc<dyn NamespaceHooks> =
                Arc::new(Hooks(std::sync::atomic::AtomicU64::new(0)));
            adapter.bind(Arc::downgrade(&hooks));
            let a = Arc::new(Probe {
                id: SocketId::from("a"),
                ..Probe::default()
            });
            adapter.add_socket(a.clone());
            adapter.add_socket(Arc::new(Probe {
                id: SocketId::from("b"),
                ..Probe::default()
            }));
            adapter.join(&SocketId::from("a"), &[Room::from("r")]);
            f(&adapter.inner, &a);
        });
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::F64),
            "[a-z#/]{0,6}".prop_map(|s| Value::from(s.as_str())),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Binary),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,5}", inner, 0..6).prop_map(|m| {
                    Value::Map(m.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
                }),
            ]
        })
    }

    /// Messages shaped like the protocol's, with random parts.
    fn message() -> impl Strategy<Value = Vec<u8>> {
        let ty = prop_oneof![(0u64..12).prop_map(Value::from), value()];
        (value(), value(), value(), ty, any::<bool>()).prop_map(|(a, b, c, ty, array)| {
            let v = if array {
                Value::Array(vec![
                    a,
                    map(vec![
                        ("type", Value::from(2)),
                        ("data", b),
                        ("nsp", Value::from("/")),
                    ]),
                    c,
                ])
            } else {
                map(vec![
                    ("uid", Value::from("zz")),
                    ("requestId", Value::from("id")),
                    ("type", ty),
                    ("packet", a),
                    ("opts", b),
                    ("data", c),
                    ("rooms", Value::Array(vec![Value::from("r")])),
                ])
            };
            codec::encode(&v)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// E8: whatever arrives on any channel, nothing panics.
        #[test]
        fn hostile_bus_input_never_panics(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..256),
                message(),
                message().prop_flat_map(|m| {
                    let n = m.len();
                    (Just(m), 0..n.max(1))
                }).prop_map(|(mut m, cut)| { m.truncate(cut); m }),
                "\\{[\\PC]{0,40}".prop_map(String::into_bytes),
            ],
        ) {
            with_adapter(|inner, _| {
                let _ = inner.on_broadcast("", &bytes);
                let _ = inner.on_broadcast("r", &bytes);
                let _ = inner.on_request(&bytes);
                let _ = inner.on_response(&bytes);
            });
        }

        /// Bus values survive the trip through a Socket.IO payload (JSON + attachments).
        #[test]
        fn payload_round_trip(v in value()) {
            let p = codec::mp_to_payload(&v).unwrap();
            prop_assert_eq!(codec::payload_to_mp(&p).unwrap(), v);
        }
    }

    /// E8: a request reusing the id of a request of ours is not answered (the answer would
    /// count as another server's); other requests are (here: attempted, Redis being down).
    #[test]
    fn requests_reusing_our_pending_ids_are_ignored() {
        use std::sync::atomic::Ordering;
        with_adapter(|inner, _| {
            let lost = || inner.shared.lost.load(Ordering::Relaxed);
            let waiter = inner.waiter(1);
            let request = |id: &str| format!(r#"{{"uid":"other","type":5,"requestId":"{id}"}}"#);
            inner.on_request(request(&waiter.id).as_bytes()).unwrap();
            assert_eq!(lost(), 0);
            inner.on_request(request("fresh").as_bytes()).unwrap();
            assert_eq!(lost(), 1);
        });
    }

    #[test]
    fn a_broadcast_from_another_node_reaches_local_sockets_in_its_room() {
        with_adapter(|inner, a| {
            let msg = Value::Array(vec![
                Value::from("other"),
                map(vec![
                    ("type", Value::from(2)),
                    (
                        "data",
                        Value::Array(vec![Value::from("e"), Value::Binary(vec![1])]),
                    ),
                    ("nsp", Value::from("/")),
                ]),
                map(vec![
                    ("rooms", Value::Array(vec![Value::from("r")])),
                    ("except", Value::Array(vec![])),
                    ("flags", map(vec![])),
                ]),
            ]);
            inner.on_broadcast("r", &codec::encode(&msg)).unwrap();
            // The text frame and one attachment.
            assert_eq!(*a.frames.lock().unwrap(), 2);
            // Our own uid, another namespace, an unknown room: ignored.
            let Value::Array(mut items) = msg else {
                unreachable!()
            };
            items[0] = Value::from(inner.uid.as_str());
            inner
                .on_broadcast("r", &codec::encode(&Value::Array(items)))
                .unwrap();
            inner.on_broadcast("nope", b"\xc1").unwrap();
            assert_eq!(*a.frames.lock().unwrap(), 2);
        });
    }
}
