// (h) 200 concurrent websocket clients, 5 acknowledged events each.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, useServer } from "../helpers.mjs";

const current = useServer();

test("200 clients x 5 acked echoes within 20 s", { timeout: 30000 }, async () => {
  const started = Date.now();
  const sockets = await Promise.all(
    Array.from({ length: 200 }, () => connected(client(current().url, { transports: ["websocket"] }), 15000)),
  );
  const replies = await Promise.all(
    sockets.flatMap((s, i) =>
      Array.from({ length: 5 }, (_, j) => s.timeout(15000).emitWithAck("ack", { i, j })),
    ),
  );
  assert.equal(replies.length, 1000);
  replies.forEach((r, k) => assert.deepEqual(r, { i: Math.floor(k / 5), j: k % 5 }));
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 20000, `took ${elapsed} ms`);
});
