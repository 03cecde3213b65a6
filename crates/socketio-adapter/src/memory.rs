//! The in-memory adapter: one node, rooms in two maps.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

use async_trait::async_trait;
use engineio_proto::Frame;
use socketio_proto::{Namespace, Packet, Payload};

use crate::{
    AckCallback, Adapter, AdapterError, BroadcastOptions, LocalSocket, RecoveredSession, Room,
    Session, SocketId, SocketInfo,
};

/// The time source of recovery's expiry (the server passes its runtime's clock, so paused-time
/// tests control it).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Connection state recovery settings of the in-memory adapter. `Default` matches the
/// reference (`maxDisconnectionDuration` 2 min), with the store bounded in count.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct RecoveryConfig {
    /// How long a disconnected session, and a broadcast packet, are kept (120 s).
    pub max_disconnection_duration: Duration,
    /// Most packets kept (10 000); the oldest go first, and a client whose offset went with
    /// them is not recovered.
    pub max_packets: usize,
    /// Most sessions kept (100 000); the oldest go first.
    pub max_sessions: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_disconnection_duration: Duration::from_secs(120),
            max_packets: 10_000,
            max_sessions: 100_000,
        }
    }
}

struct Recovery {
    config: RecoveryConfig,
    clock: Clock,
    state: Mutex<RecoveryState>,
}

#[derive(Default)]
struct RecoveryState {
    /// The offset of the next stored packet.
    next_offset: u64,
    /// Stored packets, oldest first (offsets and times increase).
    packets: VecDeque<Stored>,
    sessions: HashMap<String, (Instant, Session)>,
    /// Sessions in the order they were stored, for expiry and the count cap; an entry whose
    /// time differs from the map's is stale and skipped.
    order: VecDeque<(Instant, String)>,
}

struct Stored {
    offset: u64,
    at: Instant,
    rooms: Vec<Room>,
    except: Vec<Room>,
    packet: Packet,
}

impl Recovery {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecoveryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops what is older than `max_disconnection_duration`.
    fn purge(&self, st: &mut RecoveryState, now: Instant) {
        let max = self.config.max_disconnection_duration;
        let expired = |at: Instant| now.saturating_duration_since(at) > max;
        while st.packets.front().is_some_and(|p| expired(p.at)) {
            st.packets.pop_front();
        }
        while let Some((at, pid)) = st.order.front().cloned() {
            if !expired(at) {
                break;
            }
            st.order.pop_front();
            if st.sessions.get(&pid).is_some_and(|(t, _)| *t == at) {
                st.sessions.remove(&pid);
            }
        }
    }

    /// Stores an EVENT without ack that is not volatile, with its offset appended; returns the
    /// packet to send instead of the original.
    fn record(&self, packet: &Packet, opts: &BroadcastOptions) -> Option<Packet> {
        let Packet::Event {
            ns,
            data,
            ack: None,
        } = packet
        else {
            return None;
        };
        if opts.flags.volatile {
            return None;
        }
        let now = (self.clock)();
        let mut st = self.lock();
        self.purge(&mut st, now);
        let offset = st.next_offset;
        st.next_offset += 1;
        let with_offset = Packet::Event {
            ns: ns.clone(),
            data: append_offset(data, offset)?,
            ack: None,
        };
        st.packets.push_back(Stored {
            offset,
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            packet: with_offset.clone(),
        });
        while st.packets.len() > self.config.max_packets {
            st.packets.pop_front();
        }
        Some(with_offset)
    }
}

/// `["ev",1]` becomes `["ev",1,"<offset>"]`; attachments are unchanged.
fn append_offset(data: &Payload, offset: u64) -> Option<Payload> {
    let json = data.json().trim_end();
    let body = json.strip_suffix(']')?;
    let sep = if body.trim_end().ends_with('[') {
        ""
    } else {
        ","
    };
    let text = format!("{body}{sep}\"{offset}\"]");
    Some(Payload::new(text.into(), data.attachments().to_vec()))
}

/// The reference's rule for replaying a stored packet to a session's rooms: targeted at one of
/// them (or at everyone) and excluding none of them.
fn should_include(rooms: &[Room], stored: &Stored) -> bool {
    let included = stored.rooms.is_empty() || rooms.iter().any(|r| stored.rooms.contains(r));
    included && !rooms.iter().any(|r| stored.except.contains(r))
}

