// The official npm `socket.io` server that our Rust client's interop tests
// (crates/socketio-client/tests/interop.rs) run against.
//
//   node client-server.mjs [port]
//
// Prints `LISTENING <port>` once it accepts connections, then one JSON line per
// event it records (`{"event": ..., "args": [...]}`), so the tests can follow what
// the server received. The tests kill it with SIGKILL and start it again on the
// same port to test reconnection and offline buffering.

import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 0);
const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 2000,
  pingTimeout: 2000,
  maxHttpBufferSize: 1e6,
  // SIO_CSR=1: connection state recovery (pid and offsets, missed broadcasts replayed).
  ...(process.env.SIO_CSR
    ? { connectionStateRecovery: { maxDisconnectionDuration: 60000 } }
    : {}),
});

const record = (event, args) => {
  const printable = args.map((a) =>
    Buffer.isBuffer(a) ? { bytes: a.length } : a,
  );
  process.stdout.write(JSON.stringify({ event, args: printable }) + "\n");
};

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });
  socket.on("noreply", () => {});
  socket.on("record", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    record("record", args);
    if (ack) ack();
  });
  // Acks only the second delivery of each id: the first ack is "lost".
  const tries = new Map();
  socket.on("job", (id, ack) => {
    const n = (tries.get(id) || 0) + 1;
    tries.set(id, n);
    record("job", [`${id}:${n}`]);
    if (n >= 2) ack(id);
  });
  socket.on("upload", (name, data, ack) => {
    socket.emit("stored", name, data.length, data);
    ack(data.length);
  });
  socket.on("ask", async (question, waitMs) => {
    let text;
    try {
      text = await socket.timeout(waitMs).emitWithAck("question", question);
    } catch (e) {
      text = "timeout";
    }
    socket.emit("answer", text);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("shout", (room, text) => {
    socket.to(room).emit("shout", text);
  });
  socket.on("kick", () => socket.disconnect());
  // Closes the transport (not the namespace): the client reconnects; a broadcast sent
  // meanwhile is missed, and replayed when the session is recovered.
  socket.on("drop-transport", () => {
    socket.conn.close();
    setTimeout(() => io.emit("missed", "during the gap"), 100);
  });
  socket.emit("recovered", socket.recovered);
  socket.on("transport", (ack) => ack(socket.conn.transport.name));
});

const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "secret") {
    next();
  } else {
    const err = new Error("not authorized");
    err.data = { code: 7 };
    next(err);
  }
});
admin.on("connection", (socket) => {
  socket.emit("welcome", "admin");
  socket.on("echo", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
