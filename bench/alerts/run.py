"""bench/alerts: what alert rules cost to evaluate on a recorded metric history, and how fast the real
worker delivers alert webhooks, on the benchmark's own database.

    make bench-alerts                                   # 500 and 2,000 servers, 5 rounds; 200 webhooks
    make bench-alerts ARGS="--servers 20 --rounds 1 --alerts 20 --no-results"   # a development run

1. Evaluation: `--servers` (500 2000) running server rows bulk-created on a node row that is never
   contacted, each with `--points` (15) metric points a minute apart, and five rules (cpu > 80 %, cpu >
   95 %, memory > 90 % for 5 min, disk > 90 % on `*` servers, node cpu > 90 %) whose webhook points at the
   receiver. `evaluate_rules()` is timed (and its statements counted) in four states: nothing holds;
   `--hot-percent` (25) of the servers hold for the first time (alerts opened, deliveries created and
   queued); the same still hold (repeats); they clear (resolved). Baseline: one raw SELECT of every
   server's points in the window evaluation reads.
2. Delivery: the Procfile's worker sends `--alerts` (200) alerts' signed JSON webhooks, raised together
   through alerts.services.raise_alert, to the receiver stand-in (its own process); then `--paced` (50)
   alerts at `--rate` (10) a second. Alert created → received at the receiver, deliveries per second.
   Baseline: the same bodies signed and POSTed with urllib3 from this process, one after the other.
"""

import argparse
import base64
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import adapter  # noqa: E402 - once ROOT is on the path
from bench.alerts.deliver import Delivery  # noqa: E402
from bench.alerts.evaluate import Evaluation  # noqa: E402
from bench.alerts.report import report  # noqa: E402
from bench.harness import (  # noqa: E402
    OUT,
    VENV_BIN,
    Leftovers,
    Processes,
    check_bench_services,
    machine_info,
    migrate_and_setup_django,
    run_bench,
)

LEFTOVERS = OUT / ".alerts-leftovers.json"
DEFAULT_SIZES = [500, 2000]


def procfile_argv(name: str) -> list[str]:
    """A process exactly as the Procfile starts it."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith(f"{name}:"))
    argv = shlex.split(line.removeprefix(f"{name}:"))
    return [str(VENV_BIN / Path(argv[0]).name), *argv[1:]]


class Bench(Evaluation, Delivery):
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"alerts-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.machine: dict = {}
        self.evaluation: list[dict] = []
        self.delivery: dict = {}
        self.load: list = []
        self.worker_cmd = procfile_argv("worker")

    def run(self) -> None:
        a = self.args
        check_bench_services()
        if LEFTOVERS.exists():  # processes only: this benchmark makes no container or directory
            Leftovers.clean_previous(LEFTOVERS, data_dirs=[], sockets=[], raw_label="hearth.bench.alerts")
        print(f"Logs: {self.logdir.relative_to(ROOT)}/", flush=True)
        migrate_and_setup_django(self.logdir)
        self.machine = machine_info([])
        self.admin, _, self.template = adapter.seed_panel()
        url = self.receiver_start()
        self.load.append(Path("/proc/loadavg").read_text().split()[:3])
        if not a.skip_evaluation:
            print("Evaluation …", flush=True)
            self.evaluation_setup_rules(url)
            node = None
            for size in a.servers:
                result, node = self.evaluation_size(size, node)
                self.evaluation.append(result)
            adapter.alert_rules_disable()
            adapter.alerts_forget()
        purged = adapter.celery_purge()  # evaluation's queued deliveries: never sent
        self.delivery["purged"] = purged
        print(f"Delivery ({purged} queued messages of the evaluation dropped) …", flush=True)
        self.worker_start(self.worker_cmd)
        rule = self.delivery_rule(url)
        self.send_alerts(rule, "warmup", 5, None)
        self.delivery["burst"] = self.send_alerts(rule, "burst", a.alerts, None)
        if a.paced:
            self.delivery["paced"] = self.send_alerts(rule, "paced", a.paced, a.rate)
        bodies = [base64.b64decode(r["body"]) for r in self.delivery["burst"]["records"]]
        self.direct_posts(rule, bodies[:5])  # warm-up
        self.delivery["direct"] = self.direct_posts(rule, bodies)
        self.load.append(Path("/proc/loadavg").read_text().split()[:3])

    def cleanup(self) -> None:
        self.processes.stop()
        self.leftovers.done()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, nargs="+", default=DEFAULT_SIZES, help="sizes (500 2000)")
    parser.add_argument("--points", type=int, default=15, help="metric points per server, a minute apart")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per size (+1 warm-up)")
    parser.add_argument("--hot-percent", type=int, default=25, help="servers that hold (25)")
    parser.add_argument("--alerts", type=int, default=200, help="webhooks raised together (200)")
    parser.add_argument("--paced", type=int, default=50, help="webhooks raised at --rate (50; 0: none)")
    parser.add_argument("--rate", type=float, default=10.0, help="paced alerts a second (10)")
    parser.add_argument("--skip-evaluation", action="store_true", help="part 2 only")
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    if not (
        all(1 <= s <= 20000 for s in args.servers) and 12 <= args.points <= 60 and 1 <= args.rounds <= 50
    ):
        parser.error("--servers 1-20000, --points 12-60 (the window is about 9 minutes), --rounds 1-50")
    if not (1 <= args.hot_percent <= 100 and 1 <= args.alerts <= 5000 and 0 <= args.paced <= 1000):
        parser.error("--hot-percent 1-100, --alerts 1-5000, --paced 0-1000")
    args.development = (
        args.servers != DEFAULT_SIZES or args.alerts < 200 or args.rounds < 5 or args.skip_evaluation
    )
    return args


def main() -> int:
    args = parse_args()
    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "measured.json",
        measured=lambda: {"args": vars(args), "evaluation": bench.evaluation, "delivery": bench.delivery},
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
