// A mixed cluster on one Redis: two of our servers (the socketio-redis `cluster-node` example)
// and one Node socket.io 4.8 server with @socket.io/redis-adapter 8.3, official clients on
// each. Every cluster operation is started from every node, so each direction is covered
// (Rust to Node, Node to Rust, Rust to Rust), with binary payloads and acks; then the
// @socket.io/redis-emitter 5.1 reaches the clients of every node. The channel prefix is unique
// to this run, so nothing else on the Redis interferes.
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import { client, closeClients, connected, next, record, spawnListening } from "../helpers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RUST_NODE = path.join(process.env.TARGET_DIR, "examples", "cluster-node");
const NODE_SERVER = path.join(HERE, "..", "redis-node-server.mjs");
const REDIS_URL = "redis://127.0.0.1:6379";
const KEY = `interop-${process.pid}-${Date.now()}`;

/** Spawns a cluster member; resolves once it printed `listening <port>`. */
async function member(cmd, args, name) {
  const { proc, port } = await spawnListening(cmd, args, {
    env: { REDIS_URL, KEY, NODE_NAME: name, PORT: "0" },
    name,
  });
  return { name, proc, url: `http://127.0.0.1:${port}` };
}

const members = [];
let redis;

/** Every member answers `server-count` with 3 (each has subscribed), within a deadline. */
async function clusterReady(socket) {
  const deadline = Date.now() + 15000;
  for (;;) {
    if ((await socket.emitWithAck("server-count")) === 3) return;
    if (Date.now() > deadline) throw new Error("the cluster did not form");
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  redis = createClient({ url: REDIS_URL });
  await redis.connect();
  members.push(await member(RUST_NODE, [], "R1"));
  members.push(await member(RUST_NODE, [], "R2"));
  members.push(await member(process.execPath, [NODE_SERVER], "N1"));
  const probe = await connected(client(members[0].url));
  await clusterReady(probe);
  closeClients();
});

afterEach(closeClients);

after(async () => {
  closeClients();
  await redis?.quit();
  for (const m of members) {
    if (m.proc.exitCode === null && m.proc.signalCode === null) {
      const exited = once(m.proc, "exit");
      m.proc.kill("SIGKILL");
      await exited;
    }
  }
});

/** One client per member, in order R1, R2, N1, each answering `ask` with its name. */
async function clients() {
  const list = await Promise.all(
    members.map((m) => connected(client(m.url, { transports: ["websocket"], auth: { via: m.name } }))),
  );
  list.forEach((s, i) => {
    s.on("ask", (...a) => {
      const cb = a.pop();
      // The Node client answers with a binary, the others with their member's name.
      cb(members[i].name === "N1" ? Buffer.from([7, 7]) : members[i].name);
    });
  });
  return list;
}

const sorted = (xs) => [...xs].map((x) => JSON.stringify(x)).sort();
const BIN = Buffer.from([1, 2, 3]);

/** Runs `body(origin index)` once per member: every operation from every node. */
async function fromEveryNode(body) {
  for (let origin = 0; origin < members.length; origin++) {
    await body(origin, members[origin].name);
  }
}

test("broadcast to all, to one room and with except, binary included, from every node", { timeout: 30000 }, async () => {
  const cs = await clients();
  assert.equal(await cs[1].emitWithAck("join", "room-b"), true);
  await fromEveryNode(async (o, from) => {
    const all = cs.map((c) => next(c, "news"));
    assert.equal(await cs[o].emitWithAck("bcast", { event: "news", args: [from, { n: 1 }], bin: true }), true);
    for (const got of await Promise.all(all)) {
      assert.deepEqual(got.slice(0, 2), [from, { n: 1 }]);
      assert.ok(Buffer.from(got[2]).equals(BIN), `binary from ${from}`);
    }
    // One room (the room channel) and except: only R2's client is in room-b.
    const seenRoom = cs.map((c) => record(c, "in-room"));
    const seenExcept = cs.map((c) => record(c, "except"));
    const sentinels = cs.map((c) => next(c, "sentinel"));
    await cs[o].emitWithAck("bcast", { event: "in-room", rooms: ["room-b"] });
    await cs[o].emitWithAck("bcast", { event: "except", except: ["room-b"] });
    await cs[o].emitWithAck("bcast", { event: "sentinel" });
    await Promise.all(sentinels);
    assert.deepEqual(seenRoom.map((s) => s.length), [0, 1, 0], `room from ${from}`);
    assert.deepEqual(seenExcept.map((s) => s.length), [1, 0, 1], `except from ${from}`);
    cs.forEach((c) => c.off("in-room").off("except"));
  });
});

