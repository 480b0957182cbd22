"""bench/console: the live console, container output → WebSocket client, against `docker logs -f`.

    make bench-console                                   # the whole benchmark (about 10 minutes)
    make bench-console ARGS="--servers 10 --rounds 1 --window 10 --idle 20 --no-results"

It runs the real panel (daphne, a Celery worker, `manage.py monitor`) on its own database, with one
local node (engine 1 over its unix socket) and `--servers` game servers of a bench-only template: the
Test Game (`hearth/testgame:latest`, `flood <n>`, `say`, `Done (`…) plus a side loop that prints
`bench-tick <unix time>` ten times a second while the file `.bench-tick` exists in the server's
directory (busybox ash: `$EPOCHREALTIME` and `read -t 0.1` on a private FIFO, no process forked per
line). WebSocket clients (the `websockets` package) connect to `/ws?token=<JWT>` as a browser does.

1. **Throughput**: `flood N` typed into a running server's console over the WebSocket; lines and
   bytes per second received by the client, against the same flood read on an identical container
   with the docker CLI (`docker logs -f`, the primary baseline) and with a plain Engine API stream
   (`GET /containers/{id}/logs?follow=1` on the unix socket, what docker-py and the monitor use).
   Once with the throttle raised (the pipeline's own capacity) and once with the default throttle.
2. **Latency** of single lines at 10/s: receipt time minus the time the container wrote into the
   line, on one WebSocket client and, reading the same lines at the same time, on `docker logs -f`
   and an Engine API stream.
3. **Fan-out**: 100 WebSocket clients on one ticking server, then 2 clients on each of 50 ticking
   servers; p50/p99 latency over every client, and the CPU of the monitor, daphne, Redis and dockerd.
   Baseline: as many concurrent Engine API log streams on the same containers (same shape).
4. **Idle**: the monitor's CPU and RSS with every server running and silent.

Results are printed, appended to bench/RESULTS.md, and kept in full in bench/out/console-<time>/.
See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.console.measure import (  # noqa: E402
    CpuMeter,
    CpuTrace,
    LoadWatch,
    find_pid,
    fmt,
    other_load,
    proc_status,
)
from bench.console.readers import (  # noqa: E402
    FLOOD,
    TICK,
    CliStream,
    EngineStream,
    FloodCounter,
    Reader,
    TickCollector,
    WsClient,
)
from bench.console.report import dump, report  # noqa: E402
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

LEFTOVERS = OUT / "console-leftovers.json"
BENCH_LABEL = "hearth.bench"  # raw containers only (the monitor and the tests ignore them)
SUITE_LABEL = "hearth.bench.suite"
SUITE = "console"
PORT_BASE = (
    30000  # the panel's servers: 30000 + i; below the ephemeral range (32768+), not the tests' (31000+)
)
RAW_PORT_BASE = 30100  # raw containers: 30100-30109
TICK_FILE = ".bench-tick"
TEMPLATE_NAME = "Bench Console (Test Game + ticker)"
# /bin/sh -c of the container: the ticker in the background, then the Test Game in the foreground
# (stdin, the ready line, `flood`, `stop`). No fork per tick: $EPOCHREALTIME and `read -t` are ash
# built-ins; the FIFO is opened read-write so the read never blocks on open and never hits EOF.
TICKER_START = (
    "( mkfifo /tmp/.bench-tick-fifo && exec 3<>/tmp/.bench-tick-fifo && while :; do "
    f"if [ -e {TICK_FILE} ]; then printf '{TICK}%s\\n' \"$EPOCHREALTIME\"; fi; read -t 0.1 x <&3; "
    "done ) & exec /usr/local/bin/testgame"
)
SPARES = 2  # extra flood servers per throttle setting, for floods measured again


# --- the benchmark --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"console-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.results: dict = {"throughput": [], "latency": {}, "fanout": [], "idle": {}, "costs": {}}
        self.servers: list = []
        self.names: dict[str, str] = {}  # server id → container name
        self.raw_dir = ""
        self.raw_count = 0
        self.machine: dict = {}
        self.waited: list[str] = []
        self.redone: list[str] = []
        self.watch = LoadWatch()
        self.duration = 0.0
        self.load_before = self.load_after = []
        self.api = None

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
        self.docker_url = env("HEARTH_TEST_DOCKER1_URL")
        if not self.docker_url.startswith("unix://"):
            raise Aborted("HEARTH_TEST_DOCKER1_URL must be a unix:// socket.")
        self.socket_path = self.docker_url.removeprefix("unix://")
        self.data_dir = env("HEARTH_TEST_NODE1_DATA_DIR")
        count = self.args.servers
        busy = [
            p
            for p in [*range(PORT_BASE, PORT_BASE + count), *range(RAW_PORT_BASE, RAW_PORT_BASE + 10)]
            if not port_is_free(p)
        ]
        if busy:
            raise Aborted(f"Ports {busy} on 127.0.0.1 are in use; the benchmark needs them.")

    def connect(self) -> None:
        import docker

        self.api = docker.APIClient(base_url=self.docker_url, timeout=self.args.timeout)

    def seed(self) -> None:
        from nodes.allocations import allocations_create
        from nodes.health import node_check_health
        from nodes.models import Location
        from nodes.services import node_create
        from servers import runtime
        from servers.services import server_create
        from templates_app.models import Template
        from templates_app.services import VARIABLE_FIELDS, template_save

        self.admin, self.password, game = seed_panel()
        fields = {
            f.name: getattr(game, f.name)
            for f in Template._meta.concrete_fields
            if f.name not in ("id", "name", "created_at", "updated_at")
        }
        fields["start_command"] = TICKER_START
        variables = [{k: getattr(v, k) for k in VARIABLE_FIELDS} for v in game.variables.all()]
        self.template = template_save(template=Template(name=TEMPLATE_NAME, **fields), variables=variables)
        location = Location.objects.create(name="bench")
        self.node, _ = node_create(
            name="bench-console",
            location=location,
            docker_url=self.docker_url,
            hostname="127.0.0.1",
            public_address="127.0.0.1",
            data_dir=self.data_dir,
            max_memory_mb=16384,
            max_cpu_cores=128,
        )
        report = node_check_health(node=self.node)
        if not report.get("ok"):
            raise Aborted(f"Node {self.node.name} is not healthy: {report.get('error')}")
        count = self.args.servers
        allocations_create(node=self.node, ip="127.0.0.1", ports=f"{PORT_BASE}-{PORT_BASE + count - 1}")
        self.node.refresh_from_db()
        for i in range(count):
            server = server_create(
                actor=self.admin,
                template=self.template,
                name=f"bench-console-{i:02d}",
                node=self.node,
                allocated_memory_mb=64,
                allocated_cpu_cores=1,
                allocated_disk_mb=128,
            )
            self.servers.append(server)
            self.leftovers.container(self.docker_url, server.container_name)
            self.leftovers.container(self.docker_url, f"hearth-install-{server.pk}")
            self.leftovers.directory(runtime.server_dir(server))
            self.names[str(server.pk)] = server.container_name

    def start_processes(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.processes.start(
            "daphne",
            [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
        )
        self.processes.start("worker", worker_argv("WARNING"))
        self.start_monitor(self.args.raised_throttle)
        import requests

        def web_up():
            self.processes.check()
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.base_url}/api/health", timeout=2).status_code == 200
            return False

        wait_until("daphne to answer /api/health", web_up, 60)
        from config.celery import app

        def worker_up():
            self.processes.check()
            return bool(app.control.ping(timeout=0.5))

        wait_until("the Celery worker to answer a ping", worker_up, 60)

    def start_monitor(self, lines_per_100ms: int | None) -> None:
        """(Re)start `manage.py monitor`, with HEARTH_CONSOLE_LINES_PER_100MS when given, and wait for
        its first heartbeat."""
        from django.core.cache import cache

        argv = [str(VENV_BIN / "python"), "manage.py", "monitor"]
        extra = {"HEARTH_CONSOLE_LINES_PER_100MS": str(lines_per_100ms)} if lines_per_100ms else {}
        started = time.time()
        if "monitor" in self.processes.procs:
            self.processes.restart("monitor", argv, extra)
        else:
            self.processes.start("monitor", argv, extra)
        self.throttle = lines_per_100ms or self.default_throttle

        def beating():
            self.processes.check()
            return (cache.get("heartbeat:monitor") or 0) > started

        wait_until("the monitor's heartbeat", beating, 60)
        time.sleep(1.0)  # its first reconcile

    @property
    def default_throttle(self) -> int:
        from django.conf import settings

        return settings.CONSOLE_LINES_PER_100MS

    def install(self) -> None:
        """Install every server with the worker; a failed install is tried again (3 attempts each)."""
        from servers.models import Server
        from servers.services import server_install

        attempts = {s.pk: 1 for s in self.servers}
        for server in self.servers:
            server_install(server=server, actor=self.admin)

        def installed():
            self.processes.check()
            for server in Server.objects.filter(pk__in=attempts, status=Server.Status.INSTALL_FAILED):
                if attempts[server.pk] >= 3:
                    raise Aborted(f"Installing {server.name} failed 3 times: {server.status_reason}")
                print(f"  ! install of {server.name} failed ({server.status_reason[:120]}); again")
                attempts[server.pk] += 1
                server_install(server=server, actor=self.admin, reinstall=True)
            statuses = Server.objects.filter(pk__in=attempts).values_list("status", flat=True)
            return all(s == Server.Status.STOPPED for s in statuses)

        wait_until(f"{len(self.servers)} installs", installed, 60 + 20 * len(self.servers), 0.5)

    def login(self) -> None:
        self.http, self.token = api_session(self.base_url, self.password)

    def power(self, servers: list, action: str) -> None:
        """POST …/start or …/stop for each server, then wait until every one is running / stopped."""
        from servers.models import Server

        want = Server.Status.RUNNING if action == "start" else Server.Status.STOPPED
        todo = [s for s in servers if Server.objects.get(pk=s.pk).status != want]
        for server in todo:
            response = self.http.post(f"{self.base_url}/api/servers/{server.pk}/{action}", timeout=60)
            if response.status_code != 200:
                raise Aborted(
                    f"{action} {server.name} answered {response.status_code}: {response.text[:200]}"
                )

        def reached():
            self.processes.check()
            statuses = Server.objects.filter(pk__in=[s.pk for s in servers]).values_list("status", flat=True)
            bad = [s for s in statuses if s in (Server.Status.CRASHED, Server.Status.INSTALL_FAILED)]
            if bad:
                raise Aborted(f"A server became {bad[0]} during {action}.")
            return all(s == want for s in statuses)

        wait_until(f"{len(servers)} servers to {action}", reached, 30 + 3 * len(todo), 0.3)

    def tick(self, servers: list, on: bool) -> None:
        from servers import runtime

        for server in servers:
            path = Path(runtime.server_dir(server)) / TICK_FILE
            if on:
                path.write_text("")
            else:
                path.unlink(missing_ok=True)

    # -- raw containers -----------------------------------------------------------------------------

    def prepare_raw(self) -> None:
        """The raw containers are the panel's own spec (image, command, user, stdin, limits, init, tmpfs,
        log driver and size) with another port and name, on a copy of a server's directory, labelled
        hearth.bench instead of hearth.server."""
        from servers import runtime

        source = runtime.server_dir(self.servers[0])
        self.raw_dir = f"{self.data_dir.rstrip('/')}/servers/{uuid.uuid4()}"
        self.leftovers.directory(self.raw_dir)
        subprocess.run(["cp", "-a", source, self.raw_dir], check=True, timeout=60)
        Path(self.raw_dir, TICK_FILE).unlink(missing_ok=True)
        self.raw_spec = runtime.container_spec(self.servers[0])

    def create_raw(self) -> str:
        from servers import runtime

        spec = self.raw_spec
        port = RAW_PORT_BASE + self.raw_count % 10
        name = f"hearth-bench-console-raw-{self.stamp.lower()}-{self.raw_count}"
        self.raw_count += 1
        self.leftovers.container(self.docker_url, name)
        inner = next(iter(spec["port_bindings"])).split("/")[0]
        runtime.create_container(  # the panel's own spec, with this baseline's name, copy and port
            self.api,
            spec,
            name=name,
            volumes={self.raw_dir: {"bind": spec["working_dir"], "mode": "rw"}},
            port_bindings={f"{inner}/{proto}": ("127.0.0.1", port) for proto in ("tcp", "udp")},
            ports=[f"{inner}/{proto}" for proto in ("tcp", "udp")],
            labels={BENCH_LABEL: self.stamp, SUITE_LABEL: SUITE},
        )
        self.api.start(name)

        def ready():
            return b"Done (" in self.api.logs(name, stdout=True, stderr=False, tail=20)

        wait_until(f"{name}'s ready line", ready, 30, 0.1)
        return name

    def remove_raw(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.api.remove_container(name, force=True)

    def raw_command(self, name: str, text: str) -> None:
        sock = self.api.attach_socket(name, params={"stdin": 1, "stream": 1})
        try:
            getattr(sock, "_sock", sock).sendall(f"{text}\n".encode())
        finally:
            sock.close()

    def engine_flood_times(self, name: str, since: float) -> tuple[float | None, float | None]:
        """The engine's own timestamps (when dockerd took the line) of the flood's first and last line."""
        raw = self.api.logs(name, stdout=True, stderr=False, timestamps=True, since=since - 1).decode(
            errors="replace"
        )
        first, last = raw.find(f" {FLOOD}"), raw.rfind(f" {FLOOD}")
        if first < 0:
            return None, None

        def stamp(pos):
            start = raw.rfind("\n", 0, pos) + 1
            return parse_docker_time(raw[start:pos])

        return stamp(first), stamp(last)

    def engine_ticks(self, name: str, start: float, end: float) -> int:
        """How many tick lines the container wrote with a time inside [start, end] (what a reader of
        that server should receive)."""
        raw = self.api.logs(name, stdout=True, stderr=False, since=start - 2).decode(errors="replace")
        count = 0
        for line in raw.splitlines():
            if line.startswith(TICK):
                with contextlib.suppress(ValueError):
                    count += start <= float(line[len(TICK) :]) <= end
        return count

    def engine_tick_times(self, name: str, start: float) -> dict[str, float]:
        """tick text → the engine's timestamp of that line."""
        raw = self.api.logs(name, stdout=True, stderr=False, timestamps=True, since=start - 2).decode(
            errors="replace"
        )
        out = {}
        for line in raw.splitlines():
            stamp, _, text = line.partition(" ")
            if text.startswith(TICK):
                with contextlib.suppress(ValueError):
                    out[text[len(TICK) :]] = parse_docker_time(stamp)
        return out

    # -- machine state ------------------------------------------------------------------------------

    def quiet_machine(self) -> None:
        """No lifecycle benchmark and no pytest beside a measurement: wait (at most 20 minutes)."""
        deadline = time.monotonic() + 1200
        noted = False
        while busy := other_load():
            if not noted:
                print(f"  waiting: {busy[0]} is running (checking every 10 s, at most 20 min)", flush=True)
                self.waited.append(busy[0])
                noted = True
            if time.monotonic() > deadline:
                raise Aborted(f"Still running after 20 minutes: {busy[0]}")
            time.sleep(10)
        if noted:
            time.sleep(5)

    def guarded(self, what: str, measure, attempts: int = 3):
        """Run one measurement while nothing else runs; if something started meanwhile, wait and take it
        again (at most `attempts` times)."""
        for attempt in range(1, attempts + 1):
            self.quiet_machine()
            self.processes.check()
            self.watch.clear()
            result = measure(attempt)
            if self.watch.seen is None:
                return result
            print(f"  ! {self.watch.seen} ran during {what}: measuring again", flush=True)
            self.redone.append(f"{what} ({self.watch.seen[:60]})")
        raise Aborted(f"Other load kept overlapping {what}.")

    def pids(self) -> dict[str, int | None]:
        return {
            "monitor": self.processes.pid("monitor"),
            "daphne": self.processes.pid("daphne"),
            "redis": self.redis_pid,
            "dockerd": self.dockerd_pid,
            "bench": os.getpid(),
        }

    def meters(self) -> CpuMeter:
        return CpuMeter(self.pids())

    def counters(self) -> dict:
        """Redis and PostgreSQL totals (deltas over a window tell round trips and queries)."""
        import psycopg
        import redis
        from django.conf import settings

        info = redis.Redis.from_url(settings.REDIS_URL).info("all")
        with psycopg.connect(env("DATABASE_URL"), autocommit=True) as conn:
            xacts = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'hearth_bench'"
            ).fetchone()[0]
        return {
            "connections": info.get("total_connections_received", 0),
            "commands": info.get("total_commands_processed", 0),
            "eval": info.get("cmdstat_eval", {}).get("calls", 0),
            "transactions": xacts,
        }

    # -- (1) throughput -----------------------------------------------------------------------------

    async def flood_panel(self, server, n: int) -> dict:
        sid = str(server.pk)
        client = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
        await client.open(self.args.timeout)
        try:
            await client.subscribe([sid], self.args.timeout)
            await asyncio.sleep(1.0)  # the history replay
            counter = FloodCounter(n)
            client.on_text = counter
            trace = CpuTrace(self.pids()).start()
            t0 = time.time()
            await client.command(sid, f"flood {n}")
            end = await counter.wait(2.0, self.args.timeout)
            await trace.stop()
        finally:
            await client.close()
        return {
            "t0": t0,
            "end": end,
            "errors": client.errors,
            "extensions": client.extensions,
            "trace": trace,
            **vars_of(counter),
        }

    async def flood_raw(self, reader_cls, name: str, n: int) -> dict:
        since = time.time()
        host = self.docker_url if reader_cls is CliStream else self.socket_path
        reader = reader_cls(reader_cls.kind, host, name, since)
        await reader.open(self.args.timeout)
        try:
            await asyncio.sleep(0.5)  # connected before the first line
            counter = FloodCounter(n)
            reader.on_text = counter
            cli = {"docker CLI": reader.proc.pid} if isinstance(reader, CliStream) else {}
            trace = CpuTrace({**self.pids(), **cli}).start()
            t0 = time.time()
            await asyncio.to_thread(self.raw_command, name, f"flood {n}")
            end = await counter.wait(2.0, self.args.timeout)
            await trace.stop()
        finally:
            await reader.close()
        return {"t0": t0, "end": end, "errors": reader.errors, "trace": trace, **vars_of(counter)}

    def throughput(self, phase: str, servers: list) -> None:
        """`--rounds` rounds; each round floods a fresh panel server (its own log and history) and two
        fresh raw containers, in a rotating order. `servers` has spares for measurements taken again."""
        n = self.args.flood_lines
        pool = iter(servers)
        for i in range(self.args.rounds):
            print(f"  {phase} round {i + 1}/{self.args.rounds}: flood {n} …", flush=True)
            series = [("panel", None), ("docker-cli", CliStream), ("engine-api", EngineStream)]
            for key, cls in series[i % 3 :] + series[: i % 3]:  # rotate the order between rounds

                def measure(attempt, key=key, cls=cls):
                    server = next(pool, None) if cls is None else None  # raw readers make their own container
                    if cls is None and server is None:
                        raise Aborted(
                            f"No fresh server left for the {phase} floods: too many were taken again."
                        )
                    return self.flood(key, cls, server, n)

                record = self.guarded(f"{phase} flood {i + 1} ({key})", measure)
                record.update({"phase": phase, "round": i, "throttle": self.throttle})
                self.results["throughput"].append(record)
                print(
                    f"    {key:10s} {record['lines']:>7} lines  {fmt(record.get('rate_lines'), 0):>8} lines/s  "
                    f"(producer {fmt(record.get('producer_rate'), 0)} lines/s, end: {record['end']}; CPU "
                    + " ".join(f"{k} {fmt(v, 0)}%" for k, v in record["cpu"].items())
                    + ")",
                    flush=True,
                )
                time.sleep(1.0)

    def flood(self, key: str, cls, server, n: int) -> dict:
        """One flood read by one reader: the panel (on `server`) or a raw reader (on a new raw container)."""
        from servers import console

        if cls is None:
            record = asyncio.run(self.flood_panel(server, n))
            name = server.container_name
        else:
            name = self.create_raw()
            try:
                record = asyncio.run(self.flood_raw(cls, name, n))
                first, last = self.engine_flood_times(name, record["t0"])
            finally:
                self.remove_raw(name)
        if cls is None:
            first, last = self.engine_flood_times(name, record["t0"])
            # when the monitor made the last flood line into a console entry (history `ts`, before publishing)
            record["monitor_last"] = max(
                (e["ts"] for e in console.history(server.pk, limit=1000) if e["data"].startswith(FLOOD)),
                default=None,
            )
        record.update({"series": key, "n": n, "engine_first": first, "engine_last": last})
        record["cpu"] = record.pop("trace").percent(
            first, record["last"]
        )  # first line at the engine → last receipt
        derive_throughput(record)
        return record

    # -- (2) latency --------------------------------------------------------------------------------

    async def latency_run(self, server) -> dict:
        sid, name = str(server.pk), server.container_name
        start = time.time() + 1.0  # lines written from then on count
        ws = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
        readers = [
            ws,
            CliStream("docker-cli", self.docker_url, name, start - 0.5),
            EngineStream("engine-api", self.socket_path, name, start - 0.5),
        ]
        collectors = {}
        for reader in readers:
            await reader.open(self.args.timeout)
            collectors[reader.label] = reader.on_text = TickCollector(start)
        try:
            await ws.subscribe([sid], self.args.timeout)
            want = self.args.latency_lines
            deadline = time.monotonic() + want / 9 + 30
            while min(len(c.latencies) for c in collectors.values()) < want:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            for reader in readers:
                await reader.close()
        return {
            "start": start,
            "errors": {r.label: r.errors for r in readers if r.errors},
            "collectors": collectors,
        }

    def latency(self, server) -> None:
        from servers import console

        print(f"  latency: {self.args.latency_lines} lines at 10/s on 3 readers at once …", flush=True)

        def measure(attempt):
            self.tick([server], True)
            try:
                return asyncio.run(self.latency_run(server))
            finally:
                self.tick([server], False)

        out = self.guarded("the latency run", measure)
        time.sleep(0.5)
        # Where the panel's time goes, line by line: container → engine (its log timestamp) → the monitor
        # made the console entry (history `ts`, just before the Redis write and the publish) → browser.
        engine = self.engine_tick_times(server.container_name, out["start"])
        history = {
            e["data"].rstrip("\n")[len(TICK) :]: e["ts"]
            for e in console.history(server.pk, limit=5000)
            if e["data"].startswith(TICK)
        }
        panel = out["collectors"]["panel"]
        stages = {"container→engine": [], "engine→monitor": [], "monitor→browser": []}
        for text, received in zip(panel.texts, panel.received, strict=True):
            if text in engine and text in history:
                stages["container→engine"].append((engine[text] - float(text)) * 1000)
                stages["engine→monitor"].append((history[text] - engine[text]) * 1000)
                stages["monitor→browser"].append((received - history[text]) * 1000)
        self.results["latency"] = {
            "readers": {k: c.latencies for k, c in out["collectors"].items()},
            "stages": stages,
            "errors": out["errors"],
        }
        for key, values in self.results["latency"]["readers"].items():
            s = summary(values) or {}
            print(f"    {key:10s} n={s.get('n', 0)} p50={fmt(s.get('p50'))} p99={fmt(s.get('p99'))} ms")

    # -- (3) fan-out --------------------------------------------------------------------------------

    async def fanout_run(self, layout: list[tuple], reader_kind: str) -> dict:
        """layout: (server id, container name, clients). Readers connect, then a window is measured."""
        readers: list[tuple[str, Reader]] = []
        for sid, name, count in layout:
            for _ in range(count):
                if reader_kind == "panel":
                    reader = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
                else:
                    reader = EngineStream("engine-api", self.socket_path, name, time.time())
                readers.append((sid, reader))
        try:
            for batch in range(0, len(readers), 20):
                await asyncio.gather(*(r.open(self.args.timeout) for _, r in readers[batch : batch + 20]))
            if reader_kind == "panel":
                await asyncio.gather(*(r.subscribe([sid], self.args.timeout) for sid, r in readers))
            await asyncio.sleep(2.0)  # history replays and connection set-up settle
            start = time.time()
            collectors = []
            for sid, reader in readers:
                reader.on_text = TickCollector(start, start + self.args.window)
                collectors.append((sid, reader.on_text))
            meter, before = self.meters().start(), await asyncio.to_thread(self.counters)
            await asyncio.sleep(self.args.window)
            cpu, after = meter.stop(), await asyncio.to_thread(self.counters)
            await asyncio.sleep(1.0)  # lines written at the window's end arrive
        finally:
            await asyncio.gather(*(r.close() for _, r in readers), return_exceptions=True)
        return {
            "start": start,
            "end": start + self.args.window,
            "cpu": cpu,
            "counters": {k: after[k] - before[k] for k in after},
            "collectors": collectors,
            "errors": sorted({e for _, r in readers for e in r.errors})[:5],
        }

    def fanout(self, label: str, servers: list, per_server: int) -> None:
        from servers import console

        layout = [(str(s.pk), s.container_name, per_server) for s in servers]
        self.tick(servers, True)
        try:
            time.sleep(1.0)
            for kind in ("panel", "engine-api"):
                print(f"  fan-out {label}, {kind}: {self.args.window:g} s window …", flush=True)
                out = self.guarded(
                    f"fan-out {label} ({kind})",
                    lambda attempt, kind=kind: asyncio.run(self.fanout_run(layout, kind)),
                )
                latencies, lost, expected_total, lossy = [], 0, 0, []
                expected = {sid: self.engine_ticks(name, out["start"], out["end"]) for sid, name, _ in layout}
                for sid, collector in out["collectors"]:
                    latencies += collector.latencies
                    missing = max(0, expected[sid] - len(collector.latencies))
                    lost += missing
                    expected_total += expected[sid]
                    if missing:
                        lossy.append({"server": sid, "lost": missing, "received": len(collector.latencies)})
                record = {
                    "scenario": label,
                    "reader": kind,
                    "clients": len(out["collectors"]),
                    "servers": len(servers),
                    "expected": expected_total,
                    "lost": lost,
                    "latency": summary(latencies),
                    "cpu": out["cpu"],
                    "counters": out["counters"],
                    "lines_written": sum(expected.values()),
                    "errors": out["errors"],
                    "lossy_clients": lossy,
                    "window": self.args.window,
                }
                if kind == "panel":  # stage split from the history's `ts` (the monitor's publish time)
                    monitor_lag, delivery = [], []
                    for s in servers:
                        engine = self.engine_tick_times(s.container_name, out["start"])
                        history = {
                            e["data"].rstrip("\n")[len(TICK) :]: e["ts"]
                            for e in console.history(s.pk, limit=5000)
                            if e["data"].startswith(TICK)
                        }
                        for sid, collector in out["collectors"]:
                            if sid != str(s.pk):
                                continue
                            for text, received in zip(collector.texts, collector.received, strict=True):
                                if text in engine and text in history:
                                    monitor_lag.append((history[text] - engine[text]) * 1000)
                                    delivery.append((received - history[text]) * 1000)
                    record["stages"] = {
                        "engine→monitor": summary(monitor_lag),
                        "monitor→browser": summary(delivery),
                    }
                self.results["fanout"].append(record)
                s = record["latency"] or {}
                print(
                    f"    n={s.get('n', 0)} lost={lost}/{expected_total} p50={fmt(s.get('p50'))} "
                    f"p99={fmt(s.get('p99'))} ms; CPU monitor {fmt(out['cpu'].get('monitor'))}% "
                    f"daphne {fmt(out['cpu'].get('daphne'))}% dockerd {fmt(out['cpu'].get('dockerd'))}%",
                    flush=True,
                )
                time.sleep(2.0)
        finally:
            self.tick(servers, False)

    # -- (4) idle -----------------------------------------------------------------------------------

    def idle(self) -> None:
        time.sleep(5.0)  # the last ticks are out
        print(f"  idle: {len(self.servers)} running servers, {self.args.idle:g} s …", flush=True)

        def measure(attempt):
            meter, before = self.meters().start(), self.counters()
            time.sleep(self.args.idle)
            return meter.stop(), before, self.counters()

        cpu, before, after = self.guarded("the idle window", measure)
        status = proc_status(self.processes.pid("monitor"))
        self.results["idle"] = {
            "cpu": cpu,
            "counters": {k: after[k] - before[k] for k in after},
            "rss_mib": status.get("VmRSS", 0) / 1024,
            "threads": status.get("Threads"),
            "servers": len(self.servers),
        }
        print(
            f"    monitor {fmt(cpu.get('monitor'))}% CPU, RSS {fmt(status.get('VmRSS', 0) / 1024)} MiB, "
            f"{status.get('Threads')} threads",
            flush=True,
        )

    # -- where the time goes --------------------------------------------------------------------------

    def costs(self) -> None:
        """The monitor's per-publish and per-line costs, measured in this process with the same code and
        settings: `config.realtime.publish` (one long-lived loop, as the monitor publishes) against
        async_to_sync(group_send) from a plain thread (a new loop, so a new Redis connection, per call);
        the history write of one line; then each per-line step of a flood."""
        import redis
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
        from django.conf import settings

        from config import realtime
        from servers import console

        print("  costs of one publish and of one line …", flush=True)
        layer = get_channel_layer()
        r = redis.Redis.from_url(settings.REDIS_URL)
        group = console.group_name("costs")  # nobody subscribed: a publish costs the sender the same
        message = {"type": "server_log", "serverId": "costs", "stream": "stdout", "data": f"{TICK}1.0\n"}
        calls = 300

        def measure(label, call):
            """Wall and process CPU (every thread) per call, new Redis connections per call."""
            walls, cpu = [], 0.0
            conns = r.info("stats")["total_connections_received"]
            for _ in range(calls):
                c0, t0 = time.process_time(), time.perf_counter()
                call()
                walls.append((time.perf_counter() - t0) * 1000)
                cpu += time.process_time() - c0
            conns = r.info("stats")["total_connections_received"] - conns
            self.results["costs"][label] = {
                "wall_ms": summary(walls),
                "cpu_ms": cpu * 1000 / calls,
                "connections": conns / calls,
            }

        def in_a_thread(label, call):
            worker = threading.Thread(target=measure, args=(label, call))
            worker.start()
            worker.join(180)

        def run_all(attempt):
            in_a_thread(
                "publish as the monitor does: config.realtime.publish from a thread",
                lambda: realtime.publish(group, message),
            )
            in_a_thread(
                "for comparison: async_to_sync(group_send) from a thread",
                lambda: async_to_sync(layer.group_send)(group, message),
            )
            _, entries = console._entries("stdout", [f"{TICK}1.0\n"])
            measure(
                "history write: console.record (RPUSH+LTRIM pipeline)",
                lambda: console.record("costs", entries),
            )
            self.line_costs(console)

        self.guarded("the cost measurements", run_all)
        r.delete(console.history_key("costs"))
        r.close()

    def line_costs(self, console) -> None:
        """Per flood line, each step the monitor takes (nodes/client.py, nodes/monitor.py,
        servers/console.py) on the log of a container that flooded, single-threaded."""
        from nodes.client import _demultiplex
        from nodes.output import Throttle, cut

        costs = self.results["costs"]

        def step(label, work):
            c0 = time.process_time()
            result, count = work()
            costs[f"per flood line: {label}"] = {"cpu_us": (time.process_time() - c0) * 1e6 / max(count, 1)}
            return result

        per_phase = self.args.rounds + SPARES
        flooded = self.servers[per_phase].container_name if "throughput" in self.args.phases else None
        if flooded:

            def read():
                response = self.api._get(
                    self.api._url("/containers/{0}/logs", flooded),
                    params={"stdout": 1, "stderr": 1},
                    stream=True,
                )
                frames = [frame for batch in _demultiplex(response) for frame in batch]
                return frames, len(frames)

            frames = step("engine log stream cut into frames (nodes.client, the reader thread)", read)
        else:
            frames = [(1, f"{FLOOD}{i} {'x' * 78}\n".encode()) for i in range(40_000)]

        def split():
            partial, out = {1: "", 2: ""}, []
            for kind, payload in frames:
                *complete, partial[kind] = (partial[kind] + payload.decode(errors="replace")).split("\n")
                out.extend(("stdout", text) for text in complete)
            return out, len(out)

        lines = [
            line
            for line in step("decode + split into lines (reader thread)", split)
            if line[1].startswith(FLOOD)
        ]
        throttle = Throttle()
        step(
            "Throttle.admit + cut + rstrip (follower)",
            lambda: ([cut(text.rstrip("\r")) for _, text in throttle.admit(lines)[0]], len(lines)),
        )
        batch = [text for _, text in lines[:2000]]
        step(
            "of which: console._entries, the history JSON (write_lines)",
            lambda: (console._entries("stdout", batch), len(batch)),
        )
        step(
            "write_lines of a 2,000-line batch: entries, history write, messages",
            lambda: (console.write_lines("costs", "stdout", batch), len(batch)),
        )

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> None:
        self.check_environment()
        if self.args.servers < 2 * (self.args.rounds + SPARES) + 1:
            raise Aborted(f"--servers must be at least 2 x (--rounds + {SPARES}) + 1.")
        Leftovers.clean_previous(
            LEFTOVERS,
            data_dirs=[self.data_dir],
            sockets=[self.docker_url],
            raw_label=f"{SUITE_LABEL}={SUITE}",
        )
        print(f"Logs and raw data: {self.logdir.relative_to(ROOT)}/", flush=True)
        migrate_and_setup_django(self.logdir)
        self.connect()
        import websockets

        self.machine = machine_info([self.docker_url], websockets=websockets.__version__)
        self.dockerd_pid = dockerd_pid(self.socket_path)
        redis_port = str(urlsplit(env("REDIS_URL")).port or 6379).encode()
        self.redis_pid = find_pid(lambda a: b"redis-server" in a[0] and redis_port in b" ".join(a))
        print(f"Setting up {self.args.servers} servers …", flush=True)
        self.seed()
        self.start_processes()
        self.install()
        self.login()
        self.prepare_raw()
        per_phase = self.args.rounds + SPARES  # every panel flood on a fresh server; spares for repeats
        raised, default, latency_server = (
            self.servers[:per_phase],
            self.servers[per_phase : 2 * per_phase],
            self.servers[2 * per_phase],
        )
        self.watch.start()
        self.load_before = Path("/proc/loadavg").read_text().split()[:3]
        started = time.monotonic()
        phases = self.args.phases
        if "throughput" in phases:
            print(f"(1) throughput, throttle raised to {self.args.raised_throttle} lines/100 ms", flush=True)
            self.power(raised, "start")
            self.throughput("raised", raised)
            self.power(raised, "stop")  # not followed again by the restarted monitor (no replay)
        self.start_monitor(None)
        print(f"(1) throughput, default throttle ({self.throttle} lines/100 ms)", flush=True)
        self.power([*default, latency_server], "start")
        if "throughput" in phases:
            self.throughput("default", default)
        if "latency" in phases:
            print("(2) latency", flush=True)
            self.latency(latency_server)
        if {"fanout", "idle"} & set(phases):
            print(f"Starting all {len(self.servers)} servers …", flush=True)
            self.power(self.servers, "start")
        if "fanout" in phases:
            print("(3) fan-out", flush=True)
            self.fanout(f"{self.args.clients} clients x 1 server", [latency_server], self.args.clients)
            self.fanout(
                f"{self.args.per_server} clients x {len(self.servers)} servers",
                self.servers,
                self.args.per_server,
            )
        if "idle" in phases:
            print("(4) idle", flush=True)
            self.idle()
        if "costs" in phases:
            self.costs()
        self.duration = time.monotonic() - started
        self.load_after = Path("/proc/loadavg").read_text().split()[:3]

    def cleanup(self) -> None:
        """Stop the processes; remove every container and directory this run made (the panel's servers
        through the panel's own runtime.destroy). hearth_bench is left for inspection."""
        self.watch.stopping.set()
        with contextlib.suppress(Exception):
            self.tick(self.servers, False)
        self.processes.stop()
        with contextlib.suppress(Exception):
            import docker

            from nodes.client import client_for
            from servers import runtime

            for server in self.servers:
                with contextlib.suppress(Exception):
                    runtime.destroy(client_for(server.node), server)
            client = docker.DockerClient(base_url=self.docker_url)
            for container in client.containers.list(all=True, filters={"label": f"{SUITE_LABEL}={SUITE}"}):
                container.remove(force=True)
            client.close()
            if self.raw_dir.startswith(self.data_dir.rstrip("/") + "/servers/"):
                shutil.rmtree(self.raw_dir, ignore_errors=True)
        if self.api is not None:
            with contextlib.suppress(Exception):
                self.api.close()
        self.leftovers.done()


