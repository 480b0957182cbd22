"""The web process as the Procfile starts it (uvicorn) keeps its limits: memory, headers, WebSocket frames.

daphne held a whole request body in memory before the application saw any of it; uvicorn hands it over
in pieces and stops reading while the application is busy, so Django spools it to disk from its first
FILE_UPLOAD_MAX_MEMORY_SIZE on. These tests run the real process on a real socket.
"""

import json
import shlex
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.db import connection as db_connection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import tokens_for
from tests.fixtures.browser import ROOT, Panel, database_env, web_argv

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    """One web process for the module (starting one takes seconds); each test brings its own rows."""
    panel = Panel(env=database_env(), logs=tmp_path_factory.mktemp("web"))
    try:
        panel.start_web()
        yield panel
    finally:
        panel.stop("web")


def peak_rss_mib(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def current_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_the_image_and_compose_run_the_procfiles_web_command():
    expected = ["uvicorn", *web_argv(8000, host="0.0.0.0")[1:]]  # noqa: S104 - inside the container
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", "")  # one instruction, continued
    cmd = dockerfile[dockerfile.index("\nCMD [") + 5 :]
    assert json.loads(cmd[: cmd.index("]") + 1]) == expected
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "command" not in compose["services"]["web"]  # the image's
    zero_setup = (ROOT / "Procfile.zero-setup").read_text().splitlines()
    procfile = (ROOT / "Procfile").read_text().splitlines()
    assert next(x for x in zero_setup if x.startswith("web:")) == next(
        x for x in procfile if x.startswith("web:")
    )
    assert shlex.split(next(x for x in procfile if x.startswith("web:")))[1] == ".venv/bin/uvicorn"


def test_a_large_request_body_is_never_held_in_the_web_processs_memory(web):
    pid = web.procs["web"][0].pid
    before = current_rss_mib(pid)
    size = 256 * MiB
    with socket.create_connection(("127.0.0.1", web.port), timeout=60) as conn:
        conn.sendall(
            b"POST /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        chunk = b"x" * MiB
        for _ in range(size // MiB):
            conn.sendall(chunk)
        answer = conn.recv(200)
    assert answer.startswith(b"HTTP/1.1 "), answer
    assert peak_rss_mib(pid) - before < 48, f"{before:.0f} MiB before, peak {peak_rss_mib(pid):.0f} MiB"


def test_a_header_block_over_16_kib_is_refused_without_growing_memory(web):
    pid = web.procs["web"][0].pid
    before = current_rss_mib(pid)
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as conn:
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(4 * 1024):  # 32 MiB of headers, if nobody stopped us
                conn.sendall(b"X-Filler: " + b"a" * 8180 + b"\r\n")
        except OSError:
            pass  # refused midway: the server closed the connection
        try:
            answer = conn.recv(200)
        except OSError:
            answer = b""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
    assert peak_rss_mib(pid) - before < 16


def test_websocket_limits_and_no_token_in_the_log(transactional_db, web, customer):
    token = tokens_for(customer)["token"]
    url = f"ws://127.0.0.1:{web.port}/ws?token={token}"
    with connect(url, open_timeout=10) as ws:
        ws.send("x" * (64 * 1024))  # under the server's 1 MiB: the console refuses it itself
        message = json.loads(ws.recv(timeout=10))
        assert message["type"] == "error" and "bytes" in message["message"]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 4413
    with connect(url, open_timeout=10) as ws:
        ws.send("x" * (MiB + 1))  # over the 1 MiB the console's messages stay under: the server refuses it
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    assert ws.close_code == 1009
    time.sleep(0.5)  # the process writes its log as it goes
    log = (web.logs / "web.log").read_text()
    assert "/ws" not in log and token not in log, log[-3000:]


def test_requests_reuse_the_processs_connections_to_redis_and_postgresql(transactional_db, web, customer):
    """Django's Redis cache made a connection pool per request context (one connection to Redis per
    API request); the database pool keeps its sessions too. Same connections before and after."""
    import psutil
    import requests

    headers = {"Authorization": f"Bearer {tokens_for(customer)['token']}"}
    process = psutil.Process(web.procs["web"][0].pid)

    def connections() -> set:
        return {(c.laddr.port, c.raddr.port) for c in process.net_connections("tcp") if c.raddr}

    with requests.Session() as session:
        for _ in range(3):
            assert session.get(f"{web.url}/api/servers", headers=headers, timeout=10).status_code == 200
        before = connections()
        for _ in range(50):
            assert session.get(f"{web.url}/api/servers", headers=headers, timeout=10).status_code == 200
        after = connections()
    for port in (urlsplit(settings.REDIS_URL).port, int(db_connection.settings_dict["PORT"])):
        assert {c for c in before if c[1] == port}, f"no connection to port {port}: {before}"
        new = {c for c in after - before if c[1] == port}
        assert len(new) <= 1, f"{len(new)} new connections to port {port} over 50 requests"