test("local broadcasts stay on their node", { timeout: 20000 }, async () => {
  const cs = await clients();
  await fromEveryNode(async (o, from) => {
    const seen = cs.map((c) => record(c, "local"));
    const sentinels = cs.map((c) => next(c, "sentinel"));
    await cs[o].emitWithAck("bcast", { event: "local", local: true });
    await cs[o].emitWithAck("bcast", { event: "sentinel" });
    await Promise.all(sentinels);
    assert.deepEqual(seen.map((s) => s.length), cs.map((_, i) => (i === o ? 1 : 0)), `from ${from}`);
    cs.forEach((c) => c.off("local"));
  });
});

test("broadcast with acks gathers every client's reply across nodes", { timeout: 30000 }, async () => {
  const cs = await clients();
  await fromEveryNode(async (o, from) => {
    const r = await cs[o].emitWithAck("bcast-ack", { event: "ask", args: [from], bin: true, timeout: 4000 });
    assert.equal(r.ok, true, `from ${from}: ${JSON.stringify(r)}`);
    assert.deepEqual(sorted(r.replies), sorted(["R1", "R2", { bin: [7, 7] }]));
  });
});

test("fetchSockets and remote sockets (emit, join, leave, disconnect) across nodes", { timeout: 30000 }, async () => {
  const cs = await clients();
  await Promise.all(cs.map((c, i) => c.emitWithAck("set-data", { member: members[i].name })));
  await fromEveryNode(async (o, from) => {
    const r = await cs[o].emitWithAck("fetch", {});
    assert.equal(r.ok, true, JSON.stringify(r));
    const mine = r.sockets.filter((s) => cs.some((c) => c.id === s.id));
    assert.equal(mine.length, 3, `from ${from}`);
    for (const [i, c] of cs.entries()) {
      const s = mine.find((x) => x.id === c.id);
      assert.ok(s.rooms.includes(c.id));
      assert.deepEqual(s.data, { member: members[i].name }, `data of ${members[i].name} seen from ${from}`);
      assert.deepEqual(s.auth, { via: members[i].name }, `handshake.auth of ${members[i].name} seen from ${from}`);
      assert.equal(s.issued, true, `handshake.issued of ${members[i].name} seen from ${from}`);
    }
    // Act on the socket of the next node as a remote socket.
    const t = (o + 1) % cs.length;
    const target = { id: cs[t].id, event: "direct", args: [from], bin: true, room: `r-${from}` };
    const direct = next(cs[t], "direct");
    assert.equal(await cs[o].emitWithAck("remote", target, "emit"), true);
    const got = await direct;
    assert.equal(got[0], from);
    assert.ok(Buffer.from(got[1]).equals(BIN));
    assert.equal(await cs[o].emitWithAck("remote", target, "join"), true);
    const inRoom = next(cs[t], "in-room");
    await cs[o].emitWithAck("bcast", { event: "in-room", rooms: [`r-${from}`] });
    await inRoom;
    assert.equal(await cs[o].emitWithAck("remote", target, "leave"), true);
    const rooms = await cs[o].emitWithAck("fetch", { rooms: [`r-${from}`] });
    assert.deepEqual(rooms.sockets, [], `leave from ${from}`);
  });
  // Disconnect, from N1 to R1's client and from R2 to N1's client.
  for (const [o, t] of [
    [2, 0],
    [1, 2],
  ]) {
    const gone = next(cs[t], "disconnect");
    assert.equal(await cs[o].emitWithAck("remote", { id: cs[t].id }, "disconnect"), true);
    assert.equal((await gone)[0], "io server disconnect");
  }
});

test("socketsJoin, socketsLeave, allRooms and serverCount across nodes", { timeout: 30000 }, async () => {
  const cs = await clients();
  await fromEveryNode(async (o, from) => {
    assert.equal(await cs[o].emitWithAck("server-count"), 3);
    const room = `all-${from}`;
    await cs[o].emitWithAck("sockets", { room }, "join");
    // A Node origin applies its own request only when it comes back from Redis: a first
    // round trip makes sure it has (each node handles the bus in order).
    await cs[o].emitWithAck("fetch", {});
    const got = cs.map((c) => next(c, "joined"));
    await cs[o].emitWithAck("bcast", { event: "joined", rooms: [room] });
    await Promise.all(got);
    const rooms = await cs[o].emitWithAck("all-rooms");
    assert.ok(rooms.includes(room), `allRooms from ${from}: ${rooms}`);
    for (const c of cs) assert.ok(rooms.includes(c.id));
    await cs[o].emitWithAck("sockets", { room, rooms: [room] }, "leave");
    await cs[o].emitWithAck("fetch", {});
    const fetched = await cs[o].emitWithAck("fetch", { rooms: [room] });
    assert.deepEqual(fetched.sockets, [], `socketsLeave from ${from}`);
  });
});

