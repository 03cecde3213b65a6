// (b) a namespace with an auth middleware: accepted and refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, next, useServer } from "../helpers.mjs";

const current = useServer();

for (const transport of ["polling", "websocket"]) {
  test(`/admin accepts the right token (${transport})`, { timeout: 10000 }, async () => {
    const socket = client(`${current().url}/admin`, {
      transports: [transport],
      auth: { token: "secret" },
    });
    const welcome = next(socket, "welcome-admin");
    await connected(socket);
    assert.deepEqual(await welcome, [{ token: "secret" }]);
  });

  test(`/admin refuses a bad token (${transport})`, { timeout: 10000 }, async () => {
    const socket = client(`${current().url}/admin`, {
      transports: [transport],
      auth: { token: "wrong" },
    });
    const [err] = await next(socket, "connect_error", 5000);
    assert.equal(err.message, "not authorized");
    assert.deepEqual(err.data, { reason: "bad token" });
    assert.equal(socket.connected, false);
  });
}

test("main and /admin namespaces multiplexed on one connection", { timeout: 10000 }, async () => {
  const main = client(current().url, { transports: ["websocket"] });
  const admin = main.io.socket("/admin", { auth: { token: "secret" } });
  const welcome = next(admin, "welcome-admin");
  await connected(main);
  await connected(admin);
  assert.deepEqual(await welcome, [{ token: "secret" }]);
  assert.notEqual(main.id, admin.id);
  const reply = next(main, "echo");
  main.emit("echo", "multiplexed");
  assert.deepEqual(await reply, ["multiplexed"]);
  admin.disconnect();
});
