// The real-browser test: Debian's headless Chromium, driven by playwright-core, loads a test
// page from `sio serve` with the official socket.io-client browser bundle. Two pages connect
// over polling, upgrade to WebSocket, join a room, exchange events with acks and binary, and
// see each other's messages; a third page shows the status page with both sessions.
//
// Needs TARGET_DIR (the cargo profile directory holding the `sio` binary) and Chromium: the
// CHROMIUM variable, or `chromium` on the PATH (`cargo xtask test` provides both).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, "..");
const TARGET_DIR = process.env.TARGET_DIR;
if (!TARGET_DIR) throw new Error("TARGET_DIR (the cargo target profile directory) is required");
const SIO = path.join(TARGET_DIR, "sio");

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("Chromium not found: apt-get install -y chromium, or set CHROMIUM");
  }
}

/** Starts `sio serve` on a free port; resolves with its URL once the readiness line is out. */
async function startSio() {
  const proc = spawn(
    SIO,
    [
      "serve", "--port", "0", "--quiet",
      "--static", path.join(ROOT, "www"),
      "--static", path.join(ROOT, "node_modules", "socket.io-client", "dist"),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const url = await new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`sio did not start: ${err}`)), 10000);
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`sio exited early (${code}): ${err}`)));
    proc.stderr.on("data", (chunk) => {
      err += chunk;
      const m = /sio: listening on (http:\/\/[^/\s]+)\//.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  proc.removeAllListeners("exit");
  return { proc, url };
}

let sio;
let browser;

before(async () => {
  sio = await startSio();
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container: no sandbox; no GPU on the test machines.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 30000,
  });
});

after(async () => {
  await browser?.close();
  if (sio && sio.proc.exitCode === null) {
    const exited = once(sio.proc, "exit");
    sio.proc.kill("SIGTERM");
    await exited;
  }
});

async function openPage(name) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${sio.url}/page.html`);
  const started = await page.evaluate((n) => window.start(n), name);
  return { page, errors, ...started };
}

const ack = (p, ns, event, args) => p.page.evaluate(
  ([n, e, a]) => window.emitWithAck(n, e, a), [ns, event, args]);
const waitFor = (p, ns, event) => p.page.evaluate(([n, e]) => window.waitFor(n, e), [ns, event]);

test("two pages: polling then WebSocket, a room, acks, binary, each other's messages", async () => {
  const a = await openPage("alice");
  const b = await openPage("bob");

  // Each connected over polling and upgraded to WebSocket.
  assert.deepEqual(a.transports, ["polling", "websocket"]);
  assert.deepEqual(b.transports, ["polling", "websocket"]);
  assert.notEqual(a.id, b.id);

  // Echo with ack, text and binary, from the browser.
  assert.deepEqual(
    await ack(a, "/", "echo", ["hi", { bytes: [9, 8, 7] }]),
    ["hi", { bytes: [9, 8, 7] }],
  );

  // Both join a room.
  assert.deepEqual(await ack(a, "/", "join", ["room-1"]), [["room-1"]]);
  assert.deepEqual(await ack(b, "/", "join", ["room-1"]), [["room-1"]]);

  // a -> b through the room: the ack counts one recipient, b sees the message.
  assert.deepEqual(await ack(a, "/", "to-room", ["room-1", "hello from alice"]), [1]);
  assert.deepEqual(await waitFor(b, "/", "room-message"), ["room-1", "hello from alice"]);

  // b -> a with binary.
  assert.deepEqual(
    await ack(b, "/", "to-room", ["room-1", { bytes: [0, 1, 254, 255] }, "tail"]),
    [1],
  );
  assert.deepEqual(
    await waitFor(a, "/", "room-message"),
    ["room-1", { bytes: [0, 1, 254, 255] }, "tail"],
  );

  // The chat namespace on the same connections: bob's message reaches alice with his name.
  assert.deepEqual(await ack(b, "/chat", "message", ["hello alice"]), [1]);
  assert.deepEqual(
    await waitFor(a, "/chat", "message"),
    [{ from: "bob", text: "hello alice" }],
  );

  // The status page, in a third page, shows both sessions and the room.
  const status = await browser.newPage();
  await status.goto(`${sio.url}/`);
  await status.waitForFunction(
    () => document.getElementById("sessions").textContent === "2"
      && document.body.textContent.includes("room-1"),
    null,
    { timeout: 5000 },
  );
  const json = await (await fetch(`${sio.url}/status.json`)).json();
  const main = json.namespaces.find((n) => n.name === "/");
  assert.equal(json.sessions, 2);
  assert.deepEqual(main.rooms, [{ name: "room-1", sockets: 2 }]);
  assert.ok(main.socket_list.every((s) => s.transport === "polling"));

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});
