// Connection state recovery with the official client: a client whose transport dropped gets
// its id, rooms and the events it missed back (`socket.recovered`), on both transports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, next, record, useServer } from "../helpers.mjs";

const current = useServer({ CONNECTION_STATE_RECOVERY: "1" });

for (const transport of ["websocket", "polling"]) {
  test(`a dropped client recovers its id, rooms and missed events (${transport})`, { timeout: 15000 }, async () => {
    const socket = client(current().url, { transports: [transport] });
    // The welcome event carries the first offset the client will present.
    const welcome = next(socket, "welcome");
    await connected(socket);
    assert.equal(socket.recovered, false);
    const id = socket.id;
    assert.equal((await welcome)[0], id);
    assert.equal(await socket.emitWithAck("join", "csr-room"), true);
    const messages = record(socket, "room-message");

    const other = await connected(client(current().url, { transports: ["websocket"] }));
    const gone = next(socket, "disconnect");
    // The client closes its Engine.IO connection ("forced close" on its side); the server sees
    // the transport close, a recoverable reason.
    socket.io.engine.close();
    assert.equal((await gone)[0], "forced close");
    assert.equal(await other.emitWithAck("await-disconnect", id), "transport close");

    // Sent while the first client is away.
    other.emit("to-room", "csr-room", "missed-1");
    other.emit("to-room", "csr-room", { n: 2 });
    assert.equal(await other.emitWithAck("ack", "sync"), "sync");

    socket.connect();
    await connected(socket);
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id);
    // The missed events arrive (before the CONNECT reply, delivered after it), in order, each
    // with its offset as last argument.
    assert.equal(messages.length, 2);
    assert.equal(messages[0][0], "missed-1");
    assert.deepEqual(messages[1][0], { n: 2 });
    assert.equal(typeof messages[1][1], "string");

    // Still in the room.
    const live = next(socket, "room-message");
    other.emit("to-room", "csr-room", "live");
    assert.equal((await live)[0], "live");
  });
}

test("a client disconnected on purpose starts afresh", { timeout: 10000 }, async () => {
  const socket = client(current().url, { transports: ["websocket"] });
  const welcome = next(socket, "welcome");
  await connected(socket);
  await welcome;
  const id = socket.id;
  socket.disconnect();
  socket.connect();
  await connected(socket);
  assert.equal(socket.recovered, false);
  assert.notEqual(socket.id, id);
});
