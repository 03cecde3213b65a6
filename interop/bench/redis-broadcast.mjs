// Cross-node broadcast over Redis: ours (two `cluster-node` servers, release build) against
// Node (two socket.io 4.8.4 servers with @socket.io/redis-adapter 8.3.0), same Redis, same
// run. A publisher client on node 1 asks its server to broadcast to room `rx`; receiver
// clients on node 2 record each delivery. Loopback only; every loop is bounded in count and
// time.
//
//   cargo build --release -p socketio-redis --example cluster-node
//   cd interop && TARGET_DIR=../target/release node bench/redis-broadcast.mjs
//
// Environment: TARGET_DIR (profile directory holding examples/cluster-node), CLIENTS (20),
// LATENCY_MESSAGES (300), MESSAGES (2000), BATCH (100 broadcasts in flight at most),
// KINDS (ours,node,ours,node), REDIS_URL (redis://127.0.0.1:6379).
import { spawnListening } from "../helpers.mjs";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TARGET_DIR = process.env.TARGET_DIR ?? path.join(HERE, "..", "..", "target", "release");
const RUST_NODE = path.join(TARGET_DIR, "examples", "cluster-node");
const NODE_SERVER = path.join(HERE, "..", "redis-node-server.mjs");
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const CLIENTS = Number(process.env.CLIENTS ?? 20);
const LATENCY_MESSAGES = Number(process.env.LATENCY_MESSAGES ?? 300);
const MESSAGES = Number(process.env.MESSAGES ?? 2000);
const BATCH = Number(process.env.BATCH ?? 100);
const DEADLINE_MS = 60000;

if (!/^redis:\/\/(127\.0\.0\.1|localhost)[:/]/.test(REDIS_URL)) throw new Error("loopback Redis only");

async function member(cmd, args, key, name) {
  const { proc, port } = await spawnListening(cmd, args, {
    env: { REDIS_URL, KEY: key, NODE_NAME: name, PORT: "0" },
    name,
  });
  return { proc, url: `http://127.0.0.1:${port}` };
}

function connect(url) {
  const s = io(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function run(kind) {
  const key = `bench-${kind}-${process.pid}-${Date.now()}`;
  const start = kind === "ours" ? [RUST_NODE, []] : [process.execPath, [NODE_SERVER]];
  const members = [await member(...start, key, `${kind}-1`), await member(...start, key, `${kind}-2`)];
  const publisher = await connect(members[0].url);
  const receivers = await Promise.all(Array.from({ length: CLIENTS }, () => connect(members[1].url)));
  await Promise.all(receivers.map((r) => r.emitWithAck("join", "rx")));
  const ready = Date.now() + 15000;
  while ((await publisher.emitWithAck("server-count")) !== 2) {
    if (Date.now() > ready) throw new Error("cluster did not form");
    await new Promise((r) => setTimeout(r, 50));
  }

  // Latency: one broadcast at a time, the next once every receiver got the previous one.
  const latencies = [];
  let pending = 0;
  let wake = null;
  for (const r of receivers) {
    r.on("lat", (t0) => {
      latencies.push(performance.now() - t0);
      if (--pending === 0) wake?.();
    });
  }
  for (let i = 0; i < LATENCY_MESSAGES; i++) {
    pending = CLIENTS;
    const done = new Promise((r) => (wake = r));
    publisher.emit("bcast", { event: "lat", rooms: ["rx"], args: [performance.now()] });
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error("lost")), 5000))]);
  }
  latencies.sort((a, b) => a - b);

  // Throughput: batches of BATCH broadcasts (at most BATCH in flight, so no server queue
  // overflows its bounds); deliveries per second until the last arrives.
  let delivered = 0;
  const total = MESSAGES * CLIENTS;
  let target = 0;
  let release = null;
  for (const r of receivers) {
    r.on("tp", () => {
      if (++delivered === target) release?.();
    });
  }
  const t0 = performance.now();
  const deadline = t0 + DEADLINE_MS;
  for (let i = 0; i < MESSAGES && performance.now() < deadline; i += BATCH) {
    const n = Math.min(BATCH, MESSAGES - i);
    target = delivered + n * CLIENTS;
    const done = new Promise((r) => (release = r));
    for (let j = 0; j < n; j++) {
      publisher.emit("bcast", { event: "tp", rooms: ["rx"], args: [i + j, "x".repeat(64)] });
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, Math.max(0, deadline - performance.now())))]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const dropped = receivers.filter((r) => !r.connected).length;

  for (const s of [publisher, ...receivers]) s.disconnect();
  for (const m of members) {
    const exited = once(m.proc, "exit");
    m.proc.kill("SIGKILL");
    await exited;
  }
  return {
    kind,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    deliveriesPerSecond: delivered / seconds,
    delivered,
    total,
    dropped,
  };
}

const results = [];
const kinds = (process.env.KINDS ?? "ours,node,ours,node").split(",");
for (const kind of kinds) results.push(await run(kind));
for (const r of results) {
  console.log(
    `${r.kind}\tp50 ${r.p50.toFixed(3)} ms\tp99 ${r.p99.toFixed(3)} ms\t` +
      `${Math.round(r.deliveriesPerSecond)} deliveries/s (${r.delivered}/${r.total}, ` +
      `${r.dropped} receivers disconnected)`,
  );
}
