// (c) acknowledgements both ways, and the client-side ack timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, next, useServer } from "../helpers.mjs";

const current = useServer();

for (const transport of ["polling", "websocket"]) {
  test(`client ack: every argument comes back (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport] }));
    const first = await socket.emitWithAck("ack", 1, "two", { three: 3 });
    assert.equal(first, 1);
    const all = await new Promise((resolve) => {
      socket.emit("ack", 1, "two", { three: 3 }, (...args) => resolve(args));
    });
    assert.deepEqual(all, [1, "two", { three: 3 }]);
    const none = await new Promise((resolve) => socket.emit("ack", (...args) => resolve(args)));
    assert.deepEqual(none, []);
  });

  test(`server ack: the client answers the server's question (${transport})`, { timeout: 10000 }, async () => {
    const socket = client(current().url, { transports: [transport] });
    socket.on("question", (payload, callback) => callback({ got: payload }));
    await connected(socket);
    const answer = next(socket, "answer");
    socket.emit("ask-ack", { q: "hello" });
    assert.deepEqual(await answer, [{ got: { q: "hello" } }]);
  });
}

test("server ack: no client answer times out server-side", { timeout: 10000 }, async () => {
  const socket = client(current().url, { transports: ["websocket"] });
  socket.on("question", () => {}); // never calls back
  await connected(socket);
  const answer = next(socket, "answer", 5000);
  socket.emit("ask-ack", "ignored");
  assert.deepEqual(await answer, ["timeout"]);
});

test("client-side ack timeout rejects", { timeout: 10000 }, async () => {
  const socket = await connected(client(current().url, { transports: ["websocket"] }));
  const started = Date.now();
  await assert.rejects(socket.timeout(200).emitWithAck("no-such-event"), /operation has timed out/);
  assert.ok(Date.now() - started >= 150);
  // The connection is still usable afterwards.
  assert.equal(await socket.emitWithAck("ack", "still here"), "still here");
});
