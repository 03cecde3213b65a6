// (a) every transport the official client offers, and the raw Engine.IO handshake.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Socket as EngineSocket } from "engine.io-client";
import { client, connected, next, useServer } from "../helpers.mjs";

const current = useServer();

async function echoRoundTrip(socket) {
  const reply = next(socket, "echo");
  socket.emit("echo", "hello", 42, { nested: [true, null] });
  assert.deepEqual(await reply, ["hello", 42, { nested: [true, null] }]);
}

test("polling only: connect, welcome, echo", { timeout: 10000 }, async () => {
  const socket = client(current().url, { transports: ["polling"] });
  const welcome = next(socket, "welcome");
  await connected(socket);
  assert.equal((await welcome)[0], socket.id);
  assert.equal(socket.io.engine.transport.name, "polling");
  await echoRoundTrip(socket);
});

test("websocket only: connect, welcome, echo", { timeout: 10000 }, async () => {
  const socket = client(current().url, { transports: ["websocket"] });
  const welcome = next(socket, "welcome");
  await connected(socket);
  assert.equal((await welcome)[0], socket.id);
  assert.equal(socket.io.engine.transport.name, "websocket");
  await echoRoundTrip(socket);
});

test("polling then upgrade to websocket, echo", { timeout: 10000 }, async () => {
  const socket = client(current().url, { transports: ["polling", "websocket"], upgrade: true });
  await connected(socket);
  const engine = socket.io.engine;
  if (engine.transport.name !== "websocket") {
    await next(engine, "upgrade", 5000);
  }
  assert.equal(socket.io.engine.transport.name, "websocket");
  await echoRoundTrip(socket);
});

test("raw engine.io-client: open packet, then Socket.IO CONNECT", { timeout: 10000 }, async () => {
  const engine = new EngineSocket(current().url, { path: "/socket.io/" });
  try {
    const open = new Promise((resolve) => {
      engine.on("packet", (p) => {
        if (p.type === "open") resolve(p);
      });
    });
    const handshake = next(engine, "handshake", 5000);
    const opened = next(engine, "open", 5000);
    const packet = await open;
    const data = JSON.parse(packet.data);
    assert.equal(typeof data.sid, "string");
    assert.ok(Array.isArray(data.upgrades));
    assert.equal(typeof data.pingInterval, "number");
    assert.equal(typeof data.pingTimeout, "number");
    assert.equal(typeof data.maxPayload, "number");
    assert.deepEqual((await handshake)[0], data);
    await opened;
    // Engine.IO MESSAGE (4) carrying Socket.IO CONNECT (0) to "/": `40` on the wire; the
    // answer is `40{"sid":…}`, i.e. the message `0{"sid":…}`.
    const message = next(engine, "message", 5000);
    engine.send("0");
    const [reply] = await message;
    assert.match(reply, /^0\{"sid":"[^"]+"\}$/);
    const sid = JSON.parse(reply.slice(1)).sid;
    assert.notEqual(sid, data.sid, "the Socket.IO id must not be the Engine.IO session id");
  } finally {
    engine.close();
  }
});

for (const transport of ["polling", "websocket"]) {
  test(`burst of 100 mixed text/binary events keeps order (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport] }));
    const got = [];
    const done = new Promise((resolve) => {
      socket.on("echo", (...args) => {
        got.push(args);
        if (got.length === 100) resolve();
      });
    });
    for (let i = 0; i < 100; i++) {
      if (i % 3 === 0) socket.emit("echo", i, Buffer.from([i, 255 - i]));
      else socket.emit("echo", i, "é\u2028\u{1F600}".repeat(i % 7));
    }
    await done;
    got.forEach((args, i) => {
      assert.equal(args[0], i);
      if (i % 3 === 0) assert.deepEqual(Buffer.from(args[1]), Buffer.from([i, 255 - i]));
      else assert.equal(args[1], "é\u2028\u{1F600}".repeat(i % 7));
    });
  });
}

test("binary echo right after a polling→websocket upgrade", { timeout: 10000 }, async () => {
  const socket = await connected(client(current().url, { transports: ["polling", "websocket"] }));
  // Emitted while the upgrade is under way: buffered by the client, flushed on either transport.
  const early = next(socket, "echo");
  socket.emit("echo", Buffer.from("during upgrade"));
  assert.deepEqual(Buffer.from((await early)[0]), Buffer.from("during upgrade"));
  if (socket.io.engine.transport.name !== "websocket") await next(socket.io.engine, "upgrade", 5000);
  const late = next(socket, "echo");
  socket.emit("echo", { buf: Buffer.from("after upgrade") });
  assert.deepEqual(Buffer.from((await late)[0].buf), Buffer.from("after upgrade"));
});