def vars_of(counter: FloodCounter) -> dict:
    keys = ("lines", "bytes", "frames", "first", "last", "done", "notice", "batches")
    return {k: getattr(counter, k) for k in keys}


def derive_throughput(r: dict) -> None:
    """Rates over the time from the flood's first line at the engine to its last line at the reader
    (the same clock), so a reader that starts late or lags behind pays for it."""
    if r["engine_first"] and r["last"]:
        span = r["last"] - r["engine_first"]
        r["span"] = span
        r["rate_lines"] = r["lines"] / span if span > 0 else None
        r["rate_mb"] = r["bytes"] / span / 1e6 if span > 0 else None
    if r["engine_first"] and r["engine_last"] and r["engine_last"] > r["engine_first"]:
        r["producer_rate"] = r["n"] / (r["engine_last"] - r["engine_first"])
    if r["engine_last"] and r["last"]:
        r["tail_ms"] = (r["last"] - r["engine_last"]) * 1000
    if r["engine_first"] and r["first"]:
        r["first_ms"] = (r["first"] - r["engine_first"]) * 1000
    if r.get("monitor_last") and r["engine_last"]:
        r["monitor_tail_ms"] = (r["monitor_last"] - r["engine_last"]) * 1000


def dockerd_pid(socket_path: str) -> int | None:
    """The engine's dockerd: its --host is the socket (or none given, for the default socket)."""
    target = socket_path.encode()

    def match(argv):
        if not argv[0].endswith(b"dockerd"):
            return False
        hosts = [a for a in argv if b"unix://" in a]
        return any(target in a for a in hosts) or (not hosts and target == b"/var/run/docker.sock")

    return find_pid(match)


