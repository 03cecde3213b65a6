// (e) rooms: to(room) without the sender, broadcast().except(room).
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, next, record, sleep, useServer } from "../helpers.mjs";

const current = useServer();

async function three() {
  const [a, b, c] = await Promise.all(
    [0, 1, 2].map((i) => connected(client(current().url, { transports: [i === 1 ? "polling" : "websocket"] }))),
  );
  assert.equal(await a.emitWithAck("join", "r"), true);
  assert.equal(await b.emitWithAck("join", "r"), true);
  return [a, b, c];
}

test("to-room reaches the other members only", { timeout: 10000 }, async () => {
  const [a, b, c] = await three();
  const seenA = record(a, "room-message");
  const seenC = record(c, "room-message");
  const got = next(b, "room-message");
  a.emit("to-room", "r", { x: 1 });
  assert.deepEqual(await got, [{ x: 1 }]);
  await sleep(300);
  assert.deepEqual(seenA, [], "the sender must be excluded");
  assert.deepEqual(seenC, [], "a non-member must not receive it");
});

test("broadcast-except skips the room's members", { timeout: 10000 }, async () => {
  const [a, b, c] = await three();
  const seenA = record(a, "broadcast-message");
  const seenB = record(b, "broadcast-message");
  const got = next(c, "broadcast-message");
  c.emit("broadcast-except", "r", "hi");
  assert.deepEqual(await got, ["hi"]);
  await sleep(300);
  assert.deepEqual(seenA, []);
  assert.deepEqual(seenB, []);
});
