"""bench/api: the list endpoints with 10,000 servers, 1,000 users and 20 nodes, on PostgreSQL, against a
bare SELECT of the same page through psycopg, in the same run.

    make bench-api                                         # the issue's data set and windows
    make bench-api ARGS="--servers 2000 --seconds 5 --no-results"   # a development run (labelled)

Setup: the data set bulk-seeded on the benchmark's own database (bench/adapter_api.py): customers
owning the servers round-robin across the nodes, each server with its allocation, memberships, and
audit rows over 30 days. Then the web process as the Procfile starts it, with as many processes as
the machine has cores (uvicorn's WEB_CONCURRENCY). For each list (a customer's own servers, the admin
server list at random pages, the node list, the audit log at random pages):

1. **Capacity**: `--clients` clients in closed loops for `--seconds`: requests per second at saturation.
2. **Latency at a fixed arrival rate** of `--load` (half) of that capacity, for `--seconds`: requests
   are sent on a fixed schedule whatever the answers, and each one's latency runs from its scheduled
   time (no coordinated omission); p50/p95/p99.
3. **The raw baseline**: the same pages' SQL (built by the API's own query, before serialization) run
   through psycopg at the same rate and measured the same way.
Results are printed and appended to bench/RESULTS.md.
"""

import argparse
import os
import queue
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import adapter  # noqa: E402 - once ROOT is on the path
from bench.harness import (  # noqa: E402
    BENCH_EMAIL,
    OUT,
    Aborted,
    Leftovers,
    Processes,
    check_bench_services,
    env,
    free_port,
    machine_info,
    migrate_and_setup_django,
    percentile,
    run_bench,
    wait_until,
    web_argv,
)