test("disconnectSockets across nodes, with except", { timeout: 20000 }, async () => {
  const cs = await clients();
  await cs[1].emitWithAck("join", "keep");
  const gone = [next(cs[0], "disconnect"), next(cs[2], "disconnect")];
  // From R2, every socket except the members of `keep` (R2's own client).
  await cs[1].emitWithAck("sockets", { except: ["keep"] }, "disconnect");
  assert.deepEqual((await Promise.all(gone)).map((g) => g[0]), ["io server disconnect", "io server disconnect"]);
  assert.ok(cs[1].connected);
  const fresh = await clients();
  const gone2 = [next(fresh[0], "disconnect"), next(fresh[1], "disconnect")];
  // From N1 to the clients of R1 and R2 (a room list that holds them).
  await fresh[0].emitWithAck("join", "bye");
  await fresh[1].emitWithAck("join", "bye");
  await fresh[2].emitWithAck("sockets", { rooms: ["bye"] }, "disconnect");
  await Promise.all(gone2);
  assert.ok(fresh[2].connected);
  // disconnectSockets(true): the connection closes too, Rust to Node and Node to Rust.
  const third = await clients();
  for (const [o, t] of [
    [2, 1],
    [0, 2],
  ]) {
    const gone = next(third[t], "disconnect");
    const closed = next(third[t].io, "close");
    await third[o].emitWithAck("sockets", { rooms: [third[t].id] }, "close");
    assert.equal((await gone)[0], "io server disconnect");
    await closed;
  }
});

test("serverSideEmit with and without ack between every pair of nodes", { timeout: 30000 }, async () => {
  const cs = await clients();
  await fromEveryNode(async (o, from) => {
    const others = cs.map((c, i) => (i === o ? null : next(c, "sse-got")));
    const own = record(cs[o], "sse-got");
    assert.equal(await cs[o].emitWithAck("sse", { event: "hello", args: [from], bin: true }), true);
    const buffer = { type: "Buffer", data: [1, 2, 3] };
    for (const [i, p] of others.entries()) {
      if (!p) continue;
      assert.deepEqual(await p, [members[i].name, [from, buffer]], `${from} -> ${members[i].name}`);
    }
    const r = await cs[o].emitWithAck("sse-ack", { event: "hello", args: [from] });
    assert.equal(r.ok, true, JSON.stringify(r));
    const expected = members
      .filter((_, i) => i !== o)
      .map((m) => ({ from: m.name, got: [from] }));
    assert.deepEqual(sorted(r.replies), sorted(expected), `acks to ${from}`);
    // The sender's node does not get its own server-side emit (its other answers arrived).
    assert.deepEqual(own, []);
  });
});

test("@socket.io/redis-emitter reaches the clients of every node", { timeout: 20000 }, async () => {
  const cs = await clients();
  await cs[0].emitWithAck("join", "e-room");
  await cs[2].emitWithAck("join", "e-room");
  const emitter = new Emitter(redis, { key: KEY });
  const all = cs.map((c) => next(c, "from-emitter"));
  emitter.emit("from-emitter", "hi", BIN);
  for (const got of await Promise.all(all)) {
    assert.equal(got[0], "hi");
    assert.ok(Buffer.from(got[1]).equals(BIN));
  }
  const seen = cs.map((c) => record(c, "room-only"));
  const sentinels = cs.map((c) => next(c, "sentinel"));
  emitter.to("e-room").emit("room-only", { x: 1 });
  emitter.emit("sentinel");
  await Promise.all(sentinels);
  assert.deepEqual(seen.map((s) => s.length), [1, 0, 1]);
  // The emitter's bulk requests reach our nodes too.
  const joined = cs.map((c) => next(c, "after-join"));
  emitter.in("e-room").socketsJoin("e-joined");
  emitter.except("e-room").socketsJoin("e-joined");
  emitter.to("e-joined").emit("after-join");
  await Promise.all(joined);
  const gone = next(cs[1], "disconnect");
  emitter.except("e-room").disconnectSockets(true);
  assert.equal((await gone)[0], "io server disconnect");
});
