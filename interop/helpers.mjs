// Shared helpers of the interop suite: start/stop the example server, open clients that are
// closed after each test, wait for events with a deadline.
import { spawn } from "node:child_process";
import { after, afterEach, before } from "node:test";
import { once } from "node:events";
import path from "node:path";
import { io } from "socket.io-client";

const TARGET_DIR = process.env.TARGET_DIR;
export const SERVER_BIN = TARGET_DIR && path.join(TARGET_DIR, "examples", "interop-server");

/**
 * Spawns `cmd` with `env` added to ours and waits until it prints `listening <port>` (within
 * `timeoutMs`); resolves to the process and the port. Used for every server the suites start.
 */
export async function spawnListening(cmd, args, { env = {}, name = cmd, timeoutMs = 15000 } = {}) {
  const proc = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${buf}`)), timeoutMs);
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`${name} exited early (${code}): ${buf}`)));
    proc.stdout.on("data", (chunk) => {
      buf += chunk;
      const m = /listening (\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  proc.removeAllListeners("exit");
  proc.stdout.resume();
  return { proc, port };
}

/**
 * Spawns the interop server on `port` (0: a free one) with extra `env` variables; resolves once
 * it printed `listening <port>`.
 */
export async function startServer(port = 0, env = {}) {
  if (!SERVER_BIN) throw new Error("TARGET_DIR (the cargo target profile directory) is required");
  const { proc, port: bound } = await spawnListening(SERVER_BIN, [], {
    env: { ...env, PORT: String(port) },
    name: "server",
    timeoutMs: 10000,
  });
  const server = {
    proc,
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    /** Kills the process (SIGKILL: the clients see the transport drop). */
    async stop() {
      if (server.proc.exitCode === null && server.proc.signalCode === null) {
        const exited = once(server.proc, "exit");
        server.proc.kill("SIGKILL");
        await exited;
      }
    },
    /** Kills and starts again on the same port. */
    async restart() {
      await server.stop();
      const next = await startServer(bound, env);
      server.proc = next.proc;
    },
  };
  return server;
}

/**
 * Registers the hooks every test file needs: one server for the file, clients closed after
 * each test, everything stopped at the end; `env` goes to the server. Returns a getter for
 * the server.
 */
export function useServer(env = {}) {
  let server;
  before(async () => {
    server = await startServer(0, env);
  });
  after(async () => {
    closeClients();
    await server.stop();
  });
  afterEach(closeClients);
  return () => server;
}

/** Clients opened through `client`, closed by `closeClients` (call it in afterEach). */
const clients = new Set();

/** A socket.io-client socket, new Manager each time, no reconnection unless asked. */
export function client(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  clients.add(socket);
  return socket;
}

export function closeClients() {
  for (const s of clients) {
    s.io.opts.reconnection = false;
    s.disconnect();
    s.io.engine?.close();
  }
  clients.clear();
}

/** Resolves with the arguments of the next `event` on `emitter`, rejects after `ms`. */
export function next(emitter, event, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const handler = (...args) => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, handler);
  });
}

/** Resolves once `socket` is connected; rejects with the connect_error or after `ms`. */
export function connected(socket, ms = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      socket.off("connect", ok);
      socket.off("connect_error", ko);
    };
    const ok = () => {
      done();
      resolve(socket);
    };
    const ko = (err) => {
      done();
      reject(err);
    };
    const timer = setTimeout(() => ko(new Error(`not connected within ${ms} ms`)), ms);
    socket.on("connect", ok);
    socket.on("connect_error", ko);
  });
}

/** Records every `event` on `socket` into an array. */
export function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args));
  return seen;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
