//! The in-memory adapter: one node, rooms in two maps.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use engineio_proto::Frame;
use socketio_proto::{Namespace, Packet};

use crate::{
    AckCallback, Adapter, AdapterError, BroadcastOptions, LocalSocket, Room, SocketId, SocketInfo,
};

#[derive(Default)]
struct State {
    sockets: HashMap<SocketId, Arc<dyn LocalSocket>>,
    rooms: HashMap<Room, HashSet<SocketId>>,
    socket_rooms: HashMap<SocketId, HashSet<Room>>,
}

/// The adapter of a single node: room membership in memory, broadcasts encoded once and
/// handed to each local recipient. Locks are held only to read or change membership, never
/// while sending.
pub struct InMemoryAdapter {
    ns: Namespace,
    state: RwLock<State>,
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
            .map(|s| SocketInfo::new(s.id().clone(), self.rooms_of(s.id())))
            .collect()
    }
}

impl State {
    fn join(&mut self, id: &SocketId, room: Room) {
        if !self.sockets.contains_key(id) {
            return;
        }
        if self
            .socket_rooms
            .entry(id.clone())
            .or_default()
            .insert(room.clone())
        {
            self.rooms.entry(room).or_default().insert(id.clone());
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
        let excluded: HashSet<&SocketId> = opts
            .except
            .iter()
            .filter_map(|r| self.rooms.get(r))
            .flatten()
            .collect();
        let pick = |id: &SocketId| {
            if excluded.contains(id) {
                None
            } else {
                self.sockets.get(id).cloned()
            }
        };
        if opts.rooms.is_empty() {
            return self.sockets.keys().filter_map(pick).collect();
        }
        let mut seen = HashSet::new();
        opts.rooms
            .iter()
            .filter_map(|r| self.rooms.get(r))
            .flatten()
            .filter(|id| seen.insert(*id))
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
        let frames: Vec<Frame> = packet.encode().frames().collect();
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
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_executor::block_on;
    use socketio_proto::{AckId, Payload};

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
