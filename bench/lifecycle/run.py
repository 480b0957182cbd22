"""bench/lifecycle: how long the panel takes to start and stop a game server, against raw Docker.

    make bench-lifecycle                       # 20 measured rounds per node (+2 warm-up rounds)
    make bench-lifecycle ARGS="--rounds 5"

For the local node (engine 1 over unix://) and the SSH node (engine 2 over ssh://127.0.0.1:2202) it
runs the real panel (the web process, a Celery worker, the monitor) on its own database and measures

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
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench import adapter  # noqa: E402 - once ROOT is on the path
from bench.harness import (  # noqa: E402
    OUT,
    Leftovers,
    Processes,
    env,
    machine_info,
    migrate_and_setup_django,
    run_bench,
)
from bench.lifecycle.common import BENCH_LABEL, LEFTOVERS, Target, test_runs  # noqa: E402
from bench.lifecycle.observe import StatusPoller  # noqa: E402
from bench.lifecycle.panel import PanelCycles  # noqa: E402
from bench.lifecycle.raw import RawBaselines  # noqa: E402
from bench.lifecycle.report import report  # noqa: E402
from bench.lifecycle.setup import Setup  # noqa: E402


class Bench(Setup, PanelCycles, RawBaselines):
    """One run: setup (setup.py), then rounds interleaving the panel series (panel.py) and the raw
    series (raw.py) on each target; report.py turns the records into the RESULTS.md section."""

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

            for t in self.targets:
                if t.server is not None:
                    with contextlib.suppress(Exception):
                        adapter.server_destroy(t.server)  # the panel's own removal
                client = docker.DockerClient(base_url=t.engine_socket)
                with contextlib.suppress(docker.errors.NotFound):
                    client.containers.get(t.raw_name or "-").remove(force=True)
                client.close()
                if t.raw_dir and t.server is not None:
                    with contextlib.suppress(Exception):
                        adapter.node_run(t.server.node, ["rm", "-rf", "--one-file-system", t.raw_dir])
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.leftovers.done()


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

    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "rounds.json",
        measured=lambda: {"args": vars(args), "machine": bench.machine, "records": bench.records},
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
