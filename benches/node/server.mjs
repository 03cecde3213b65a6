// Node socket.io under test in the end-to-end benchmark suite (benches/run.py).
//
// socket.io 4.8 on ws (bufferutil and utf-8-validate loaded when their builds are present),
// ping 25 s / 20 s, maxHttpBufferSize 1 MB, permessage-deflate off (the default), both
// transports, `request = null` on every engine connection (the memory advice of the socket.io
// docs). Binds 127.0.0.1:$PORT (0 picks a free port) and prints `listening <port>` once bound.
//
// Handlers, the same in every server of the suite:
// - `echo` (one argument, acknowledged): acknowledges with the argument;
// - `join` (room name, acknowledged): joins the room, acknowledges `true`;
// - `fan` (one argument): emits `m` with the argument to the room `bench`.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { Server } from "socket.io";

const require = createRequire(import.meta.url);
const loaded = (name) => {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
};

const http = createServer();
const io = new Server(http, {
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  perMessageDeflate: false,
  httpCompression: false,
});
io.engine.on("connection", (raw) => {
  raw.request = null;
});
io.on("connection", (socket) => {
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("fan", (data) => {
    socket.to("bench").emit("m", data);
  });
});
http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const native = loaded("bufferutil") && loaded("utf-8-validate");
  process.stderr.write(`node ${process.version}, ws native addons: ${native}\n`);
  process.stdout.write(`listening ${http.address().port}\n`);
});
