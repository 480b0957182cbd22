"""bench/schedule: how late a scheduled task starts — from the cron slot to its first step's start —
with the real beat (the Procfile's scheduler), worker and monitor, on the benchmark's own database.

    make bench-schedule                               # 20 tasks due together, every minute for 5 minutes
    make bench-schedule ARGS="--quick --no-results"   # one minute: a development run

Setup: a Test Game server on the local node (engine 1 over unix://) installed and started by the
worker; `--tasks` tasks on it, each `* * * * *` with one step, a console command (`say …`), made through
the panel's service. Then beat starts and every minute all of them are due at once. For every firing
the run records the slot (`scheduledFor`), when beat sent the message (`firedAt`) and when the first
step began (its `startedAt`, just before the command service is called), all on this machine's clock.
The delay is split into beat's part (slot → sent) and the worker's (sent → step started). Missing
firings (a slot without a run) are counted. Results are printed and appended to bench/RESULTS.md.
"""

import argparse
import contextlib
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import adapter  # noqa: E402 - once ROOT is on the path
from bench.harness import (  # noqa: E402
    OUT,
    VENV_BIN,
    Aborted,
    Leftovers,
    Processes,
    check_bench_services,
    env,
    machine_info,
    migrate_and_setup_django,
    port_is_free,
    run_bench,
    summary,
    wait_until,
)

LEFTOVERS = OUT / ".schedule-leftovers.json"
PORTS = "30700-30709"  # below the ephemeral range, not used by the tests or the other benchmarks


