// (d) binary attachments both ways, top-level and nested.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, next, useServer } from "../helpers.mjs";

const current = useServer();

const asBuffer = (b) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b);

const bytes = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));

for (const transport of ["polling", "websocket"]) {
  test(`echo of a Buffer (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport] }));
    const buf = bytes(1000, 7);
    const reply = next(socket, "echo");
    socket.emit("echo", buf);
    const [got] = await reply;
    assert.ok(Buffer.isBuffer(got) || got instanceof ArrayBuffer, `got ${typeof got}`);
    assert.deepEqual(asBuffer(got), buf);
  });

  test(`echo of nested binary {a, b: [..]} (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport] }));
    const a = bytes(10, 1);
    const b0 = bytes(0, 0);
    const b1 = bytes(300, 2);
    const reply = next(socket, "echo");
    socket.emit("echo", { a, b: [b0, b1], text: "plain" }, "second", a);
    const [obj, second, again] = await reply;
    assert.deepEqual(asBuffer(obj.a), a);
    assert.equal(obj.b.length, 2);
    assert.deepEqual(asBuffer(obj.b[0]), b0);
    assert.deepEqual(asBuffer(obj.b[1]), b1);
    assert.equal(obj.text, "plain");
    assert.equal(second, "second");
    assert.deepEqual(asBuffer(again), a);
  });

  test(`binary acknowledgement (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport] }));
    const buf = bytes(64, 3);
    const got = await new Promise((resolve) => {
      socket.emit("ack", { nested: [buf] }, 5, (...args) => resolve(args));
    });
    assert.equal(got.length, 2);
    assert.deepEqual(asBuffer(got[0].nested[0]), buf);
    assert.equal(got[1], 5);
  });
}