/// Socket ids are chosen by the server (random), so their maps use a fast unkeyed hash: no
/// peer can pick ids that collide. Room names can come from clients and keep std's keyed hash.
/// A room holds its members' sockets, so a broadcast walks the room without looking each
/// member up again.
#[derive(Default)]
struct State {
    sockets: FxHashMap<SocketId, Arc<dyn LocalSocket>>,
    rooms: HashMap<Room, FxHashMap<SocketId, Arc<dyn LocalSocket>>>,
    socket_rooms: FxHashMap<SocketId, HashSet<Room>>,
}

/// The adapter of a single node: room membership in memory, broadcasts encoded once and
/// handed to each local recipient. Locks are held only to read or change membership, never
/// while sending.
pub struct InMemoryAdapter {
    ns: Namespace,
    state: RwLock<State>,
    recovery: Option<Recovery>,
}

impl std::fmt::Debug for InMemoryAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.read();
        f.debug_struct("InMemoryAdapter")
            .field("ns", &self.ns)
            .field("sockets", &state.sockets.len())
            .field("rooms", &state.rooms.len())
            .finish()
    }
}

impl InMemoryAdapter {
    /// An empty adapter for namespace `ns`.
    #[must_use]
    pub fn new(ns: Namespace) -> Self {
        Self {
            ns,
            state: RwLock::new(State::default()),
            recovery: None,
        }
    }

    /// An adapter that also keeps sessions and packets for connection state recovery (the
    /// reference's `SessionAwareAdapter`), bounded by `config`, with `clock` as time source.
    #[must_use]
    pub fn with_recovery(ns: Namespace, config: RecoveryConfig, clock: Clock) -> Self {
        Self {
            ns,
            state: RwLock::new(State::default()),
            recovery: Some(Recovery {
                config,
                clock,
                state: Mutex::new(RecoveryState::default()),
            }),
        }
    }

    /// The namespace served.
    #[must_use]
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends already encoded frames to the selected local sockets; returns how many.
    pub fn send_local(&self, frames: &[Frame], opts: &BroadcastOptions) -> usize {
        let targets = self.local_sockets(opts);
        for s in &targets {
            s.send(frames, opts.flags.volatile);
        }
        targets.len()
    }

    fn local_infos(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        let targets = self.local_sockets(opts);
        targets
            .iter()
            .map(|s| {
                SocketInfo::new(s.id().clone(), self.rooms_of(s.id()))
                    .with_details(s.handshake(), s.data())
            })
            .collect()
    }
}

impl State {
    fn join(&mut self, id: &SocketId, room: Room) {
        let Some(socket) = self.sockets.get(id) else {
            return;
        };
        if self
            .socket_rooms
            .entry(id.clone())
            .or_default()
            .insert(room.clone())
        {
            let socket = Arc::clone(socket);
            self.rooms
                .entry(room)
                .or_default()
                .insert(id.clone(), socket);
        }
    }

    fn leave(&mut self, id: &SocketId, room: &Room) {
        if let Some(rooms) = self.socket_rooms.get_mut(id) {
            rooms.remove(room);
        }
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Selection semantics of the reference: the union of the rooms (every socket when none)
    /// minus the members of the `except` rooms, each socket once.
    fn select(&self, opts: &BroadcastOptions) -> Vec<Arc<dyn LocalSocket>> {
        let excluded: FxHashSet<&SocketId> = opts
            .except
            .iter()
            .filter_map(|r| self.rooms.get(r))
            .flat_map(|members| members.keys())
            .collect();
        let pick = |(id, socket): (&SocketId, &Arc<dyn LocalSocket>)| {
            if !excluded.is_empty() && excluded.contains(id) {
                None
            } else {
                Some(Arc::clone(socket))
            }
        };
        if opts.rooms.is_empty() {
            return self.sockets.iter().filter_map(pick).collect();
        }
        if let [room] = opts.rooms.as_slice() {
            // One room: its members are distinct already.
            return self
                .rooms
                .get(room)
                .into_iter()
                .flatten()
                .filter_map(pick)
                .collect();
        }
        let mut seen = FxHashSet::default();
        opts.rooms
            .iter()
            .filter_map(|r| self.rooms.get(r))
            .flatten()
            .filter(|(id, _)| seen.insert(*id))
            .filter_map(pick)
            .collect()
    }
}

#[async_trait]
impl Adapter for InMemoryAdapter {
    fn add_socket(&self, socket: Arc<dyn LocalSocket>) {
        let id = socket.id().clone();
        let mut state = self.write();
        state.sockets.insert(id.clone(), socket);
        state.join(&id, Room::from(&id));
    }

