"""Fixtures of the python-socketio interop suite.

`server`: one `interop-server` example process for the whole session (spawned from
`$TARGET_DIR/examples/interop-server` with PORT=0 and MAX_PACKETS_PER_POLL=16, since
python-engineio refuses a polling payload of more than 16 packets; the URL comes from its
`listening <port>` line), killed at the end. `peer`: a factory of recording python-socketio clients that are all
disconnected after each test.
"""

import os
import queue
import selectors
import subprocess
import threading
import time
from collections import defaultdict

import pytest
import socketio

START_TIMEOUT = 10.0
# Default deadline of every wait on the server (seconds).
WAIT = 3.0


class Server:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


def _start_server():
    target = os.environ.get("TARGET_DIR")
    if not target:
        raise RuntimeError("TARGET_DIR (the cargo target profile directory) is required")
    binary = os.path.join(target, "examples", "interop-server")
    if not os.path.exists(binary):
        raise RuntimeError(f"{binary} is missing: cargo build --examples -p socketio-server")
    proc = subprocess.Popen(
        [binary],
        env={**os.environ, "PORT": "0", "MAX_PACKETS_PER_POLL": "16"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    seen = b""
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                proc.kill()
                proc.wait()
                raise RuntimeError(f"server did not start within {START_TIMEOUT} s: {seen!r}")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                code = proc.wait()
                raise RuntimeError(f"server exited early ({code}): {seen!r}")
            seen += chunk
    line = seen.split(b"\n", 1)[0].decode()
    if not line.startswith("listening "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"unexpected first line from the server: {line!r}")

    # Keep draining stdout so the server never blocks on a full pipe.
    def drain():
        while os.read(proc.stdout.fileno(), 4096):
            pass

    threading.Thread(target=drain, daemon=True).start()
    return Server(proc, int(line.split()[1]))


@pytest.fixture(scope="session")
def server():
    srv = _start_server()
    yield srv
    srv.proc.kill()
    srv.proc.wait(timeout=10)


class Peer:
    """A `socketio.Client` (no reconnection) that records what the server sends.

    Every event of the given namespaces lands in a per-(namespace, event) queue read with
    `next()`, which has a deadline; `connect_error` and `disconnect` are recorded the same way
    (as the events `connect_error` and `disconnect`). Handlers registered with `on()` before
    `connect()` take precedence over recording, e.g. to answer the server's acknowledgements.
    """

    def __init__(self, namespaces=("/",), **client_kwargs):
        self.sio = socketio.Client(reconnection=False, **client_kwargs)
        self.namespaces = list(namespaces)
        self._queues = defaultdict(queue.Queue)
        self._lock = threading.Lock()
        for ns in self.namespaces:
            self.sio.on("*", self._recorder(ns), namespace=ns)
            self.sio.on("connect_error", self._reserved(ns, "connect_error"), namespace=ns)
            self.sio.on("disconnect", self._reserved(ns, "disconnect"), namespace=ns)

    def _queue(self, ns, event):
        with self._lock:
            return self._queues[(ns, event)]

    def _recorder(self, ns):
        def record(event, *args):
            self._queue(ns, event).put(list(args))

        return record

    def _reserved(self, ns, event):
        def record(*args):
            self._queue(ns, event).put(list(args))

        return record

    def on(self, event, handler, namespace="/"):
        self.sio.on(event, handler, namespace=namespace)

    def connect(self, url, **kwargs):
        kwargs.setdefault("wait_timeout", 5)
        self.sio.connect(url, namespaces=self.namespaces, **kwargs)
        return self

    def next(self, event, namespace="/", timeout=WAIT):
        """The arguments of the next `event`; fails the test after `timeout` seconds."""
        try:
            return self._queue(namespace, event).get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no {event!r} on {namespace!r} within {timeout} s")

    def nothing(self, event, namespace="/", within=0.5):
        """Asserts that no `event` arrives within `within` seconds."""
        try:
            got = self._queue(namespace, event).get(timeout=within)
        except queue.Empty:
            return
        pytest.fail(f"unexpected {event!r} on {namespace!r}: {got!r}")

    def close(self):
        try:
            self.sio.shutdown()
        except Exception:  # noqa: BLE001 - teardown is best effort
            pass


@pytest.fixture
def peer():
    """`peer(namespaces=('/',), **client_kwargs)` -> a new `Peer`, closed after the test."""
    made = []

    def make(namespaces=("/",), **kwargs):
        p = Peer(namespaces, **kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
