"""The console over several web processes against one Redis: every socket gets every line in order,
whichever process holds it; a socket that stops reading is dropped with a notice, and the others on
the same server keep up."""

import base64
import json
import os
import socket
import struct

import pytest
from websockets.sync.client import connect

from tests.conftest import tokens_for
from tests.fixtures.browser import Panel, database_env

FLOOD = 5000


@pytest.fixture
def two_web_processes(transactional_db, tmp_path):
    panels = []
    try:
        for name in ("web-a", "web-b"):
            (tmp_path / name).mkdir()
            panel = Panel(env={**database_env(), "HEARTH_WS_BACKLOG_MESSAGES": "5"}, logs=tmp_path / name)
            panels.append(panel)
            panel.start_web()
        yield panels
    finally:
        for panel in panels:
            for name in list(panel.procs):
                panel.stop(name)


def subscribed(url: str, server_id, **options):
    ws = connect(url, open_timeout=10, **options)
    ws.send(json.dumps({"type": "subscribe", "serverId": str(server_id), "events": ["server_log"]}))
    assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
    return ws


def flood_lines(ws, until: str) -> list[int]:
    """The flood's line numbers as this socket receives them, up to the line `until`."""
    numbers = []
    while True:
        message = json.loads(ws.recv(timeout=30))
        for line in message.get("data", "").splitlines():
            if line.startswith("flood line "):
                numbers.append(int(line.split()[2]))
            if line == until:
                return numbers


@pytest.fixture
def unthrottled(settings):
    settings.CONSOLE_LINES_PER_100MS = 1_000_000  # every line of a flood is sent, to count them
    settings.CONSOLE_HISTORY_LINES = 100_000


def test_sockets_on_two_web_processes_each_get_every_line_in_order(
    running, customer, two_web_processes, unthrottled
):
    server, api = running
    token = tokens_for(customer)["token"]
    sockets = [
        subscribed(f"ws://127.0.0.1:{panel.port}/ws?token={token}", server.pk)
        for panel in two_web_processes
        for _ in range(3)
    ]
    try:
        api.post(f"/api/servers/{server.pk}/command", {"command": f"flood {FLOOD}"}, format="json")
        for ws in sockets:
            assert flood_lines(ws, f"[INFO] Flood of {FLOOD} lines done") == list(range(1, FLOOD + 1))
    finally:
        for ws in sockets:
            ws.close()


def stalled_socket(port: int, token: str, server_id) -> socket.socket:
    """A WebSocket client that subscribes, then never reads again: the handshake and one masked frame
    by hand, on a socket with a tiny receive buffer, so the server's writes back up at once."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sendall(
        f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b" 101 " in conn.recv(1024)
    payload = json.dumps({"type": "subscribe", "serverId": str(server_id), "events": ["server_log"]}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    conn.sendall(bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload)) + mask + masked)
    return conn


def test_a_socket_that_stops_reading_is_dropped_and_the_others_keep_up(
    running, customer, two_web_processes, unthrottled
):
    server, api = running
    port, token = two_web_processes[0].port, tokens_for(customer)["token"]
    stalled = stalled_socket(port, token, server.pk)
    reader = subscribed(f"ws://127.0.0.1:{port}/ws?token={token}", server.pk)  # on the same process
    try:
        for _ in range(4):  # ~9 MB: more than the kernel's buffers hold, then a backlog of 5 messages
            api.post(f"/api/servers/{server.pk}/command", {"command": "flood 20000"}, format="json")
            assert flood_lines(reader, "[INFO] Flood of 20000 lines done") == list(range(1, 20001))
        stalled.settimeout(30)
        received = b""
        while chunk := stalled.recv(1 << 20):  # what was queued before the drop, the notice, the close
            received += chunk
        assert b"console messages behind" in received
        assert bytes([0x88]) in received and struct.pack("!H", 4408) in received  # a close frame, 4408
    finally:
        stalled.close()
        reader.close()