    fn remove_socket(&self, id: &SocketId) {
        let mut state = self.write();
        state.sockets.remove(id);
        for room in state.socket_rooms.remove(id).unwrap_or_default() {
            if let Some(members) = state.rooms.get_mut(&room) {
                members.remove(id);
                if members.is_empty() {
                    state.rooms.remove(&room);
                }
            }
        }
    }

    fn join(&self, id: &SocketId, rooms: &[Room]) {
        let mut state = self.write();
        for room in rooms {
            state.join(id, room.clone());
        }
    }

    fn leave(&self, id: &SocketId, room: &Room) {
        self.write().leave(id, room);
    }

    fn rooms_of(&self, id: &SocketId) -> Vec<Room> {
        self.read()
            .socket_rooms
            .get(id)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<Arc<dyn LocalSocket>> {
        self.read().select(opts)
    }

    fn room_count(&self, id: &SocketId) -> usize {
        self.read().socket_rooms.get(id).map_or(0, HashSet::len)
    }

    fn is_in(&self, id: &SocketId, room: &Room) -> bool {
        self.read()
            .socket_rooms
            .get(id)
            .is_some_and(|r| r.contains(room))
    }

    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) -> Result<usize, AdapterError> {
        let recorded = self.recovery.as_ref().and_then(|r| r.record(packet, opts));
        let frames: Vec<Frame> = recorded
            .as_ref()
            .unwrap_or(packet)
            .encode()
            .frames()
            .collect();
        Ok(self.send_local(&frames, opts))
    }

    fn broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_count: Arc<dyn Fn(usize) + Send + Sync>,
        on_ack: AckCallback,
    ) -> Result<(), AdapterError> {
        let Some(id) = packet.ack_id() else {
            on_count(self.broadcast(packet, opts)?);
            return Ok(());
        };
        let frames: Vec<Frame> = packet.encode().frames().collect();
        let targets = self.local_sockets(opts);
        // Register every ack before the first frame leaves, so no reply can be missed.
        for s in &targets {
            s.register_ack(id, Arc::clone(&on_ack));
        }
        on_count(targets.len());
        for s in &targets {
            s.send(&frames, opts.flags.volatile);
        }
        Ok(())
    }

    async fn add_sockets(
        &self,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Result<(), AdapterError> {
        for s in self.local_sockets(opts) {
            self.join(s.id(), rooms);
        }
        Ok(())
    }

    async fn del_sockets(
        &self,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Result<(), AdapterError> {
        for s in self.local_sockets(opts) {
            for room in rooms {
                self.leave(s.id(), room);
            }
        }
        Ok(())
    }

    async fn disconnect_sockets(&self, opts: &BroadcastOptions) -> Result<(), AdapterError> {
        for s in self.local_sockets(opts) {
            s.disconnect();
        }
        Ok(())
    }

    async fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        Ok(self.local_infos(opts))
    }

    async fn all_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        Ok(self.read().rooms.keys().cloned().collect())
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        Ok(1)
    }

    fn supports_recovery(&self) -> bool {
        self.recovery.is_some()
    }