LEFTOVERS = OUT / ".api-leftovers.json"
ISSUE_SIZE = {"servers": 10_000, "users": 1_000, "nodes": 20, "audit": 50_000}
LISTS = [  # (key, label, who, path with {page}, pages to pick from)
    ("servers", "a customer's own servers", "customer", "/api/servers?page=1&limit=20"),
    ("admin-servers", "admin server list", "admin", "/api/admin/servers?page={page}&limit=20"),
    ("nodes", "node list", "admin", "/api/nodes"),
    ("audit", "audit log", "admin", "/api/admin/audit-logs?page={page}&limit=20"),
]


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"api-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.results: dict = {}
        self.machine: dict = {}
        self.data: dict = {}

    def run(self) -> None:
        check_bench_services()
        Leftovers.clean_previous(LEFTOVERS, data_dirs=[], sockets=[], raw_label="hearth.bench.api")
        print(f"Logs: {self.logdir.relative_to(ROOT)}/", flush=True)
        migrate_and_setup_django(self.logdir)
        self.machine = machine_info([])
        a = self.args
        print(
            f"Seeding {a.servers} servers, {a.users} users, {a.nodes} nodes, {a.audit} audit rows …",
            flush=True,
        )
        started = time.monotonic()
        admin, self.password, game = adapter.seed_panel()
        self.data = adapter.api_seed(
            admin,
            game,
            servers=a.servers,
            users=a.users,
            nodes=a.nodes,
            audit=a.audit,
            members=a.servers // 5,
        )
        self.data["seed_seconds"] = time.monotonic() - started
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        # The per-person rate limit raised (its check still runs), or a customer's capacity is the limit.
        limits = {"HEARTH_RATE_LIMIT_DEFAULT": "100000000"}
        self.processes.start("web", web_argv(port), {"WEB_CONCURRENCY": str(a.web_processes), **limits})
        wait_until("the web process", self.answers, 60)
        tokens = {
            "admin": self.login(BENCH_EMAIL, self.password),
            "customer": self.login(self.data["customer"], self.data["customer_password"]),
        }
        for key, label, who, path in LISTS:
            self.results[key] = self.measure(key, label, path, {"Authorization": f"Bearer {tokens[who]}"})

    def measure(self, key: str, label: str, path: str, headers: dict) -> dict:
        """Capacity, then the panel and the bare SELECT at half of it, on the same random pages."""
        a = self.args
        last = max(1, {"admin-servers": a.servers, "audit": a.audit}.get(key, 20) // 20)
        pages = [random.randint(1, last) if "{page}" in path else 1 for _ in range(2000)]  # noqa: S311
        urls = [self.base + path.format(page=page) for page in pages]
        sqls = [
            adapter.api_page_sql(key, user_email=self.data["customer"], page=page, limit=20)
            for page in pages[:50]
        ]
        print(f"  {label}: capacity …", flush=True)
        capacity = closed_loop(urls, headers, clients=a.clients, seconds=a.seconds)
        rate = max(1.0, capacity["rate"] * a.load)
        print(f"  {label}: {capacity['rate']:.0f} requests/s at saturation; {rate:.0f}/s fixed …", flush=True)
        return {
            "label": label,
            "capacity": capacity,
            "rate": rate,
            "panel": open_loop(lambda i, s: http_get(s, urls[i % len(urls)], headers), rate, a.seconds),
            "raw": open_loop(
                lambda i, s: sql_page(s, sqls[i % len(sqls)]), rate, a.seconds, session=sql_session
            ),
        }

    def answers(self) -> bool:
        import requests

        self.processes.check()
        try:
            return requests.get(f"{self.base}/api/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def login(self, email: str, password: str) -> str:
        import requests

        response = requests.post(
            f"{self.base}/api/auth/login", json={"email": email, "password": password}, timeout=30
        )
        if response.status_code != 200:
            raise Aborted(f"login as {email}: {response.status_code} {response.text[:200]}")
        return response.json()["data"]["token"]

    def cleanup(self) -> None:
        self.processes.stop()
        self.leftovers.done()


def http_session():
    import requests

    return requests.Session()


def sql_session():
    import psycopg

    return psycopg.connect(env("DATABASE_URL"), autocommit=True)


def http_get(session, url: str, headers: dict) -> bool:
    response = session.get(url, headers=headers, timeout=60)
    response.content  # noqa: B018 - the whole body, as a client reads it
    return response.status_code == 200


def sql_page(connection, sql_params) -> bool:
    sql, params = sql_params
    connection.execute(sql, params).fetchall()
    return True


def closed_loop(urls: list[str], headers: dict, *, clients: int, seconds: float) -> dict:
    """`clients` threads, each sending the next request as soon as the last one is answered."""
    done, errors, stop = [0] * clients, [0] * clients, time.monotonic() + seconds

    def client(n):
        session = http_session()
        i = n
        while time.monotonic() < stop:
            try:
                ok = http_get(session, urls[i % len(urls)], headers)
            except Exception:
                ok = False
            done[n] += ok
            errors[n] += not ok
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    span = time.monotonic() - started
    return {"rate": sum(done) / span, "requests": sum(done), "errors": sum(errors), "clients": clients}


def open_loop(call, rate: float, seconds: float, *, session=http_session, workers: int = 32) -> dict:
    """Requests on a fixed schedule (`rate` per second for `seconds`), each timed from its scheduled
    time, so a slow answer delays none of the next ones' measurement."""
    count = int(rate * seconds)
    start = time.monotonic() + 0.5
    jobs: queue.Queue = queue.Queue()
    for i in range(count):
        jobs.put((i, start + i / rate))
    latencies, errors = [], [0]
    lock = threading.Lock()

    def worker():
        own = session()
        while True:
            try:
                i, due = jobs.get_nowait()
            except queue.Empty:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                ok = call(i, own)
            except Exception:
                ok = False
            elapsed = (time.monotonic() - due) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "n": len(latencies),
        "errors": errors[0],
        **({f"p{p}": percentile(latencies, p) for p in (50, 95, 99)} if latencies else {}),
    }


def report(bench: Bench) -> str:
    a, m, d = bench.args, bench.machine, bench.data
    full = all(getattr(a, k) >= v for k, v in ISSUE_SIZE.items())
    title = "api" if full else "api (SMALLER than the issue's data set: not the result)"
    lines = [
        f"## {title} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', 'bench/api/run.py')}`",
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['kernel']}; Python "
        f"{m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}",
        f"- **Code:** {m['commit']}",
        f"- **Data:** {d['servers']} servers, {d['users']} users (each owning {d['servers'] // d['users']}), "
        f"{d['nodes']} nodes, {d['members']} memberships, {d['audit']} audit rows (seeded in "
        f"{d['seed_seconds']:.0f} s)",
        f"- **Web:** the Procfile's uvicorn with {a.web_processes} process(es); capacity with {a.clients} "
        f"closed-loop clients for {a.seconds:g} s (the per-person rate limit raised, its check still made); then a fixed arrival rate of {a.load:.0%} of it for "
        f"{a.seconds:g} s, the panel and the bare SELECT (psycopg, same SQL, same rate) in turn; the clients "
        "run on the same machine",
        "",
        "Milliseconds from each request's scheduled time to its answer.",
        "",
        "| list | capacity (req/s) | fixed rate (req/s) | series | n | errors | p50 | p95 | p99 | p95 vs raw |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for _, r in bench.results.items():
        panel, raw = r["panel"], r["raw"]
        ratio = panel.get("p95", 0) / raw["p95"] if raw.get("p95") else None
        lines.append(
            f"| {r['label']} | {r['capacity']['rate']:.0f} | {r['rate']:.0f} | **panel** | {panel['n']} | "
            f"{panel['errors'] + r['capacity']['errors']} | {panel.get('p50', 0):.1f} | {panel.get('p95', 0):.1f} | "
            f"{panel.get('p99', 0):.1f} | {ratio:.1f}x |"
            if ratio
            else f"| {r['label']} | {r['capacity']['rate']:.0f} | {r['rate']:.0f} | **panel** | {panel['n']} | - | - | - | - | - |"
        )
        lines.append(
            f"| | | | bare SELECT | {raw['n']} | {raw['errors']} | {raw.get('p50', 0):.1f} | "
            f"{raw.get('p95', 0):.1f} | {raw.get('p99', 0):.1f} | |"
        )
        met = panel.get("p95", 1e9) < 50 and ratio is not None and ratio <= 5
        verdicts.append(
            f"- {r['label']}: p95 {panel.get('p95', 0):.1f} ms, {ratio or 0:.1f}x the bare SELECT — "
            f"**{'met' if met else 'NOT met'}** (p95 < 50 ms and within 5x)"
        )
    if "servers" in bench.results:
        capacity = bench.results["servers"]["capacity"]["rate"]
        verdicts.append(
            f"- capacity of a customer's server list: {capacity:.0f} requests/s — "
            f"**{'met' if capacity >= 240 else 'NOT met'}** (at least 10x the ~24/s measured before issue 19)"
        )
    lines += ["", "**Targets** (issue 19):", "", *verdicts]
    return "\n".join(lines) + "\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for key, value in ISSUE_SIZE.items():
        parser.add_argument(f"--{key}", type=int, default=value)
    parser.add_argument("--clients", type=int, default=32, help="closed-loop clients for the capacity")
    parser.add_argument("--seconds", type=float, default=20.0, help="each window (capacity, each fixed rate)")
    parser.add_argument("--load", type=float, default=0.5, help="the fixed rate, as a share of the capacity")
    parser.add_argument("--web-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    if not (args.servers >= 100 and 10 <= args.users <= args.servers and 1 <= args.nodes <= 200):
        parser.error("--servers at least 100, --users 10 to --servers, --nodes 1-200")
    return args


def main() -> int:
    args = parse_args()
    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "results.json",
        measured=lambda: {"args": vars(args), "data": bench.data, "results": bench.results},
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
