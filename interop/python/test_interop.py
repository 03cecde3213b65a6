"""python-socketio (PyPI) against the `interop-server` example: a second, independent client
implementation next to the Node suite in `interop/tests/`.

Every wait has a deadline (`Peer.next`, `call(timeout=...)`, `receive(timeout=...)`,
`wait_timeout` on connect) and pytest-timeout is the backstop (pytest.ini).
"""

import time

import pytest
import socketio
import websocket

from conftest import WAIT

TRANSPORTS = ["polling", "websocket"]


def last_reason(peer, url, want, within=2.0):
    """Polls the server's most recent disconnect reason until it equals `want` (or `within` s)."""
    probe = peer().connect(url, transports=["websocket"])
    deadline = time.monotonic() + within
    while True:
        reason = probe.sio.call("last-reason", timeout=WAIT)
        if reason == want or time.monotonic() > deadline:
            return reason
        time.sleep(0.1)


# --- transports -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_simple_client_echo_single_transport(server, transport):
    with socketio.SimpleClient() as client:
        client.connect(server.url, transports=[transport], wait_timeout=5)
        assert client.transport == transport
        event, sid = client.receive(timeout=WAIT)
        assert event == "welcome"
        assert sid == client.sid
        client.emit("echo", ("héllo 🌍", {"n": 1, "list": [1, None, True]}))
        assert client.receive(timeout=WAIT) == ["echo", "héllo 🌍", {"n": 1, "list": [1, None, True]}]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_many_round_trips(server, peer, transport):
    p = peer().connect(server.url, transports=[transport])
    assert p.sio.transport() == transport
    # Bursts of 50: python-engineio refuses a polling payload of more than 16 packets
    # (`Payload.max_decode_packets`) and drops the connection; the server fixture caps each
    # polling response at 16 packets (`max_packets_per_poll`), so bursts larger than that work.
    for burst in range(3):
        for i in range(50):
            p.sio.emit("echo", {"burst": burst, "i": i})
        for i in range(50):
            assert p.next("echo") == [{"burst": burst, "i": i}]


def test_default_transports_upgrade_to_websocket(server, peer):
    p = peer().connect(server.url)
    p.next("welcome")
    deadline = time.monotonic() + WAIT
    while p.sio.transport() != "websocket" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.sio.transport() == "websocket"
    p.sio.emit("echo", "after upgrade")
    assert p.next("echo") == ["after upgrade"]


# --- acknowledgements -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_call_gets_server_ack(server, peer, transport):
    p = peer().connect(server.url, transports=[transport])
    # One argument: call() returns it as is.
    assert p.sio.call("ack", "only", timeout=WAIT) == "only"
    # Several arguments (a tuple): call() returns them all.
    assert list(p.sio.call("ack", ("a", 1, {"x": True}), timeout=WAIT)) == ["a", 1, {"x": True}]
    # The `join` handler acknowledges `true`.
    assert p.sio.call("join", "some-room", timeout=WAIT) is True


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_ask_ack_client_answers(server, peer, transport):
    p = peer()
    # The handler's return value is the acknowledgement; a tuple gives several arguments and
    # the server answers with the first one.
    p.on("question", lambda payload: ({"got": payload}, "second"))
    p.connect(server.url, transports=[transport])
    p.sio.emit("ask-ack", {"q": 42})
    assert p.next("answer") == [{"got": {"q": 42}}]


def test_server_ask_ack_empty_ack(server, peer):
    p = peer()
    # Returning None acknowledges with no arguments: the server's first reply argument is null.
    p.on("question", lambda payload: None)
    p.connect(server.url, transports=["websocket"])
    p.sio.emit("ask-ack", "anything")
    assert p.next("answer") == [None]


