"""bench/console: the live console, container output → WebSocket client, against `docker logs -f`.

    make bench-console                                   # the whole benchmark (about 10 minutes)
    make bench-console ARGS="--servers 10 --rounds 1 --window 10 --idle 20 --no-results"

It runs the real panel (the web process, a Celery worker, `manage.py monitor`) on its own database, with one
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
   servers; p50/p99 latency over every client, and the CPU of the monitor, the web process, Redis and dockerd.
   Baseline: as many concurrent Engine API log streams on the same containers (same shape).
4. **Idle**: the monitor's CPU and RSS with every server running and silent.

Results are printed, appended to bench/RESULTS.md, and kept in full in bench/out/console-<time>/.
See bench/README.md.
"""

import argparse
import contextlib
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench import adapter  # noqa: E402 - once ROOT is on the path
from bench.console.commands import Commands  # noqa: E402
from bench.console.common import LEFTOVERS, SPARES, SUITE, SUITE_LABEL  # noqa: E402
from bench.console.costs import Costs  # noqa: E402
from bench.console.fanout import Fanout  # noqa: E402
from bench.console.flood import Throughput  # noqa: E402
from bench.console.guard import Guarded  # noqa: E402
from bench.console.idle import Idle  # noqa: E402
from bench.console.latency import Latency  # noqa: E402
from bench.console.measure import LoadWatch, dockerd_pid, find_pid  # noqa: E402
from bench.console.raw import RawContainers  # noqa: E402
from bench.console.report import measured, report  # noqa: E402
from bench.console.setup import Setup  # noqa: E402
from bench.harness import (  # noqa: E402
    OUT,
    Aborted,
    Leftovers,
    Processes,
    env,
    machine_info,
    migrate_and_setup_django,
    run_bench,
)


class Bench(Setup, RawContainers, Guarded, Throughput, Latency, Commands, Fanout, Idle, Costs):
    """One run: setup (setup.py, raw.py), then the scenarios (flood.py, latency.py, fanout.py, idle.py,
    costs.py), each measured while the machine is quiet (guard.py); report.py writes the section."""

    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"console-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.results: dict = {
            "throughput": [],
            "latency": {},
            "commands": {},
            "fanout": [],
            "idle": {},
            "ticking": {},
            "costs": {},
        }
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
        if "commands" in phases:
            print("(2b) command round trip", flush=True)
            self.commands(latency_server)
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

            for server in self.servers:
                with contextlib.suppress(Exception):
                    adapter.server_destroy(server)
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


PHASES = ["throughput", "latency", "commands", "fanout", "idle", "costs"]


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
    parser.add_argument("--commands", type=int, default=200, help="command round trips in (2b) (20-2000)")
    parser.add_argument("--clients", type=int, default=100, help="clients on one server in (3) (1-500)")
    parser.add_argument("--per-server", type=int, default=2, help="clients per server in (3) (1-10)")
    parser.add_argument("--window", type=float, default=30.0, help="fan-out window, seconds (5-300)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds (10-600)")
    parser.add_argument("--timeout", type=float, default=60.0, help="limit for each wait, seconds")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=PHASES)
    parser.add_argument(
        "--sample-monitor", action="store_true", help="sample the monitor's stacks (bench/sampled.py)"
    )
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    checks = [
        7 <= args.servers <= 80,
        1000 <= args.flood_lines <= 60_000,
        1 <= args.rounds <= 10,
        100 <= args.latency_lines <= 3000,
        20 <= args.commands <= 2000,
        1 <= args.clients <= 500,
        1 <= args.per_server <= 10,
        5 <= args.window <= 300,
        10 <= args.idle <= 600,
        5 <= args.timeout <= 600,
        args.raised_throttle >= 1,
    ]
    if not all(checks):
        parser.error("an option is out of range; see --help")

    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "results.json",
        measured=lambda: measured(bench),
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