def procfile_argv(name: str) -> list[str]:
    """A process exactly as the Procfile starts it."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith(f"{name}:"))
    argv = shlex.split(line.removeprefix(f"{name}:"))
    return [str(VENV_BIN / Path(argv[0]).name), *argv[1:]]


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"schedule-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.server = None
        self.tasks = []
        self.runs: list[dict] = []
        self.slots: list[datetime] = []
        self.machine: dict = {}
        self.load = []

    def run(self) -> None:
        check_bench_services()
        engine = env("HEARTH_TEST_DOCKER1_URL")
        Leftovers.clean_previous(
            LEFTOVERS,
            data_dirs=[env("HEARTH_TEST_NODE1_DATA_DIR")],
            sockets=[engine],
            raw_label="hearth.bench.schedule",
        )
        if not port_is_free(int(PORTS.split("-")[0])):
            raise Aborted(f"Port {PORTS.split('-')[0]} on 127.0.0.1 is in use; the benchmark needs it.")
        print(f"Logs: {self.logdir.relative_to(ROOT)}/", flush=True)
        migrate_and_setup_django(self.logdir)
        self.machine = machine_info([engine])
        self.seed(engine)
        self.processes.start("worker", procfile_argv("worker"))
        self.processes.start("monitor", procfile_argv("monitor"))
        self.start_server()
        for n in range(self.args.tasks):
            step = {"action": "command", "payload": {"command": f"say bench task {n + 1}"}}
            self.tasks.append(
                adapter.task_create(
                    self.server, self.admin, name=f"bench {n + 1}", schedule="* * * * *", steps=[step]
                )
            )
        self.processes.start("beat", procfile_argv("beat"))
        wait_until("beat's first tick", self.beat_ticked, 60)
        # The first slot a full minute ahead of beat's start at least 10 s away: beat has loaded the tasks.
        first = (int(time.time()) // 60 + 1) * 60
        if first - time.time() < 10:
            first += 60
        self.slots = [datetime.fromtimestamp(first + 60 * m, UTC) for m in range(self.args.minutes)]
        self.load.append(Path("/proc/loadavg").read_text().split()[:3])
        print(
            f"{self.args.tasks} tasks, slots {self.slots[0]:%H:%M} to {self.slots[-1]:%H:%M} UTC …",
            flush=True,
        )
        deadline = first + 60 * (self.args.minutes - 1) + self.args.settle
        while time.time() < deadline:
            self.processes.check()
            time.sleep(1)
        self.load.append(Path("/proc/loadavg").read_text().split()[:3])
        self.runs = [
            r for r in adapter.scheduled_runs(t.pk for t in self.tasks) if r["scheduled_for"] in self.slots
        ]

    def beat_ticked(self):
        self.processes.check()
        return adapter.beat_last_tick()

    def seed(self, engine: str) -> None:
        self.admin, _, template = adapter.seed_panel()
        node = adapter.node_online(
            ports=PORTS,
            name="bench-local",
            location=adapter.location_create("bench"),
            docker_url=engine,
            hostname="127.0.0.1",
            public_address="127.0.0.1",
            data_dir=env("HEARTH_TEST_NODE1_DATA_DIR"),
            max_memory_mb=4096,
            max_cpu_cores=2,
        )
        self.server = adapter.server_create(
            actor=self.admin,
            template=template,
            name="bench-schedule",
            node=node,
            allocated_memory_mb=256,
            allocated_cpu_cores=1,
            allocated_disk_mb=1024,
        )
        self.leftovers.container(engine, self.server.container_name)
        self.leftovers.container(engine, f"hearth-install-{self.server.pk}")
        self.leftovers.directory(f"{env('HEARTH_TEST_NODE1_DATA_DIR').rstrip('/')}/servers/{self.server.pk}")

    def start_server(self) -> None:
        Server = adapter.server_model()
        adapter.server_install(self.server, self.admin)

        def status_is(*wanted):
            def check():
                self.processes.check()
                server = Server.objects.get(pk=self.server.pk)
                if server.status in (Server.Status.INSTALL_FAILED, Server.Status.CRASHED):
                    raise Aborted(f"The server is {server.status}: {server.status_reason}")
                return server if server.status in wanted else None

            return check

        self.server = wait_until("the install", status_is(Server.Status.STOPPED), 600, 0.5)
        adapter.server_start(self.server, self.admin)
        self.server = wait_until("the server to run", status_is(Server.Status.RUNNING), 120, 0.5)

    def cleanup(self) -> None:
        self.processes.stop()
        if self.server is not None:
            with contextlib.suppress(Exception):
                adapter.server_destroy(self.server)
        self.leftovers.done()


def seconds(later, earlier) -> float:
    return (later - earlier).total_seconds()


def report(bench: Bench) -> str:
    a, m = bench.args, bench.machine
    expected = a.tasks * len(bench.slots)
    measured = [r for r in bench.runs if r["first_step"] and r["first_step"]["startedAt"]]
    starts = [datetime.fromisoformat(r["first_step"]["startedAt"]) for r in measured]
    total = [seconds(s, r["scheduled_for"]) for s, r in zip(starts, measured, strict=True)]
    beat = [seconds(r["fired_at"], r["scheduled_for"]) for r in measured if r["fired_at"]]
    worker = [seconds(s, r["fired_at"]) for s, r in zip(starts, measured, strict=True) if r["fired_at"]]
    other = [r for r in bench.runs if r["trigger"] != "scheduled" or r["status"] == "skipped"]
    title = "schedule (development run, --quick)" if a.quick else "schedule"
    lines = [
        f"## {title} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', 'bench/schedule/run.py')}`",
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['kernel']}; Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}, Redis {m['redis']}",
        f"- **Engine:** {'; '.join(m['engines'])}",
        f"- **Code:** {m['commit']}",
        f"- **Load:** {a.tasks} tasks (`* * * * *`, one `command` step each) on one running Test Game server, due "
        f"together every minute for {len(bench.slots)} minute(s): {expected} firings expected, {len(measured)} "
        f"measured, {expected - len(bench.runs)} missing, {len(other)} not run as scheduled; the Procfile's worker "
        f"(`{' '.join(procfile_argv('worker')[1:])}`), beat and monitor",
        f"- **Load average** (1/5/15 min) at the first slot: {' '.join(bench.load[0])}, after the last: "
        f"{' '.join(bench.load[-1])}",
        "",
        "Seconds from the cron slot to the first step's start (target: p99 under 1 s), and its two parts: "
        "beat's (slot → message sent, `firedAt`) and the worker's (sent → step started).",
        "",
        "| stage | n | p50 | p90 | p99 | max | mean |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in (
        ("slot → first step (total)", total),
        ("slot → beat sent", beat),
        ("sent → step started", worker),
    ):
        s = summary(values)
        if s:
            lines.append(
                f"| {name} | {s['n']} | {s['p50']:.3f} | {s['p90']:.3f} | {s['p99']:.3f} | {s['max']:.3f} | {s['mean']:.3f} |"
            )
    s = summary(total)
    verdict = "met" if s and s["p99"] < 1 and len(measured) == expected else "**NOT met**"
    lines += [
        "",
        f"**Target** (issue 13): p99 < 1 s over all {expected} firings — {verdict}"
        + (f" (p99 {s['p99']:.3f} s)" if s else ""),
    ]
    return "\n".join(lines) + "\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one minute (a development run)")
    parser.add_argument("--tasks", type=int, default=20, help="tasks due together (20)")
    parser.add_argument("--minutes", type=int, help="minutes of firings (5; --quick 1)")
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds after the last slot before collecting"
    )
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    args.minutes = args.minutes or (1 if args.quick else 5)
    if not (1 <= args.tasks <= 25 and 1 <= args.minutes <= 60):
        parser.error("--tasks 1-25 (a server's limit), --minutes 1-60")
    return args


def main() -> int:
    args = parse_args()
    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "runs.json",
        measured=lambda: {"args": vars(args), "runs": bench.runs},
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
