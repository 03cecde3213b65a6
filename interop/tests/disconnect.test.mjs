// (f) disconnections from either side and their reasons; (g) reconnection after a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, next, sleep, useServer } from "../helpers.mjs";

const current = useServer();

/** Polls the server's last disconnect reason until it equals `want` (2 s). */
async function lastReason(want) {
  const probe = await connected(client(current().url, { transports: ["websocket"] }));
  let reason;
  for (let i = 0; i < 20; i++) {
    reason = await probe.emitWithAck("last-reason");
    if (reason === want) break;
    await sleep(100);
  }
  probe.disconnect();
  return reason;
}

for (const transport of ["polling", "websocket"]) {
  test(`server-side disconnect: io server disconnect (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport], reconnection: true }));
    const reason = next(socket, "disconnect");
    socket.emit("disconnect-me");
    assert.equal((await reason)[0], "io server disconnect");
    assert.equal(socket.connected, false);
    await sleep(300);
    assert.equal(socket.connected, false, "no automatic reconnection after a server disconnect");
    assert.equal(await lastReason("server namespace disconnect"), "server namespace disconnect");
  });

  test(`client-side disconnect: client namespace disconnect (${transport})`, { timeout: 10000 }, async () => {
    const socket = await connected(client(current().url, { transports: [transport] }));
    const reason = next(socket, "disconnect");
    socket.disconnect();
    assert.equal((await reason)[0], "io client disconnect");
    assert.equal(await lastReason("client namespace disconnect"), "client namespace disconnect");
  });
}

test("reconnection after the server restarts on the same port", { timeout: 15000 }, async () => {
  const socket = client(current().url, {
    transports: ["websocket"],
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
  });
  const firstWelcome = next(socket, "welcome", 5000);
  await connected(socket);
  const firstId = socket.id;
  // Wait for the welcome of the first connection, or it could arrive late and be taken for the
  // welcome of the second one.
  assert.equal((await firstWelcome)[0], firstId);
  const gone = next(socket, "disconnect", 5000);
  const back = next(socket.io, "reconnect", 10000);
  const welcome = next(socket, "welcome", 10000);
  await current().restart();
  // SIGKILL: the kernel closes the TCP connection with FIN, or RST when unread data was pending.
  const [reason] = await gone;
  assert.ok(["transport close", "transport error"].includes(reason), `disconnect reason ${reason}`);
  await back;
  await connected(socket);
  assert.notEqual(socket.id, firstId);
  assert.equal((await welcome)[0], socket.id);
  const reply = next(socket, "echo");
  socket.emit("echo", "after restart");
  assert.deepEqual(await reply, ["after restart"]);
});
