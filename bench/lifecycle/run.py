"""bench/lifecycle: how long the panel takes to start and stop a game server, against raw Docker.

    make bench-lifecycle                       # 20 measured rounds per node (+2 warm-up rounds)
    make bench-lifecycle ARGS="--rounds 5"

For the local node (engine 1 over unix://) and the SSH node (engine 2 over ssh://127.0.0.1:2202) it
runs the real panel (daphne, a Celery worker, the monitor) on its own database and measures

* panel start: just before `POST /api/servers/{id}/start` until the server's status in PostgreSQL
  is `running` (the monitor saw the template's ready line); panel stop: `POST …/stop` until `stopped`;
* raw start: `docker start` of an equivalent container on the same engine until its ready line
  ("Done (") arrives through `docker logs --follow`; raw stop: `docker stop` (SIGTERM) until it
  returns, i.e. the container has exited.

Rounds interleave the panel and the raw series, so they share the machine's conditions. The
overhead is panel minus raw, per percentile. Results are printed, appended to bench/RESULTS.md and
kept in full (every round, every stage) in bench/out/. See bench/README.md.
"""

import argparse
import contextlib
import json
import math
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.harness import (  # noqa: E402 - once ROOT is on the path
    OUT,
    RESULTS,
    VENV_BIN,
    Aborted,
    Leftovers,
    Processes,
    api_session,
    env,
    free_port,
    machine_info,
    migrate_and_setup_django,
    parse_docker_time,
    port_is_free,
    seed_panel,
    summary,
    wait_until,
    worker_argv,
    write_results,
)

LEFTOVERS = OUT / "lifecycle-leftovers.json"
READY = "Done ("  # the Test Game template's ready pattern
BENCH_LABEL = "hearth.bench"  # on the raw containers only: the monitor and the tests ignore them
TARGET_MS = {"local": 150.0, "ssh": 500.0}


class RoundFailed(Exception):
    """One start or stop did not reach its end state in time (recorded; the run goes on)."""


# --- small helpers ------------------------------------------------------------------------------


def now() -> float:
    return time.time()


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def test_runs() -> int:
    """Other pytest processes on the machine (they load it, and their clean-up removes panel containers)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if any(b"pytest" in part for part in argv[:3]) and int(cmdline.parent.name) != os.getpid():
                count += 1
    return count


# --- observation: the status row, engine events, engine log timestamps --------------------------


class StatusPoller:
    """Polls the server's row with a plain psycopg connection (autocommit) every `interval` seconds."""

    SQL = "SELECT status, EXTRACT(EPOCH FROM updated_at)::float8 FROM servers_server WHERE id = %s"

    def __init__(self, dsn: str, interval: float):
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True)
        self.interval = interval

    def read(self, server_id) -> tuple[str, float]:
        with self.conn.cursor() as cur:
            cur.execute(self.SQL, (server_id,))
            return cur.fetchone()

    def wait(self, server_id, want: set[str], fail: set[str], timeout: float) -> tuple[float, float, float]:
        """Until the status is one of `want`: (perf_counter, unix time when seen, updated_at)."""
        deadline = time.perf_counter() + timeout
        while True:
            status, updated = self.read(server_id)
            seen, seen_wall = time.perf_counter(), now()
            if status in want:
                return seen, seen_wall, updated
            if status in fail:
                raise RoundFailed(f"status became {status}")
            if seen > deadline:
                raise RoundFailed(f"still {status} after {timeout:.0f} s")
            time.sleep(self.interval)

    def close(self):
        self.conn.close()