PHASES = ["throughput", "latency", "fanout", "idle", "costs"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers",
        type=int,
        default=50,
        help="game servers (fan-out, idle; the first 2 x (rounds + 2) + 1 also for (1) and (2)); 7-80",
    )
    parser.add_argument("--flood-lines", type=int, default=40_000, help="lines per flood (1000-60000)")
    parser.add_argument("--rounds", type=int, default=5, help="floods per throttle setting and reader (1-10)")
    parser.add_argument(
        "--raised-throttle", type=int, default=1_000_000, help="lines/100 ms for the raised run"
    )
    parser.add_argument("--latency-lines", type=int, default=400, help="lines for (2) (100-3000)")
    parser.add_argument("--clients", type=int, default=100, help="clients on one server in (3) (1-500)")
    parser.add_argument("--per-server", type=int, default=2, help="clients per server in (3) (1-10)")
    parser.add_argument("--window", type=float, default=30.0, help="fan-out window, seconds (5-300)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds (10-600)")
    parser.add_argument("--timeout", type=float, default=60.0, help="limit for each wait, seconds")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=PHASES)
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    checks = [
        7 <= args.servers <= 80,
        1000 <= args.flood_lines <= 60_000,
        1 <= args.rounds <= 10,
        100 <= args.latency_lines <= 3000,
        1 <= args.clients <= 500,
        1 <= args.per_server <= 10,
        5 <= args.window <= 300,
        10 <= args.idle <= 600,
        5 <= args.timeout <= 600,
        args.raised_throttle >= 1,
    ]
    if not all(checks):
        parser.error("an option is out of range; see --help")

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
        raw = dump(bench)
    if status:
        return status
    text = report(bench)
    print()
    print(text)
    if not args.no_results:
        write_results(text)
        print(f"Appended to {RESULTS.relative_to(ROOT)}; everything measured is in {raw.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
