"""The first hour of a fresh install, as `make run` does it: zero-setup (SQLite, the embedded Redis,
a fresh var/), `bootstrap`, scripts/run.sh starting every process, then an administrator creates a
server from the stock Test Game template without choosing a node, starts it and reads its console
over the real WebSocket.

Engine 1 of the test environment is the local engine (/var/run/docker.sock), as on a real machine.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import docker
import pytest
from websockets.sync.client import connect

from tests.conftest import require_env
from tests.fixtures.browser import ROOT, free_port
from tests.polling import wait_for

FIRST_HOUR_BUDGET_SECONDS = 60


class Panel:
    """The panel's HTTP API at `base`, signed in once `token` is set."""

    def __init__(self, base: str):
        self.base, self.token = base, ""

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 - the local panel
            f"{self.base}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def up(self) -> bool:
        try:
            return self.call("GET", "/api/health")[0] == 200
        except OSError:
            return False


@pytest.fixture
def fresh_install(tmp_path):
    """A zero-setup environment: no DATABASE_URL, no REDIS_URL, no SECRET_KEY, an empty var/."""
    require_env("HEARTH_TEST_DOCKER1_URL")  # the local engine must be there
    var = tmp_path / "var"
    var.mkdir()
    (var / "secret_key").write_text(secrets.token_urlsafe(50))  # as `make run` writes it
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    }
    env.update(
        HEARTH_VAR_DIR=str(var),
        EMBEDDED_REDIS_PORT=str(free_port()),
        HOST="127.0.0.1",
        PORT=str(free_port()),
        HEARTH_SFTP_BIND=f"127.0.0.1:{free_port()}",
        HEARTH_CACHE_PREFIX=f"firsthour{os.getpid()}",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def run_sh(fresh_install, tmp_path):
    """scripts/run.sh (config/procfile.py and every process of Procfile.zero-setup), stopped with SIGTERM after."""
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
    procs = []

    def start():
        procs.append(
            subprocess.Popen(
                ["bash", "scripts/run.sh"],
                cwd=ROOT,
                env=fresh_install,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so everything it started can be ended
            )
        )

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    log.close()


@pytest.fixture
def created_servers():
    """Remove the containers of the servers this test created (only those: the engine is shared)."""
    ids: list[str] = []
    yield ids
    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    for server_id in ids:
        for container in engine.containers.list(all=True, filters={"label": f"hearth.server={server_id}"}):
            container.remove(force=True)
    engine.close()


def wait_status(panel: Panel, server_id: str, *statuses: str, timeout: float) -> dict:
    def reached():
        data = panel.call("GET", f"/api/servers/{server_id}")[1]["data"]
        return data if data["status"] in statuses else None

    return wait_for(reached, timeout, f"server {server_id} to be {' or '.join(statuses)}")


def test_a_fresh_install_runs_a_server_on_its_local_node_within_a_minute(
    fresh_install, run_sh, created_servers, tmp_path
):
    began = time.monotonic()
    manage(fresh_install, "migrate", "--noinput", "-v0")
    output = manage(fresh_install, "bootstrap")
    password = output.split("password: ")[1].split()[0]
    assert "as node 'local'" in output and "(online)" in output, output
    assert (tmp_path / "var" / "data" / "node-local").is_dir()

    run_sh()
    panel = Panel(f"http://127.0.0.1:{fresh_install['PORT']}")
    wait_for(panel.up, 40, f"the panel to answer:\n{(tmp_path / 'run.log').read_text()[-3000:]}")
    status, body = panel.call(
        "POST", "/api/auth/login", {"email": "admin@hearth.local", "password": password}
    )
    assert status == 200, body
    panel.token = body["data"]["token"]

    nodes = panel.call("GET", "/api/nodes")[1]["data"]
    assert [(n["name"], n["isOnline"]) for n in nodes] == [("local", True)], nodes

    templates = panel.call("GET", "/api/templates?limit=100")[1]["data"]
    test_game = next(t for t in templates if t["name"] == "Test Game")
    status, body = panel.call(
        "POST",
        "/api/servers",
        {
            "name": "first",
            "templateId": test_game["id"],
            "allocatedMemoryMb": 256,
            "allocatedCpuCores": 1,
            "allocatedDiskMb": 512,
            "install": True,
        },  # no nodeId: placement picks the local node
    )
    assert status == 201, body
    server_id = body["data"]["id"]
    created_servers.append(server_id)
    assert body["data"]["nodeId"] == nodes[0]["id"]
    wait_status(panel, server_id, "stopped", "install_failed", timeout=40)
    assert wait_status(panel, server_id, "stopped", timeout=1)

    ws_url = f"ws://127.0.0.1:{fresh_install['PORT']}/ws?token={panel.token}"
    with connect(ws_url, origin=panel.base, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "subscribe", "serverId": server_id}))
        assert panel.call("POST", f"/api/servers/{server_id}/start")[0] == 200
        seen = ""
        deadline = time.monotonic() + 30
        while "Done (" not in seen or "running" not in seen:
            message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("type") == "server_log":
                seen += message["data"]
            elif message.get("type") == "server_state_update":
                seen += f"<state {message['state']}>"
        socket.send(json.dumps({"type": "console_input", "serverId": server_id, "data": "say first hour"}))
        while "[Server] first hour" not in seen:
            message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("type") == "server_log":
                seen += message["data"]
    assert wait_status(panel, server_id, "running", timeout=5)
    assert time.monotonic() - began < FIRST_HOUR_BUDGET_SECONDS

    assert panel.call("POST", f"/api/servers/{server_id}/stop")[0] == 200
    wait_status(panel, server_id, "stopped", timeout=30)