class EngineEvents(threading.Thread):
    """Container events of one engine, read from its own socket (an observer, not on the panel's path).
    Reconnects (from the last event seen) if the engine restarts under it."""

    def __init__(self, socket_url: str):
        super().__init__(daemon=True, name=f"events-{socket_url}")
        self.socket_url = socket_url
        self.events: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.stream = None
        self.since = now()
        self.opened = threading.Event()

    def run(self):
        import docker

        while not self.stopping.is_set():
            client = None
            with contextlib.suppress(Exception):  # the engine went away (or stop() closed the stream)
                client = docker.DockerClient(base_url=self.socket_url)
                since = f"{self.since + 1e-6 if self.events else self.since:.6f}"
                self.stream = client.events(decode=True, filters={"type": "container"}, since=since)
                self.opened.set()
                for event in self.stream:
                    name = event.get("Actor", {}).get("Attributes", {}).get("name", "")
                    at = event["timeNano"] / 1e9
                    with self.lock:
                        self.events.append((at, event.get("Action", ""), name))
                    self.since = at
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            self.stopping.wait(0.5)

    def between(self, name: str, start: float, end: float) -> list[tuple[float, str]]:
        with self.lock:
            return [(t, a) for t, a, n in self.events if n == name and start <= t <= end]

    def first(self, name: str, action: str, start: float, end: float) -> float | None:
        return next((t for t, a in self.between(name, start, end) if a == action), None)

    def wait_for(self, name: str, action: str, start: float, timeout: float = 2.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(name, action, start, now() + 1)
            if found is not None:
                return found
            time.sleep(0.01)
        return None

    def stop(self):
        self.stopping.set()
        with contextlib.suppress(Exception):
            self.stream.close()


def engine_ready_time(api, container: str, since: float) -> float | None:
    """When the engine received the ready line (the log's own timestamp), for output after `since`."""
    raw = api.logs(container, stdout=True, stderr=False, timestamps=True, since=since)
    for line in raw.decode(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        if READY in text:
            return parse_docker_time(stamp)
    return None


# --- raw baselines -----------------------------------------------------------------------------


class SdkDriver:
    """docker-py: `start` + follow `logs` until the ready line; `stop` (SIGTERM, waits for the exit)."""

    tool = "docker-py"

    def __init__(self, key: str, label: str, get_api):
        # get_api() is called before each timed call: through nodes.client it reconnects (untimed)
        # when the connection dropped, as the panel does.
        self.key, self.label, self.get_api = key, label, get_api

    def start(self, name: str, timeout: float) -> dict:
        api = self.get_api()
        t0_wall, t0 = now(), time.perf_counter()
        api.start(name)
        started = time.perf_counter()
        stream = api.logs(name, stdout=True, stderr=False, stream=True, follow=True, since=t0_wall)
        buffer, ready = "", None
        try:
            for chunk in stream:
                buffer += chunk.decode(errors="replace")
                if READY in buffer:
                    ready = time.perf_counter()
                    break
                if time.perf_counter() - t0 > timeout:
                    break
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        if ready is None:
            raise RoundFailed("no ready line")
        return {"t0": t0_wall, "total": ready - t0, "call": started - t0}

    def stop(self, name: str, timeout: float) -> dict:
        api = self.get_api()
        t0_wall, t0 = now(), time.perf_counter()
        api.stop(name, timeout=10)
        end = time.perf_counter()
        if api.inspect_container(name)["State"]["Running"]:
            raise RoundFailed("still running after stop")
        return {"t0": t0_wall, "total": end - t0, "call": end - t0}


class CliDriver:
    """The docker CLI: `docker start`, then `docker logs -f --since` until the ready line; `docker stop`."""

    tool = "docker CLI"

    def __init__(self, key: str, label: str, host: str, env_extra: dict | None = None):
        self.key, self.label = key, label
        self.base = [shutil.which("docker") or "docker", "-H", host]
        self.env = {**os.environ, **(env_extra or {})}

    def _run(self, *args: str, timeout: float) -> None:
        result = subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )
        if result.returncode:
            raise RoundFailed(f"docker {args[0]}: {result.stderr.decode(errors='replace').strip()[:200]}")

    def start(self, name: str, timeout: float) -> dict:
        t0_wall, t0 = now(), time.perf_counter()
        self._run("start", name, timeout=timeout)
        started = time.perf_counter()
        logs = subprocess.Popen(
            [*self.base, "logs", "--follow", "--since", f"{t0_wall:.6f}", name],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        ready = None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(logs.stdout, selectors.EVENT_READ)
                buffer = b""
                while ready is None and time.perf_counter() - t0 < timeout:
                    if not selector.select(timeout=0.5):
                        continue
                    chunk = os.read(logs.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    buffer += chunk
                    if READY.encode() in buffer:
                        ready = time.perf_counter()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(logs.pid, signal.SIGKILL)
            logs.wait(5)
            logs.stdout.close()
        if ready is None:
            raise RoundFailed("no ready line")
        return {"t0": t0_wall, "total": ready - t0, "call": started - t0}

    def stop(self, name: str, timeout: float) -> dict:
        t0_wall, t0 = now(), time.perf_counter()
        self._run("stop", name, timeout=timeout)
        end = time.perf_counter()
        return {"t0": t0_wall, "total": end - t0, "call": end - t0}


def ssh_cli_env(tmp: Path, ssh_url: str, key_file: str, host_key: str) -> dict:
    """The docker CLI runs plain `ssh` for ssh:// hosts and has no option for its flags, and OpenSSH
    reads the config of the passwd home, not $HOME: so a wrapper `ssh` first on PATH passes `-F` with
    our key and the pinned host key (no connection sharing: every CLI call makes its own connection)."""
    url = urlsplit(ssh_url)
    known = tmp / "known_hosts"
    known.write_text(f"[{url.hostname}]:{url.port or 22} {host_key}\n")
    config = tmp / "ssh_config"
    config.write_text(
        f"Host {url.hostname}\n  IdentityFile {key_file}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        "  ControlMaster no\n  ControlPath none\n"
    )
    bindir = tmp / "bin"
    bindir.mkdir()
    wrapper = bindir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh") or "/usr/bin/ssh"} -F {config} "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


# --- the benchmark --------------------------------------------------------------------------------


@dataclass
class Target:
    key: str  # "local" | "ssh"
    title: str
    docker_url: str  # how the panel reaches the engine
    engine_socket: str  # the same engine's own socket (raw baselines, observation)
    data_dir: str
    ports: str  # allocations for the panel's server
    raw_port: int
    node: object = None
    server: object = None
    raw_name: str = ""
    raw_dir: str = ""
    engine_api: object = None
    drivers: list = field(default_factory=list)
    events: EngineEvents | None = None


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"lifecycle-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.records: list[dict] = []
        self.failures: list[dict] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
        self.targets: list[Target] = []
        self.poller = None
        self.machine: dict = {}
        self.removed: dict[str, int] = {}
        self.install_retries = 0
        self.duration = 0.0
        self.load_before = self.load_after = []
        self.tests_before = self.tests_after = 0

    # -- setup ------------------------------------------------------------------------------------

    def check_environment(self) -> None:
        db = urlsplit(env("DATABASE_URL"))
        if db.path != "/hearth_bench" or db.hostname not in ("127.0.0.1", "localhost"):
            raise Aborted(
                "DATABASE_URL must be the local hearth_bench database (scripts/run-bench.sh sets it)."
            )
        redis_url = urlsplit(env("REDIS_URL"))
        if redis_url.path != "/9" or redis_url.hostname not in ("127.0.0.1", "localhost"):
            raise Aborted("REDIS_URL must be db 9 of the local Redis (scripts/run-bench.sh sets it).")
        ssh = urlsplit(env("HEARTH_TEST_SSH2_URL"))
        if ssh.hostname != "127.0.0.1":
            raise Aborted("The SSH node must be on 127.0.0.1.")
        for name in ("HEARTH_TEST_DOCKER1_URL", "HEARTH_TEST_DOCKER2_URL"):
            if not env(name).startswith("unix://"):
                raise Aborted(f"{name} must be a unix:// socket.")
        # Ports below Linux's ephemeral range (32768+), so no outgoing connection can be holding one
        # when Docker publishes it, and not used by the tests.
        everything = {
            "local": Target(
                "local",
                f"Local node — engine 1 over {env('HEARTH_TEST_DOCKER1_URL')}",
                env("HEARTH_TEST_DOCKER1_URL"),
                env("HEARTH_TEST_DOCKER1_URL"),
                env("HEARTH_TEST_NODE1_DATA_DIR"),
                "30500-30509",
                30510,
            ),
            "ssh": Target(
                "ssh",
                f"SSH node — engine 2 over {env('HEARTH_TEST_SSH2_URL')} (paramiko)",
                env("HEARTH_TEST_SSH2_URL"),
                env("HEARTH_TEST_DOCKER2_URL"),
                env("HEARTH_TEST_NODE2_DATA_DIR"),
                "30600-30609",
                30610,
            ),
        }
        self.targets = [everything[key] for key in self.args.nodes]
        busy = [
            port
            for t in self.targets
            for port in (int(t.ports.split("-")[0]), t.raw_port)
            if not port_is_free(port)
        ]
        if busy:
            raise Aborted(f"Ports {busy} on 127.0.0.1 are in use; the benchmark needs them.")

    def seed(self) -> None:
        from nodes.allocations import allocations_create
        from nodes.health import node_check_health
        from nodes.models import Location
        from nodes.services import node_create
        from servers.services import server_create

        self.admin, self.password, template = seed_panel()
        location = Location.objects.create(name="bench")
        for t in self.targets:
            ssh = t.docker_url.startswith("ssh://")
            t.node, _ = node_create(
                name=f"bench-{t.key}",
                location=location,
                docker_url=t.docker_url,
                hostname="127.0.0.1",
                public_address="127.0.0.1",
                data_dir=t.data_dir,
                max_memory_mb=4096,
                max_cpu_cores=2,
                ssh_private_key=Path(env("HEARTH_TEST_SSH_KEY")).read_text() if ssh else "",
            )
            if ssh:
                t.node.ssh_host_key = env("HEARTH_TEST_SSH2_HOSTKEY")
                t.node.save()
            report = node_check_health(node=t.node)
            if not report.get("ok"):
                raise Aborted(f"Node {t.node.name} is not healthy: {report.get('error')}")
            allocations_create(node=t.node, ip="127.0.0.1", ports=t.ports)
            t.node.refresh_from_db()
            t.server = server_create(
                actor=self.admin,
                template=template,
                name=f"bench-{t.key}",
                node=t.node,
                allocated_memory_mb=256,
                allocated_cpu_cores=1,
                allocated_disk_mb=1024,
            )
            self.leftovers.container(t.engine_socket, t.server.container_name)
            self.leftovers.container(t.engine_socket, f"hearth-install-{t.server.pk}")
            self.leftovers.directory(f"{t.data_dir.rstrip('/')}/servers/{t.server.pk}")

    def start_processes(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        py = str(VENV_BIN / "python")
        self.processes.start(
            "daphne",
            [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
        )
        self.processes.start("worker", worker_argv(self.args.worker_loglevel))
        self.processes.start("monitor", [py, "manage.py", "monitor"])
        import requests

        def web_up():
            self.processes.check()
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.base_url}/api/health", timeout=2).status_code == 200
            return False

        wait_until("daphne to answer /api/health", web_up, 60)
        from config import heartbeat
        from config.celery import app

        def worker_up():
            self.processes.check()
            return bool(app.control.ping(timeout=0.5))

        wait_until("the Celery worker to answer a ping", worker_up, 60)

        def monitor_up():
            self.processes.check()
            return heartbeat.status()["monitor"] == "running"

        wait_until("the monitor's heartbeat", monitor_up, 60)

    def install(self) -> None:
        """Install both servers with the worker; a failed install is retried (up to 3 attempts each),
        since something outside the benchmark (the tests' clean-up) may remove the install container."""
        from servers.models import Server
        from servers.services import server_install

        attempts = {t.server.pk: 1 for t in self.targets}
        for t in self.targets:
            server_install(server=t.server, actor=self.admin)

        def installed():
            self.processes.check()
            for t in self.targets:
                server = Server.objects.get(pk=t.server.pk)
                if server.status == Server.Status.INSTALL_FAILED:
                    if attempts[server.pk] >= 3:
                        raise Aborted(f"Installing {server.name} failed 3 times: {server.status_reason}")
                    print(
                        f"  ! install of {server.name} failed ({server.status_reason[:120]}); again",
                        flush=True,
                    )
                    self.install_retries += 1
                    attempts[server.pk] += 1
                    server_install(server=server, actor=self.admin, reinstall=True)
            statuses = Server.objects.filter(pk__in=attempts).values_list("status", flat=True)
            return all(s == Server.Status.STOPPED for s in statuses)

        wait_until("both installs", installed, 600, 0.5)
        for t in self.targets:
            t.server = Server.objects.select_related("node", "template").get(pk=t.server.pk)

    def login(self) -> None:
        self.http, _ = api_session(self.base_url, self.password)

    def prepare_baselines(self) -> None:
        """One equivalent container per engine: the panel's own spec (image, command, stdin, user,
        limits, init, tmpfs, log driver), its own port, a copy of the server's directory (same layout),
        labelled hearth.bench instead of hearth.server."""
        import docker

        from nodes.client import client_for
        from servers import runtime

        for t in self.targets:
            t.engine_api = docker.APIClient(base_url=t.engine_socket, timeout=self.args.timeout)
            node_client = client_for(t.server.node)
            source = runtime.server_dir(t.server)
            t.raw_dir = f"{t.data_dir.rstrip('/')}/servers/{uuid.uuid4()}"
            self.leftovers.directory(t.raw_dir)
            node_client.run(["cp", "-a", source, t.raw_dir])  # as the node's user, on the node
            spec = runtime.container_spec(t.server)
            t.raw_name = f"hearth-bench-raw-{t.key}"
            self.leftovers.container(t.engine_socket, t.raw_name)
            runtime.create_container(  # the panel's own spec, with this baseline's name, copy and port
                t.engine_api,
                spec,
                name=t.raw_name,
                volumes={t.raw_dir: {"bind": spec["working_dir"], "mode": "rw"}},
                port_bindings={
                    f"{t.raw_port}/{proto}": ("127.0.0.1", t.raw_port) for proto in ("tcp", "udp")
                },
                ports=[f"{t.raw_port}/{proto}" for proto in ("tcp", "udp")],
                environment={**spec["environment"], "SERVER_PORT": str(t.raw_port)},
                labels={BENCH_LABEL: self.stamp, "hearth.bench.role": "raw"},
            )
            wanted = self.args.baselines
            engine = t.engine_socket
            if "sdk" in wanted:
                t.drivers.append(SdkDriver("sdk", f"docker-py, {engine}", lambda api=t.engine_api: api))
            if "cli" in wanted:
                t.drivers.append(CliDriver("cli", f"docker CLI, -H {engine}", engine))
            if t.key == "ssh" and "cli-ssh" in wanted:
                extra = ssh_cli_env(
                    self.tmp, t.docker_url, env("HEARTH_TEST_SSH_KEY"), env("HEARTH_TEST_SSH2_HOSTKEY")
                )
                t.drivers.append(CliDriver("cli-ssh", f"docker CLI, -H {t.docker_url}", t.docker_url, extra))
            if t.key == "ssh" and "sdk-ssh" in wanted:
                t.drivers.append(
                    SdkDriver(
                        "sdk-ssh",
                        f"docker-py over {t.docker_url} (nodes.client)",
                        lambda nc=node_client: nc.docker.api,
                    )
                )
            t.events = EngineEvents(t.engine_socket)
            t.events.start()
            t.events.opened.wait(10)

    # -- one cycle ----------------------------------------------------------------------------------

    def panel_cycle(self, t: Target, round_no: int, warmup: bool) -> None:
        from servers.models import Server

        S = Server.Status
        sid, name, timeout = str(t.server.pk), t.server.container_name, self.args.timeout
        record = {"node": t.key, "series": "panel", "round": round_no, "warmup": warmup}
        try:
            # start
            t0_wall, t0 = now(), time.perf_counter()
            response = self.http.post(f"{self.base_url}/api/servers/{sid}/start", timeout=timeout)
            http = time.perf_counter() - t0
            if response.status_code != 200:
                raise RoundFailed(f"start answered {response.status_code}: {response.text[:200]}")
            seen, seen_wall, running_at = self.poller.wait(
                sid, {S.RUNNING}, {S.CRASHED, S.STOPPED, S.INSTALL_FAILED}, timeout
            )
            record["start"] = {"t0": t0_wall, "total": seen - t0, "http": http}
            record["start"]["stages"] = self._start_stages(t, name, t0_wall, seen_wall, running_at)
            # stop
            t0_wall, t0 = now(), time.perf_counter()
            response = self.http.post(f"{self.base_url}/api/servers/{sid}/stop", timeout=timeout)
            http = time.perf_counter() - t0
            if response.status_code != 200:
                raise RoundFailed(f"stop answered {response.status_code}: {response.text[:200]}")
            seen, seen_wall, stopped_at = self.poller.wait(sid, {S.STOPPED}, {S.CRASHED}, timeout)
            record["stop"] = {"t0": t0_wall, "total": seen - t0, "http": http}
            record["stop"]["stages"] = self._stop_stages(t, name, t0_wall, seen_wall, stopped_at)
        except (RoundFailed, OSError) as exc:
            self._failed(record, exc)
            self._recover_panel(t)
        self.records.append(record)

    def _start_stages(self, t, name, t0, seen, running_at) -> dict:
        start_event = t.events.wait_for(name, "start", t0)
        engine_calls = t.events.between(name, t0, seen)
        first_call = engine_calls[0][0] if engine_calls else None
        # This start's own ready line: it may not exist yet when the status already says running (the
        # monitor can take an earlier run's line for it), so wait for it before judging and stopping.
        deadline = time.monotonic() + self.args.timeout
        while (ready_engine := engine_ready_time(t.engine_api, name, t0)) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return {
            "first_engine_call": first_call,
            "engine_calls": [a for _, a in engine_calls],
            "engine_call_ms": [[a, round((at - t0) * 1000, 1)] for at, a in engine_calls],
            "start_event": start_event,
            "ready_engine": ready_engine,
            "running_at": running_at,
            "seen": seen,
            # the status moved to running before this start's own ready line reached the engine
            "early": bool(ready_engine and running_at < ready_engine),
        }

    def _stop_stages(self, t, name, t0, seen, stopped_at) -> dict:
        return {
            "attach_event": t.events.first(name, "attach", t0, seen),
            "die_event": t.events.wait_for(name, "die", t0),
            "stopped_at": stopped_at,
            "seen": seen,
        }

    def annotate_from_console(self) -> None:
        """After the rounds, when every line has landed: add the console's timestamps to each panel
        cycle (its lines until the next request of that server)."""
        from servers import console

        for t in self.targets:
            history = console.history(t.server.pk, limit=10_000)
            cycles = sorted(
                (r[phase]["t0"], phase, r)
                for r in self.records
                if r["node"] == t.key and r["series"] == "panel"
                for phase in ("start", "stop")
                if phase in r
            )
            for i, (t0, phase, record) in enumerate(cycles):
                end = cycles[i + 1][0] if i + 1 < len(cycles) else math.inf
                lines = [e for e in history if t0 - 0.002 <= e["ts"] < end]

                def first(prefix, lines=lines):
                    return min((e["ts"] for e in lines if e["data"].startswith(prefix)), default=None)

                stages = record[phase]["stages"]
                if phase == "start":
                    stages["requested"] = first("Start requested")
                    stages["worker_done"] = first("Container started")
                    stages["ready_console"] = min(
                        (e["ts"] for e in lines if e["stream"] == "stdout" and READY in e["data"]),
                        default=None,
                    )
                else:
                    stages["requested"] = first("Stop requested")
                    # the monitor writes this line only when it moved the status; the worker writes its own anyway
                    stages["recorded_by"] = "monitor" if first("Server stopped (exit") else "worker"
                    stages["worker_done"] = first("Server stopped.")
                    # the game never acted on the stop command: the worker waited its timeout, then killed it
                    stages["timed_out"] = first("The server did not stop within") is not None

    def raw_cycle(self, t: Target, driver, round_no: int, warmup: bool) -> None:
        record = {"node": t.key, "series": driver.key, "round": round_no, "warmup": warmup}
        timeout = self.args.timeout
        try:
            record["start"] = driver.start(t.raw_name, timeout)
            t0 = record["start"]["t0"]
            record["start"]["stages"] = {
                "start_event": t.events.wait_for(t.raw_name, "start", t0),
                "ready_engine": engine_ready_time(t.engine_api, t.raw_name, t0),
                "seen": t0 + record["start"]["total"],
            }
            record["stop"] = driver.stop(t.raw_name, timeout)
            t0 = record["stop"]["t0"]
            record["stop"]["stages"] = {
                "kill_event": t.events.wait_for(t.raw_name, "kill", t0),
                "die_event": t.events.wait_for(t.raw_name, "die", t0),
                "seen": t0 + record["stop"]["total"],
            }
        except Exception as exc:  # any failure of a raw round is recorded, then the container is reset
            self._failed(record, exc)
            with contextlib.suppress(Exception):
                t.engine_api.kill(t.raw_name)
        self.records.append(record)

    def _failed(self, record: dict, exc: Exception) -> None:
        record["error"] = f"{exc.__class__.__name__}: {exc}"
        self.failures.append(record)
        print(
            f"  ! {record['node']} {record['series']} round {record['round']}: {record['error']}", flush=True
        )
        if len(self.failures) > self.args.max_failures:
            raise Aborted(f"{len(self.failures)} failed rounds (more than --max-failures); stopping.")

    def _recover_panel(self, t: Target) -> None:
        """Bring the server back to stopped (or crashed) so the next round can start it."""
        from servers.models import Server

        S = Server.Status
        sid = str(t.server.pk)
        status, _ = self.poller.read(sid)
        if status in (S.STARTING, S.RUNNING):
            self.http.post(f"{self.base_url}/api/servers/{sid}/kill", timeout=self.args.timeout)
        try:
            self.poller.wait(sid, {S.STOPPED, S.CRASHED}, set(), self.args.timeout)
        except RoundFailed as exc:
            raise Aborted(f"Server {t.server.name} could not be brought back to stopped: {exc}") from exc

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> None:
        self.check_environment()
        Leftovers.clean_previous(
            LEFTOVERS,
            data_dirs=[t.data_dir for t in self.targets],
            sockets=[env("HEARTH_TEST_DOCKER1_URL"), env("HEARTH_TEST_DOCKER2_URL")],
            raw_label=BENCH_LABEL,
        )
        print(f"Logs and raw data: {self.logdir.relative_to(ROOT)}/", flush=True)
        migrate_and_setup_django(self.logdir)
        self.machine = machine_info([t.engine_socket for t in self.targets])
        self.seed()
        self.start_processes()
        self.install()
        self.login()
        self.prepare_baselines()
        self.poller = StatusPoller(env("DATABASE_URL"), self.args.poll_ms / 1000)
        total = self.args.warmup + self.args.rounds
        self.load_before = Path("/proc/loadavg").read_text().split()[:3]
        self.tests_before = test_runs()
        if self.tests_before:
            print(
                f"Note: {self.tests_before} pytest process(es) running: they load the machine and may remove "
                "the panel's containers.",
                flush=True,
            )
        started = time.monotonic()
        for round_no in range(total):
            warmup = round_no < self.args.warmup
            label = "warm-up" if warmup else f"round {round_no - self.args.warmup + 1}/{self.args.rounds}"
            print(f"{label} …", flush=True)
            for t in self.targets:
                self.processes.check()
                self.panel_cycle(t, round_no, warmup)
                time.sleep(self.args.settle)
                for driver in t.drivers:
                    self.raw_cycle(t, driver, round_no, warmup)
                    time.sleep(self.args.settle)
        self.duration = time.monotonic() - started
        self.annotate_from_console()
        self.load_after = Path("/proc/loadavg").read_text().split()[:3]
        self.tests_after = test_runs()
        for t in self.targets:  # removals of the panel's container that the panel did not make itself
            name = t.server.container_name
            total = sum(1 for _, action, n in t.events.events if n == name and action == "destroy")
            own = sum(
                r["start"]["stages"]["engine_calls"].count("destroy")
                for r in self.records
                if r["node"] == t.key and r["series"] == "panel" and "start" in r
            )
            self.removed[t.key] = total - own

    def cleanup(self) -> None:
        """Stop the processes, remove every container and directory this run made. The database
        hearth_bench is left for inspection (the next run drops and recreates it)."""
        for t in self.targets:
            if t.events:
                t.events.stop()
        self.processes.stop()
        if self.poller:
            with contextlib.suppress(Exception):
                self.poller.close()
        with contextlib.suppress(Exception):
            import docker

            from nodes.client import client_for
            from servers import runtime

            for t in self.targets:
                if t.server is not None:
                    with contextlib.suppress(Exception):
                        runtime.destroy(client_for(t.server.node), t.server)  # the panel's own removal
                client = docker.DockerClient(base_url=t.engine_socket)
                with contextlib.suppress(docker.errors.NotFound):
                    client.containers.get(t.raw_name or "-").remove(force=True)
                client.close()
                if t.raw_dir and t.server is not None:
                    with contextlib.suppress(Exception):
                        client_for(t.server.node).run(["rm", "-rf", "--one-file-system", t.raw_dir])
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.leftovers.done()


# --- machine and report ----------------------------------------------------------------------


def measured(records, node, series, phase, *, false_ready: bool = False) -> list[dict]:
    """The measured rounds of one series. Panel starts whose `running` came before their own ready
    line are no measurement of readiness: they are left out (and counted in the notes)."""
    return [
        r
        for r in records
        if r["node"] == node
        and r["series"] == series
        and not r["warmup"]
        and "error" not in r
        and phase in r
        and (false_ready or not r[phase].get("stages", {}).get("early"))
    ]


def series_values(records, node, series, phase, key="total") -> list[float]:
    return [r[phase][key] * 1000 for r in measured(records, node, series, phase)]


def stage_values(records, node, series, phase, a, b) -> list[float]:
    """Milliseconds from timestamp `a` to timestamp `b` of each measured round ("t0" is the request);
    stops that ran into the panel's stop timeout are left out (they have no normal path to cut up)."""
    out = []
    for r in measured(records, node, series, phase):
        stages = {**r[phase]["stages"], "t0": r[phase]["t0"]}
        if stages.get("timed_out"):
            continue
        if stages.get(a) is not None and stages.get(b) is not None:
            out.append((stages[b] - stages[a]) * 1000)
    return out


# (label, panel's stage as (from, to), the primary raw baseline's matching stage or None)
START_STAGES = [
    ("request → web committed the transition (console: *Start requested*)", ("t0", "requested"), None),
    (
        "→ worker's first engine call with an event (queue, pickup, DB load, inspect; then `archive-path`, "
        "a few ms into reading the config file)",
        ("requested", "first_engine_call"),
        None,
    ),
    (
        "→ container `start` event (panel: the rest of the config-file read/rewrite, then the start call; "
        "raw: the start call from the request)",
        ("first_engine_call", "start_event"),
        ("t0", "start_event"),
    ),
    (
        "→ ready line reaches the engine (the game boots)",
        ("start_event", "ready_engine"),
        ("start_event", "ready_engine"),
    ),
    (
        "→ status `running` written by the monitor (raw: line read by the client)",
        ("ready_engine", "running_at"),
        ("ready_engine", "seen"),
    ),
    ("→ seen by the benchmark's poll", ("running_at", "seen"), None),
    ("**total**", ("t0", "seen"), ("t0", "seen")),
]
STOP_STAGES = [
    ("request → web committed the transition (console: *Stop requested*)", ("t0", "requested"), None),
    (
        "→ `attach` to the game's stdin for `stop` (by the worker, or the monitor's stdin relay when it opens one; raw: SIGTERM, the `kill` event)",
        ("requested", "attach_event"),
        ("t0", "kill_event"),
    ),
    ("→ container `die` event (the game exits)", ("attach_event", "die_event"), ("kill_event", "die_event")),
    (
        "→ status `stopped` written (raw: `docker stop` returned)",
        ("die_event", "stopped_at"),
        ("die_event", "seen"),
    ),
    ("→ seen by the benchmark's poll", ("stopped_at", "seen"), None),
    ("**total**", ("t0", "seen"), ("t0", "seen")),
]


def stage_table(bench, phase: str, stages) -> list[str]:
    header = (
        "| "
        + phase
        + " stage (median ms) | "
        + " | ".join(f"{t.key} panel | {t.key} raw" for t in bench.targets)
    )
    lines = [header + " |", "|---|" + "---:|---:|" * len(bench.targets)]
    for label, panel, raw in stages:
        cells = []
        for t in bench.targets:
            values = stage_values(bench.records, t.key, "panel", phase, *panel)
            cells.append(ms(statistics.median(values)) if values else "-")
            values = stage_values(bench.records, t.key, t.drivers[0].key, phase, *raw) if raw else []
            cells.append(ms(statistics.median(values)) if values else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def table_row(label: str, s: dict | None, bold_p50: bool = False) -> str:
    if not s:
        return f"| {label} | 0 | - | - | - | - |"
    p50 = f"**{ms(s['p50'])}**" if bold_p50 else ms(s["p50"])
    n = s.get("n", "-")
    return f"| {label} | {n} | {p50} | {ms(s['p90'])} | {ms(s['p99'])} | {ms(s['mean'])} |"


def overhead(panel: dict, raw: dict) -> dict:
    return {k: panel[k] - raw[k] for k in ("p50", "p90", "p99", "mean")}


def report(bench: Bench) -> str:
    args, records, m = bench.args, bench.records, bench.machine
    when = datetime.now(UTC)
    out = [
        f"## lifecycle — {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', 'bash scripts/run-bench.sh bench/lifecycle/run.py')}`",
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['kernel']}; "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, docker CLI {m['docker_cli']}",
        *[f"- **Engine:** {e}" for e in m["engines"]],
        f"- **Code:** {m['commit']}",
        f"- **Rounds:** {args.rounds} measured per node and per series (+{args.warmup} warm-up, not counted); "
        f"panel and raw cycles interleaved, {args.settle:g} s pause between cycles; status polled every "
        f"{args.poll_ms:g} ms; {len(bench.failures)} failed rounds; took {bench.duration:.0f} s",
        f"- **Load average** (1/5/15 min) before: {' '.join(bench.load_before)}, after: {' '.join(bench.load_after)}; "
        f"other pytest processes running before/after: {bench.tests_before}/{bench.tests_after}",
        "",
        "Milliseconds. Percentiles are nearest-rank (below 100 rounds p99 is the maximum). Overhead = panel - "
        "raw, column by column. The primary raw baseline is docker-py on the engine's own socket; start "
        "ends when the ready line is read, stop when the engine reports the container's `die` (the game has "
        "exited); the `docker stop` rows end when the call returns, after the engine's clean-up.",
        "",
    ]
    verdicts = []
    for t in bench.targets:
        primary = t.drivers[0]
        out += [
            f"### {t.title}",
            "",
            "| series | n | p50 | p90 | p99/max | mean |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        # start
        panel = summary(series_values(records, t.key, "panel", "start"))
        out.append(table_row("**panel: start → `running`**", panel))
        out.append(
            table_row(
                "panel: HTTP answer to POST …/start",
                summary(series_values(records, t.key, "panel", "start", "http")),
            )
        )
        raws = {d.key: summary(series_values(records, t.key, d.key, "start")) for d in t.drivers}
        for d in t.drivers:
            tag = " (primary)" if d is primary else ""
            out.append(table_row(f"raw start → ready line: {d.label}{tag}", raws[d.key]))
        for d in t.drivers:
            if panel and raws[d.key]:
                diff = overhead(panel, raws[d.key])
                tag = " (primary)" if d is primary else ""
                out.append(table_row(f"**overhead start** vs {d.key}{tag}", diff, bold_p50=d is primary))
                if d is primary:
                    verdicts.append((t, "start", diff))
        # stop
        panel = summary(series_values(records, t.key, "panel", "stop"))
        out.append(table_row("**panel: stop → `stopped`**", panel))
        out.append(
            table_row(
                "panel: HTTP answer to POST …/stop",
                summary(series_values(records, t.key, "panel", "stop", "http")),
            )
        )
        delivered = [
            r for r in measured(records, t.key, "panel", "stop") if not r["stop"]["stages"].get("timed_out")
        ]
        if len(delivered) < len(measured(records, t.key, "panel", "stop")):
            out.append(
                table_row(
                    "panel: stop → `stopped`, only stops the game acted on (no stop timeout)",
                    summary([r["stop"]["total"] * 1000 for r in delivered]),
                )
            )
        exited = summary(stage_values(records, t.key, primary.key, "stop", "t0", "die_event"))
        out.append(table_row(f"raw stop → `die` event: {primary.label} (primary)", exited))
        raws = {d.key: summary(series_values(records, t.key, d.key, "stop")) for d in t.drivers}
        for d in t.drivers:
            out.append(table_row(f"raw `docker stop` returned: {d.label}", raws[d.key]))
        if panel and exited:
            diff = overhead(panel, exited)
            out.append(table_row("**overhead stop** vs `die` (primary)", diff, bold_p50=True))
            verdicts.append((t, "stop", diff))
        for d in t.drivers:
            if panel and raws[d.key]:
                out.append(
                    table_row(
                        f"overhead stop vs `docker stop` returned, {d.key}", overhead(panel, raws[d.key])
                    )
                )
        out.append("")
    out += [
        "**Targets** (panel overhead at p50 against the primary baseline; "
        f"local < {TARGET_MS['local']:.0f} ms, SSH < {TARGET_MS['ssh']:.0f} ms):",
        "",
    ]
    for t, phase, diff in verdicts:
        limit = TARGET_MS[t.key]
        rounds = measured(records, t.key, "panel", phase, false_ready=True)
        key = "timed_out" if phase == "stop" else "early"
        broken = sum(1 for r in rounds if r[phase]["stages"].get(key))
        met = diff["p50"] < limit and not broken
        why = ""
        if broken:
            what = (
                "hit the panel's stop timeout"
                if phase == "stop"
                else "reported `running` before the game was ready"
            )
            why = f"; {broken} of {len(rounds)} {phase}s {what}"
        out.append(
            f"- {t.key} {phase}: {ms(diff['p50'])} ms at p50 ({ms(diff['p90'])} at p90) — "
            f"{'**met**' if met else '**NOT met**'} (< {limit:.0f} ms, and every round must reach its state "
            f"properly){why}"
        )
    out += [
        "",
        "**Where the time goes** (median of each stage; timestamps from the request, the panel's console "
        "history in Redis, the engine's events and log timestamps, and the status row's `updated_at`; "
        "medians of stages add up to about the median total; stops that hit the stop timeout are left out):",
        "",
        *stage_table(bench, "start", START_STAGES),
        "",
        *stage_table(bench, "stop", STOP_STAGES),
    ]
    notes = []
    for t in bench.targets:
        rounds = measured(records, t.key, "panel", "start", false_ready=True)
        early_rounds = [r for r in rounds if r["start"]["stages"].get("early")]
        early = len(early_rounds)
        created = sum(1 for r in rounds if "create" in r["start"]["stages"]["engine_calls"])
        written = sum(1 for r in rounds if "extract-to-dir" in r["start"]["stages"]["engine_calls"])
        by = [r["stop"]["stages"]["recorded_by"] for r in measured(records, t.key, "panel", "stop")]
        removed = bench.removed.get(t.key, 0)
        if early:
            ahead = statistics.median(
                (r["start"]["stages"]["ready_engine"] - r["start"]["stages"]["running_at"]) * 1000
                for r in early_rounds
                if r["start"]["stages"].get("ready_engine")
            )
            notes.append(
                f"- **{t.key}: in {early} of {len(rounds)} starts the status became `running` before that start's "
                f"own ready line** (median {ahead:.0f} ms before it): the monitor follows the output from one "
                "to two seconds before the `start` event and took the previous run's `Done (` line. Those "
                "rounds are left out of the start figures above."
            )
        stops = measured(records, t.key, "panel", "stop")
        lost = [r for r in stops if r["stop"]["stages"].get("timed_out")]
        if lost:
            notes.append(
                f"- **{t.key}: in {len(lost)} of {len(stops)} stops the game never got the stop command** (no "
                "effect on stdin): the worker waited for the panel's stop timeout and then killed the container "
                f"(median stop {statistics.median(r['stop']['total'] for r in lost):.1f} s)."
            )
        if created or removed:
            notes.append(
                f"- {t.key}: the panel's container was removed by something else {removed} time(s) during the run "
                f"and recreated by the start in {created} measured round(s) (the test suite's clean-up removes every "
                "`hearth.server` container on both engines: run benchmarks while no tests run)."
            )
        if written:
            notes.append(
                f"- {t.key}: a config file was rewritten (put_archive) in {written} of {len(rounds)} starts."
            )
        if by:
            notes.append(
                f"- {t.key}: `stopped` was written by the monitor (on `die`) in {by.count('monitor')} and by the "
                f"worker (after its wait) in {by.count('worker')} of {len(by)} stops."
            )
    if bench.install_retries:
        notes.append(f"- setup: {bench.install_retries} install(s) failed and were run again.")
    notes += [f"- failed: {f['node']} {f['series']} round {f['round']}: {f['error']}" for f in bench.failures]
    if notes:
        out += ["", *notes]
    out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per node and series (1-500)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds run first and not counted (0-20)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="status polling interval (1-100 ms)")
    parser.add_argument("--settle", type=float, default=0.5, help="pause between cycles, seconds (0-10)")
    parser.add_argument("--timeout", type=float, default=60.0, help="limit for each start or stop, seconds")
    parser.add_argument("--nodes", nargs="+", choices=["local", "ssh"], default=["local", "ssh"])
    parser.add_argument(
        "--baselines",
        nargs="+",
        choices=["sdk", "cli", "cli-ssh", "sdk-ssh"],
        default=["sdk", "cli", "cli-ssh", "sdk-ssh"],
        help="raw series; the first of sdk/cli present is the primary baseline",
    )
    parser.add_argument("--max-failures", type=int, default=5, help="stop after more failed rounds than this")
    parser.add_argument("--worker-loglevel", default="WARNING")
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    if not (1 <= args.rounds <= 500 and 0 <= args.warmup <= 20 and 1 <= args.poll_ms <= 100):
        parser.error("--rounds 1-500, --warmup 0-20, --poll-ms 1-100")
    if not (0 <= args.settle <= 10 and 1 <= args.timeout <= 600):
        parser.error("--settle 0-10, --timeout 1-600")
    if not ({"sdk", "cli"} & set(args.baselines)):
        parser.error("--baselines needs sdk or cli (the primary baseline)")
    args.baselines = sorted(args.baselines, key=["sdk", "cli", "cli-ssh", "sdk-ssh"].index)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so cleanup runs
    bench = Bench(args)
    status = 0
    try:
        bench.run()
    except (Aborted, KeyboardInterrupt) as exc:
        print(f"Benchmark aborted: {exc or exc.__class__.__name__}", file=sys.stderr)
        status = 1
    finally:
        print("Cleaning up…", flush=True)
        bench.cleanup()
        raw = bench.logdir / "rounds.json"
        raw.write_text(
            json.dumps({"args": vars(args), "machine": bench.machine, "records": bench.records}, indent=1)
        )
    if status:
        return status
    text = report(bench)
    print()
    print(text)
    if not args.no_results:
        write_results(text)
        print(f"Appended to {RESULTS.relative_to(ROOT)}; every round is in {raw.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