    fn persist_session(&self, session: Session) {
        let Some(r) = &self.recovery else { return };
        let now = (r.clock)();
        let mut st = r.lock();
        r.purge(&mut st, now);
        while st.sessions.len() >= r.config.max_sessions.max(1) {
            let Some((at, pid)) = st.order.pop_front() else {
                break;
            };
            if st.sessions.get(&pid).is_some_and(|(t, _)| *t == at) {
                st.sessions.remove(&pid);
            }
        }
        st.order.push_back((now, session.pid.clone()));
        st.sessions.insert(session.pid.clone(), (now, session));
    }

    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RecoveredSession>, AdapterError> {
        let Some(r) = &self.recovery else {
            return Ok(None);
        };
        let now = (r.clock)();
        let mut st = r.lock();
        r.purge(&mut st, now);
        let Ok(offset) = offset.parse::<u64>() else {
            return Ok(None);
        };
        if !st.sessions.contains_key(pid) {
            return Ok(None);
        }
        let Ok(index) = st.packets.binary_search_by_key(&offset, |p| p.offset) else {
            // The offset is too old (purged) or was never ours.
            return Ok(None);
        };
        // A session is recovered once: a replayed pid finds nothing.
        let Some((_, session)) = st.sessions.remove(pid) else {
            return Ok(None);
        };
        let missed = st
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| should_include(&session.rooms, p))
            .map(|p| p.packet.clone())
            .collect();
        Ok(Some(RecoveredSession::new(session, missed)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_executor::block_on;
    use socketio_proto::AckId;

    use super::*;

    #[derive(Default)]
    struct Probe {
        id: SocketId,
        frames: Mutex<usize>,
        acks: Mutex<Vec<AckId>>,
        disconnected: Mutex<bool>,
    }

    impl LocalSocket for Probe {
        fn id(&self) -> &SocketId {
            &self.id
        }
        fn send(&self, frames: &[Frame], _: bool) {
            *self.frames.lock().unwrap() += frames.len();
        }
        fn register_ack(&self, id: AckId, _: AckCallback) {
            self.acks.lock().unwrap().push(id);
        }
        fn disconnect(&self) {
            *self.disconnected.lock().unwrap() = true;
        }
    }

    fn setup() -> (InMemoryAdapter, Vec<Arc<Probe>>) {
        let a = InMemoryAdapter::new(Namespace::main());
        let probes: Vec<Arc<Probe>> = ["a", "b", "c"]
            .iter()
            .map(|id| {
                Arc::new(Probe {
                    id: SocketId::from(*id),
                    ..Default::default()
                })
            })
            .collect();
        for p in &probes {
            a.add_socket(p.clone());
        }
        a.join(&SocketId::from("a"), &[Room::from("r1"), Room::from("r2")]);
        a.join(&SocketId::from("b"), &[Room::from("r1")]);
        (a, probes)
    }

    fn ids(a: &InMemoryAdapter, opts: &BroadcastOptions) -> Vec<String> {
        let mut v: Vec<String> = a
            .local_sockets(opts)
            .iter()
            .map(|s| s.id().to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn selection_follows_the_reference() {
        let (a, _) = setup();
        assert_eq!(ids(&a, &BroadcastOptions::new()), ["a", "b", "c"]);
        let r1 = BroadcastOptions::new().to(Room::from("r1"));
        assert_eq!(ids(&a, &r1), ["a", "b"]);
        // Union, each once.
        let both = r1.clone().to(Room::from("r2"));
        assert_eq!(ids(&a, &both), ["a", "b"]);
        // Except a room; a sender excludes its own room.
        assert_eq!(
            ids(&a, &BroadcastOptions::new().except(Room::from("r2"))),
            ["b", "c"]
        );
        assert_eq!(ids(&a, &r1.except(Room::from("a"))), ["b"]);
        assert_eq!(
            ids(&a, &BroadcastOptions::new().to(Room::from("nope"))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn membership_and_cleanup() {
        let (a, _) = setup();
        let mut rooms: Vec<String> = a
            .rooms_of(&SocketId::from("a"))
            .iter()
            .map(ToString::to_string)
            .collect();
        rooms.sort();
        assert_eq!(rooms, ["a", "r1", "r2"]);
        a.leave(&SocketId::from("a"), &Room::from("r2"));
        a.remove_socket(&SocketId::from("b"));
        let mut all: Vec<String> = block_on(a.all_rooms())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        all.sort();
        assert_eq!(all, ["a", "c", "r1"]);
        // Joining for an unknown socket does nothing.
        a.join(&SocketId::from("ghost"), &[Room::from("x")]);
        assert!(!block_on(a.all_rooms()).unwrap().contains(&Room::from("x")));
    }

    #[test]
    fn broadcast_encodes_once_and_counts() {
        let (a, probes) = setup();
        let packet = Packet::Event {
            ns: Namespace::main(),
            data: Payload::from_json(r#"["x"]"#),
            ack: None,
        };
        assert_eq!(
            a.broadcast(&packet, &BroadcastOptions::new().to(Room::from("r1"))),
            Ok(2)
        );
        let counts: Vec<usize> = probes.iter().map(|p| *p.frames.lock().unwrap()).collect();
        assert_eq!(counts, [1, 1, 0]);
    }

    #[test]
    fn broadcast_with_ack_registers_before_sending() {
        let (a, probes) = setup();
        let packet = Packet::Event {
            ns: Namespace::main(),
            data: Payload::from_json(r#"["x"]"#),
            ack: Some(AckId(7)),
        };
        let count = Arc::new(Mutex::new(0));
        let c = Arc::clone(&count);
        a.broadcast_with_ack(
            &packet,
            &BroadcastOptions::new(),
            Arc::new(move |n| *c.lock().unwrap() += n),
            Arc::new(|_| {}),
        )
        .unwrap();
        assert_eq!(*count.lock().unwrap(), 3);
        assert!(
            probes
                .iter()
                .all(|p| p.acks.lock().unwrap().as_slice() == [AckId(7)])
        );
    }

    #[test]
    fn recovery_stores_offsets_and_restores_missed_packets_once() {
        let epoch = Instant::now();
        let now = Arc::new(Mutex::new(epoch));
        let clock_now = Arc::clone(&now);
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        let config = RecoveryConfig {
            max_packets: 4,
            ..RecoveryConfig::default()
        };
        let a = InMemoryAdapter::with_recovery(Namespace::main(), config, clock);
        assert!(a.supports_recovery());
        let event = |json: &str, ack| Packet::Event {
            ns: Namespace::main(),
            data: Payload::from_json(json.to_owned()),
            ack,
        };
        let all = BroadcastOptions::new();
        let r1 = BroadcastOptions::new().to(Room::from("r1"));
        // Only EVENTs without ack and not volatile are stored (offsets 0, 1, 2, ...).
        let record = |p: &Packet, o: &BroadcastOptions| {
            a.recovery
                .as_ref()
                .unwrap()
                .record(p, o)
                .map(|p| p.payload().unwrap().json().to_string())
        };
        assert_eq!(
            record(&event(r#"["a"]"#, None), &all).unwrap(),
            r#"["a","0"]"#
        );
        assert_eq!(record(&event(r#"["b",1]"#, Some(AckId(1))), &all), None);
        let mut volatile = all.clone();
        volatile.flags.volatile = true;
        assert_eq!(record(&event(r#"["c"]"#, None), &volatile), None);
        a.persist_session(Session::new(
            "pid".into(),
            SocketId::from("s1"),
            vec![Room::from("s1"), Room::from("r1")],
            serde_json::json!({"k": 1}),
        ));
        record(&event(r#"["to-r1"]"#, None), &r1);
        record(
            &event(r#"["to-r2"]"#, None),
            &BroadcastOptions::new().to(Room::from("r2")),
        );
        record(
            &event(r#"["not-r1"]"#, None),
            &all.clone().except(Room::from("r1")),
        );
        // Unknown pid, unknown or non-numeric offset: nothing, and the session stays.
        assert!(block_on(a.restore_session("nope", "0")).unwrap().is_none());
        assert!(block_on(a.restore_session("pid", "77")).unwrap().is_none());
        assert!(block_on(a.restore_session("pid", "x")).unwrap().is_none());
        let r = block_on(a.restore_session("pid", "0")).unwrap().unwrap();
        assert_eq!(r.session.sid, SocketId::from("s1"));
        assert_eq!(r.session.data, serde_json::json!({"k": 1}));
        let missed: Vec<String> = r
            .missed
            .iter()
            .map(|p| p.payload().unwrap().json().to_string())
            .collect();
        assert_eq!(missed, [r#"["to-r1","1"]"#]);
        assert!(
            !format!("{:?}", r.session).contains("\"pid\""),
            "the pid is redacted"
        );
        // Taken once.
        assert!(block_on(a.restore_session("pid", "0")).unwrap().is_none());
        // Expiry after max_disconnection_duration, and the packet cap (4).
        a.persist_session(Session::new(
            "p2".into(),
            SocketId::from("s2"),
            vec![],
            serde_json::Value::Null,
        ));
        *now.lock().unwrap() = epoch + Duration::from_secs(121);
        assert!(block_on(a.restore_session("p2", "3")).unwrap().is_none());
        for _ in 0..6 {
            record(&event(r#"["x"]"#, None), &all);
        }
        let st = a.recovery.as_ref().unwrap().lock();
        assert_eq!(st.packets.len(), 4);
        assert!(st.sessions.is_empty());
    }

    #[test]
    fn bulk_operations() {
        let (a, probes) = setup();
        block_on(a.add_sockets(
            &BroadcastOptions::new().to(Room::from("r1")),
            &[Room::from("new")],
        ))
        .unwrap();
        assert_eq!(
            ids(&a, &BroadcastOptions::new().to(Room::from("new"))),
            ["a", "b"]
        );
        block_on(a.del_sockets(&BroadcastOptions::new(), &[Room::from("new")])).unwrap();
        assert!(ids(&a, &BroadcastOptions::new().to(Room::from("new"))).is_empty());
        let infos =
            block_on(a.fetch_sockets(&BroadcastOptions::new().to(Room::from("r2")))).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].id, SocketId::from("a"));
        block_on(a.disconnect_sockets(&BroadcastOptions::new().except(Room::from("r1")))).unwrap();
        let gone: Vec<bool> = probes
            .iter()
            .map(|p| *p.disconnected.lock().unwrap())
            .collect();
        assert_eq!(gone, [false, false, true]);
        assert_eq!(block_on(a.server_count()), Ok(1));
    }
}