# --- binary ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_echo(server, peer, transport):
    p = peer().connect(server.url, transports=[transport])
    blob = bytes(range(256)) * 4
    p.sio.emit("echo", (b"\x00\x01\xfe\xff", {"nested": b"xyz", "n": 1, "blob": blob}, "text"))
    assert p.next("echo") == [b"\x00\x01\xfe\xff", {"nested": b"xyz", "n": 1, "blob": blob}, "text"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_ack(server, peer, transport):
    p = peer().connect(server.url, transports=[transport])
    assert p.sio.call("ack", b"\x00\xff", timeout=WAIT) == b"\x00\xff"
    assert list(p.sio.call("ack", (b"a", [b"b", {"c": b"d"}]), timeout=WAIT)) == [
        b"a",
        [b"b", {"c": b"d"}],
    ]


def test_large_binary_over_polling(server, peer):
    p = peer().connect(server.url, transports=["polling"])
    blob = bytes(i % 251 for i in range(64 * 1024))
    p.sio.emit("echo", blob)
    assert p.next("echo", timeout=5) == [blob]


# --- namespaces -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_admin_good_auth(server, peer, transport):
    p = peer(namespaces=["/admin"]).connect(
        server.url, auth={"token": "secret"}, transports=[transport]
    )
    assert p.next("welcome-admin", namespace="/admin") == [{"token": "secret"}]
    assert p.sio.get_sid("/admin") is not None


def test_two_namespaces_one_connection(server, peer):
    p = peer(namespaces=["/", "/admin"]).connect(server.url, auth={"token": "secret"})
    assert p.next("welcome") == [p.sio.get_sid("/")]
    assert p.next("welcome-admin", namespace="/admin") == [{"token": "secret"}]
    assert p.sio.get_sid("/") != p.sio.get_sid("/admin")
    p.sio.emit("echo", "main")
    assert p.next("echo") == ["main"]


@pytest.mark.parametrize("auth", [{"token": "nope"}, None], ids=["wrong-token", "no-auth"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_admin_bad_auth_refused(server, peer, transport, auth):
    p = peer(namespaces=["/admin"])
    with pytest.raises(socketio.exceptions.ConnectionError) as err:
        p.connect(server.url, auth=auth, transports=[transport])
    assert "/admin" in str(err.value)
    # The server's CONNECT_ERROR payload reaches the connect_error handler as is.
    assert p.next("connect_error", namespace="/admin") == [
        {"message": "not authorized", "data": {"reason": "bad token"}}
    ]
    assert not p.sio.connected
    p.nothing("welcome-admin", namespace="/admin", within=0.3)


# --- rooms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rooms(server, peer, transport):
    a = peer().connect(server.url, transports=[transport])
    b = peer().connect(server.url, transports=[transport])
    c = peer().connect(server.url, transports=[transport])
    assert b.sio.call("join", "r1", timeout=WAIT) is True
    assert c.sio.call("join", "r2", timeout=WAIT) is True

    a.sio.emit("to-room", ("r1", {"hi": 1}))
    assert b.next("room-message") == [{"hi": 1}]
    c.nothing("room-message")
    a.nothing("room-message", within=0.1)

    # The sender is excluded even when it is in the room.
    b.sio.emit("to-room", ("r1", "from b"))
    b.nothing("room-message")

    # Everyone but r1's members: a (not a member) and c.
    a.sio.emit("broadcast-except", ("r1", [1, 2]))
    assert a.next("broadcast-message") == [[1, 2]]
    assert c.next("broadcast-message") == [[1, 2]]
    b.nothing("broadcast-message")


# --- disconnection --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_side_disconnect(server, peer, transport):
    p = peer().connect(server.url, transports=[transport])
    p.next("welcome")
    p.sio.emit("disconnect-me")
    assert p.next("disconnect") == ["server disconnect"]
    deadline = time.monotonic() + WAIT
    while p.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not p.sio.connected
    assert last_reason(peer, server.url, "server namespace disconnect") == (
        "server namespace disconnect"
    )


def test_client_side_disconnect_polling(server, peer):
    p = peer().connect(server.url, transports=["polling"])
    p.next("welcome")
    p.sio.disconnect()
    assert p.next("disconnect") == ["client disconnect"]
    # The last POST carries `41\x1e1`: namespace DISCONNECT, then engine.io CLOSE.
    assert last_reason(peer, server.url, "client namespace disconnect") == (
        "client namespace disconnect"
    )


def test_client_side_disconnect_websocket(server, peer):
    p = peer().connect(server.url, transports=["websocket"])
    p.next("welcome")
    p.sio.disconnect()
    assert p.next("disconnect") == ["client disconnect"]
    # python-engineio 4.15.1 queues `41` and `1` for its write thread, then closes the WebSocket
    # from the calling thread at once: on the wire the close frame (1000) usually comes first and
    # `41` is never sent, so the server rightly sees "transport close". Either is correct.
    reason = last_reason(peer, server.url, "client namespace disconnect")
    assert reason in ("client namespace disconnect", "transport close")


def test_raw_websocket_namespace_disconnect(server, peer):
    """The server-side half of the above without the client's race: plain engine.io packets
    over websocket-client, `41` sent while the WebSocket stays open."""
    ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(ws_url, timeout=WAIT)
    try:
        assert ws.recv().startswith("0{")
        ws.send("40")
        assert ws.recv().startswith('40{"sid":')
        assert ws.recv().startswith('42["welcome",')
        ws.send("41")
        assert last_reason(peer, server.url, "client namespace disconnect") == (
            "client namespace disconnect"
        )
    finally:
        ws.close()
