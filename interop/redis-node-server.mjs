// A Node socket.io 4.8 server with @socket.io/redis-adapter 8 (classic protocol): the Node
// member of the mixed cluster in tests/redis-cluster.test.mjs. It answers the same control
// events as our `cluster-node` example (crates/socketio-redis/examples/common/app.rs).
// Environment: REDIS_URL, KEY, NODE_NAME, PORT. Prints `listening <port>`.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const key = process.env.KEY ?? "socket.io";
const name = process.env.NODE_NAME ?? "node";

const pub = createClient({ url });
const sub = pub.duplicate();
pub.on("error", () => {});
sub.on("error", () => {});
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub, { key }) });

/** Binaries as `{bin: [bytes]}`, as our node describes them. */
function describe(v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { bin: [...v] };
  if (v instanceof ArrayBuffer) return { bin: [...new Uint8Array(v)] };
  if (Array.isArray(v)) return v.map(describe);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)]));
  }
  return v;
}

function target(spec) {
  let op = io.to(spec.rooms ?? []);
  if (spec.except?.length) op = op.except(spec.except);
  if (spec.volatile) op = op.volatile;
  if (spec.local) op = op.local;
  if (spec.timeout) op = op.timeout(spec.timeout);
  return op;
}

const args = (spec) => [...(spec.args ?? []), ...(spec.bin ? [Buffer.from([1, 2, 3])] : [])];
const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const infos = (sockets) =>
  sockets
    .map((s) => ({
      id: s.id,
      rooms: [...s.rooms].sort(),
      data: s.data ?? null,
      auth: s.handshake?.auth ?? null,
      issued: Number.isInteger(s.handshake?.issued),
    }))
    .sort(byId);

io.on("hello", (...a) => {
  const cb = typeof a[a.length - 1] === "function" ? a.pop() : null;
  io.local.emit("sse-got", name, describe(a));
  cb?.({ from: name, got: describe(a) });
});

io.on("connection", (socket) => {
  socket.on("join", (room, cb) => {
    socket.join(room);
    cb?.(true);
  });
  socket.on("leave", (room, cb) => {
    socket.leave(room);
    cb?.(true);
  });
  socket.on("set-data", (data, cb) => {
    socket.data = data;
    cb?.(true);
  });
  socket.on("bcast", (spec, cb) => {
    target(spec).emit(spec.event, ...args(spec));
    cb?.(true);
  });
  socket.on("bcast-ack", async (spec, cb) => {
    try {
      const replies = await target(spec).emitWithAck(spec.event, ...args(spec));
      cb({ ok: true, replies: replies.map(describe) });
    } catch (e) {
      cb({ ok: false, error: e.message, replies: [] });
    }
  });
  socket.on("fetch", async (spec, cb) => {
    try {
      cb({ ok: true, sockets: infos(await target(spec).fetchSockets()) });
    } catch (e) {
      cb({ ok: false, error: e.message });
    }
  });
  socket.on("remote", async (spec, op, cb) => {
    const found = (await io.fetchSockets()).find((s) => s.id === spec.id);
    if (!found) return cb(false);
    if (op === "emit") found.emit(spec.event, ...args(spec));
    else if (op === "join") found.join(spec.room);
    else if (op === "leave") found.leave(spec.room);
    else if (op === "disconnect") found.disconnect();
    else if (op === "close") found.disconnect(true);
    else return cb(false);
    cb(true);
  });
  socket.on("sockets", (spec, op, cb) => {
    const t = target(spec);
    if (op === "join") t.socketsJoin(spec.room);
    else if (op === "leave") t.socketsLeave(spec.room);
    else if (op === "close") t.disconnectSockets(true);
    else t.disconnectSockets();
    cb(true);
  });
  socket.on("all-rooms", async (cb) => {
    try {
      cb([...(await io.of("/").adapter.allRooms())].sort());
    } catch (e) {
      cb(e.message);
    }
  });
  socket.on("server-count", async (cb) => cb(await io.of("/").adapter.serverCount()));
  socket.on("sse", (spec, cb) => {
    io.serverSideEmit(spec.event, ...args(spec));
    cb(true);
  });
  socket.on("sse-ack", async (spec, cb) => {
    try {
      const replies = await io.serverSideEmitWithAck(spec.event, ...args(spec));
      const list = replies.map(describe);
      list.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      cb({ ok: true, replies: list });
    } catch (e) {
      cb({ ok: false, error: e.message, replies: (e.responses ?? []).map(describe) });
    }
  });
});

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening ${http.address().port}`);
});
