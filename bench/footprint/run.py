"""bench-footprint: the memory of the panel's processes with ten idle servers (issue 19, item 6).

The whole panel runs as `make run` starts it (scripts/run.sh's runner, config/procfile.py, on the
Procfile: web, worker, beat, monitor, sftp) against the test environment's PostgreSQL and Redis. Ten
servers of the Test Game template are installed and started through the API and left running, silent.
Then the memory of every process of the runner's tree is read from /proc: RSS (which counts a page
shared by several processes once in each of them), PSS (each shared page divided among its sharers:
the memory the processes really take together) and USS (pages of that process alone).

The baseline, in the same run and with the same servers: the same Procfile with every line an
interpreter of its own (`--separate`), which is how the processes ran before the runner forked them.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.harness import (
    OUT,
    ROOT,
    VENV_BIN,
    Aborted,
    check_bench_services,
    free_port,
    machine_info,
    migrate_and_setup_django,
    run_bench,
    wait_until,
)

SERVERS = 10
MODES = {"forked (make run)": [], "separate interpreters (baseline)": ["--separate"]}


def tree(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        children = Path(f"/proc/{pid}/task/{pid}/children")
        with contextlib.suppress(FileNotFoundError):
            todo += [int(x) for x in children.read_text().split()]
    return found


def memory(pid: int) -> dict | None:
    """RSS, PSS and USS of one process in KiB, with its name, or None when it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        title = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    kib = {name: int(value.split()[0]) for name, value in (line.split(":", 1) for line in lines)}
    return {
        "process": title[:70],
        "rss": kib["Rss"],
        "pss": kib["Pss"],
        "uss": kib["Private_Clean"] + kib["Private_Dirty"],
    }


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"footprint-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.runner: subprocess.Popen | None = None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = None
        self.servers: list[str] = []
        self.results: dict[str, list[dict]] = {}
        self.machine: dict = {}

    def run(self) -> None:
        check_bench_services()
        migrate_and_setup_django(self.logdir)
        self.machine = machine_info([os.environ["HEARTH_TEST_DOCKER1_URL"]])
        password = self.bootstrap()
        for mode, flags in MODES.items():
            print(f"{mode}: starting the panel …", flush=True)
            self.start(flags, mode)
            self.login(password)
            if not self.servers:
                self.create_servers()
            print(f"  {SERVERS} servers running; settling for {self.args.settle:g} s …", flush=True)
            time.sleep(self.args.settle)
            self.results[mode] = [m for m in map(memory, tree(self.runner.pid)) if m]
            rss, pss = (sum(m[k] for m in self.results[mode]) / 1024 for k in ("rss", "pss"))
            print(f"  {len(self.results[mode])} processes: RSS {rss:.0f} MiB, PSS {pss:.0f} MiB", flush=True)
            if mode != list(MODES)[-1]:
                self.stop()

    def bootstrap(self) -> str:
        done = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "bootstrap"], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode or "password: " not in done.stdout:
            raise Aborted(f"bootstrap failed:\n{done.stdout}{done.stderr}")
        return done.stdout.split("password: ")[1].split()[0]

    def start(self, flags: list[str], mode: str) -> None:
        log = open(self.logdir / f"{mode.split()[0]}.log", "wb")  # noqa: SIM115 - closed with the process
        self.runner = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "config.procfile", *flags, "Procfile"],
            cwd=ROOT,
            env={**os.environ, "HEARTH_HOST": "127.0.0.1", "HEARTH_PORT": str(self.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        import requests

        def up():
            if self.runner.poll() is not None:
                raise Aborted(f"the panel exited with {self.runner.returncode}; see {log.name}")
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.base}/api/health", timeout=2).status_code == 200
            return False

        wait_until("the panel to answer /api/health", up, 90)

    def login(self, password: str) -> None:
        import requests

        self.http = requests.Session()
        answer = self.http.post(
            f"{self.base}/api/auth/login",
            json={"email": "admin@hearth.local", "password": password},
            timeout=30,
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['data']['token']}"

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        answer = self.http.request(method, f"{self.base}{path}", json=body, timeout=60)
        if answer.status_code >= 400:
            raise Aborted(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def create_servers(self) -> None:
        templates = self.call("GET", "/api/templates?limit=100")["data"]
        game = next(t for t in templates if t["name"] == "Test Game")
        for number in range(SERVERS):
            body = {
                "name": f"idle-{number}",
                "templateId": game["id"],
                "allocatedMemoryMb": 128,
                "allocatedCpuCores": 0.1,
                "allocatedDiskMb": 256,
                "install": True,
            }
            self.servers.append(self.call("POST", "/api/servers", body)["data"]["id"])
        self.wait_all("stopped", 300)
        for server in self.servers:
            self.call("POST", f"/api/servers/{server}/start")
        self.wait_all("running", 120)

    def wait_all(self, status: str, timeout: float) -> None:
        def reached():
            seen = [self.call("GET", f"/api/servers/{s}")["data"]["status"] for s in self.servers]
            if any(s.endswith("failed") for s in seen):
                raise Aborted(f"a server failed: {seen}")
            return all(s == status for s in seen)

        wait_until(f"{SERVERS} servers to be {status}", reached, timeout, interval=1.0)

    def stop(self) -> None:
        if self.runner and self.runner.poll() is None:
            self.runner.send_signal(signal.SIGTERM)
            try:
                self.runner.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.runner.pid, signal.SIGKILL)
                self.runner.wait(10)

    def cleanup(self) -> None:
        """Stop the panel, then remove the servers' containers (the database is dropped by the next run)."""
        self.stop()
        import docker

        engine = docker.DockerClient(base_url=os.environ["HEARTH_TEST_DOCKER1_URL"])
        for server in self.servers:
            for container in engine.containers.list(all=True, filters={"label": f"hearth.server={server}"}):
                container.remove(force=True)
        engine.close()


def report(bench: Bench) -> str:
    machine = bench.machine
    lines = [
        f"## footprint — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['kernel']}",
        f"- Revision: {machine['commit']}; Python {machine['python']}, PostgreSQL {machine['postgresql']},"
        f" Redis {machine['redis']}",
        f"- Command: `{os.environ.get('BENCH_COMMAND', 'make bench-footprint')}`",
        f"- {SERVERS} Test Game servers running and silent on the local node; the panel's processes read"
        f" {bench.args.settle:g} s after the last start. Procfile (web, worker, beat, monitor, sftp);"
        " PostgreSQL and Redis are the test environment's and not counted.",
        "",
        "| mode | processes | RSS sum (MiB) | PSS sum (MiB) | USS sum (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, rows in bench.results.items():
        sums = [sum(r[k] for r in rows) / 1024 for k in ("rss", "pss", "uss")]
        lines.append(f"| {mode} | {len(rows)} | {sums[0]:.0f} | {sums[1]:.0f} | {sums[2]:.0f} |")
    for mode, rows in bench.results.items():
        lines += [
            "",
            f"{mode}, per process (MiB):",
            "",
            "| process | RSS | PSS | USS |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| `{r['process']}` | {r['rss'] / 1024:.0f} | {r['pss'] / 1024:.0f} | {r['uss'] / 1024:.0f} |"
            for r in rows
        ]
    forked = bench.results.get(next(iter(MODES)), [])
    pss = sum(r["pss"] for r in forked) / 1024
    rss = sum(r["rss"] for r in forked) / 1024
    lines += [
        "",
        f"Target (under 400 MiB with ten idle servers): PSS {pss:.0f} MiB — {'met' if pss < 400 else 'not met'};"
        f" RSS summed {rss:.0f} MiB — {'met' if rss < 400 else 'not met'} (RSS counts each shared page in"
        " every process that maps it).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds between the starts and the reading"
    )
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "results.json",
        measured=lambda: {"args": vars(args), "machine": bench.machine, "results": bench.results},
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
