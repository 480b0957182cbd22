"""What every benchmark shares: paths, the results file, statistics, waiting, the leftovers of a killed
run, and the panel's processes (see bench/README.md, "How a benchmark runs")."""

import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS_HEADER = """# Benchmark results

Each benchmark run appends a dated section here, **newest last**, with the machine it ran on, the
exact command and its numbers. Benchmarks measure; they do not assert. How to run them and what
each number means: [README.md](README.md). Raw per-round data stays in `bench/out/` (not committed).
"""


class Aborted(Exception):
    """The benchmark cannot go on."""


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise Aborted(f"{name} is not set: run the benchmark through its make target (scripts/run-bench.sh).")
    return value


def parse_docker_time(text: str) -> float:
    """RFC 3339 with nanoseconds (Docker's log and state timestamps) → unix time."""
    text = text.strip().rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6].ljust(6, '0')}"
    return datetime.fromisoformat(text + "+00:00").timestamp()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: with fewer than 100 values, p99 is the maximum."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(what: str, check, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Aborted(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(interval)


def write_results(text: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(RESULTS_HEADER)
    current = RESULTS.read_text().rstrip("\n")
    RESULTS.write_text(f"{current}\n\n{text}")


def publish(text: str, *, append: bool, raw: Path | None = None) -> None:
    """Print a run's report and, unless told not to (a development run), append it to RESULTS.md."""
    print()
    print(text)
    if append:
        write_results(text)
        kept = f"; everything measured is in {raw.relative_to(ROOT)}" if raw else ""
        print(f"Appended to {RESULTS.relative_to(ROOT)}{kept}.")


def run_bench(bench, *, raw: Path, measured, report, append: bool) -> int:
    """Run `bench`, always clean up after it and keep `measured()` in `raw`; then publish its report.
    The exit status: 0, or 1 when the run was aborted."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so cleanup runs
    status = 0
    try:
        bench.run()
    except (Aborted, KeyboardInterrupt) as exc:
        print(f"Benchmark aborted: {exc or exc.__class__.__name__}", file=sys.stderr)
        status = 1
    finally:
        print("Cleaning up…", flush=True)
        bench.cleanup()
        raw.write_text(json.dumps(measured(), default=str, indent=1))
    if not status:
        publish(report(bench), append=append, raw=raw)
    return status


class Leftovers:
    """What a run started or created, written as it happens, so the next run cleans up after a crash
    (a process is only signalled when /proc still shows the exact command line we started)."""

    def __init__(self, path: Path):
        self.path = path
        self.data = {"processes": [], "containers": [], "dirs": []}

    def _save(self):
        self.path.write_text(json.dumps(self.data, indent=1))

    def process(self, pid: int, argv: list[str]):
        self.data["processes"].append({"pid": pid, "cmdline": argv})
        self._save()

    def container(self, socket_url: str, name: str):
        self.data["containers"].append({"socket": socket_url, "name": name})
        self._save()

    def directory(self, path: str):
        self.data["dirs"].append(path)
        self._save()

    def done(self):
        self.path.unlink(missing_ok=True)

    @staticmethod
    def clean_previous(path: Path, *, data_dirs: list[str], sockets: list[str], raw_label: str) -> None:
        """Undo what a killed run left (`path`), then remove every raw container labelled `raw_label`
        (ours alone: the panel's containers are removed through the panel)."""
        import docker

        if path.exists():
            old = json.loads(path.read_text())
            print(f"Cleaning up after an interrupted run ({path.relative_to(ROOT)})…")
            for proc in old.get("processes", []):
                cmdline = Path(f"/proc/{proc['pid']}/cmdline")
                with contextlib.suppress(OSError):
                    if cmdline.read_bytes().split(b"\0")[:-1] == [a.encode() for a in proc["cmdline"]]:
                        os.killpg(proc["pid"], signal.SIGKILL)
            for item in old.get("containers", []):
                client = docker.DockerClient(base_url=item["socket"])
                with contextlib.suppress(docker.errors.NotFound):
                    client.containers.get(item["name"]).remove(force=True)
                client.close()
            for directory in old.get("dirs", []):
                if any(directory.startswith(d.rstrip("/") + "/servers/") for d in data_dirs):
                    shutil.rmtree(directory, ignore_errors=True)
            path.unlink()
        for socket_url in sockets:
            client = docker.DockerClient(base_url=socket_url)
            for container in client.containers.list(all=True, filters={"label": raw_label}):
                container.remove(force=True)
            client.close()


class Processes:
    """The web process, the Celery worker and the monitor, each in its own process group, logging to
    bench/out."""

    def __init__(self, logdir: Path, leftovers: Leftovers):
        self.logdir, self.leftovers = logdir, leftovers
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = []

    def start(self, name: str, argv: list[str], extra_env: dict | None = None) -> None:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs[name] = proc
        self.leftovers.process(proc.pid, argv)

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc else None

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise Aborted(
                    f"{name} exited with code {proc.returncode}; see {self.logdir / (name + '.log')}"
                )

    def _end(self, procs: list[subprocess.Popen]) -> None:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):  # the group: Celery's pool children too
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def restart(self, name: str, argv: list[str], extra_env: dict | None = None) -> None:
        self._end([self.procs.pop(name)])
        self.start(name, argv, extra_env)

    def stop(self) -> None:
        self._end(list(self.procs.values()))
        for log in self.logs:
            log.close()


def migrate_and_setup_django(logdir: Path) -> None:
    """`manage.py migrate` on the benchmark's database, Django set up in this process, Redis db 9 emptied."""
    with open(logdir / "migrate.log", "wb") as log:
        code = subprocess.call(
            [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    if code:
        raise Aborted(f"migrate failed; see {logdir / 'migrate.log'}")
    import django

    django.setup()
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # db 9: the benchmark's own


def machine_info(sockets: list[str], **versions: str) -> dict:
    """The machine, its engines and the versions of everything measured, for the results' header."""
    import docker
    import psycopg
    import redis
    from django.conf import settings

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    meminfo = dict(
        line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line
    )
    engines = []
    for sock in sockets:
        client = docker.DockerClient(base_url=sock)
        info = client.info()
        engines.append(
            f"{sock}: Docker {info.get('ServerVersion')} ({info.get('Driver')}, cgroup v{info.get('CgroupVersion')})"
        )
        client.close()
    cli = subprocess.run(
        ["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "diff", "--name-only", "HEAD", "--", ".", ":!bench", ":!Makefile", ":!scripts/run-bench.sh"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024 / 1024, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "engines": engines,
        "docker_cli": cli,
        "python": platform.python_version(),
        "postgresql": pg,
        "redis": redis.Redis.from_url(settings.REDIS_URL).info("server")["redis_version"],
        **versions,
        "commit": f"git {commit}" + (f" + uncommitted changes to {', '.join(changed)}" if changed else ""),
    }


BENCH_EMAIL = "bench@hearth.local"


def api_session(base_url: str, password: str):
    """A requests session signed in to the panel's API as the benchmark's administrator, and its JWT."""
    import requests

    http = requests.Session()
    response = http.post(
        f"{base_url}/api/auth/login", json={"email": BENCH_EMAIL, "password": password}, timeout=30
    )
    response.raise_for_status()
    token = response.json()["data"]["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http, token


def worker_argv(loglevel: str) -> list[str]:
    return [str(VENV_BIN / "celery"), "-A", "config", "worker", "--concurrency", "2", "--loglevel", loglevel]


def check_bench_services() -> None:
    """The database and Redis are the benchmark's own (scripts/run-bench.sh points them there)."""
    from urllib.parse import urlsplit

    db = urlsplit(env("DATABASE_URL"))
    if db.path != "/hearth_bench" or db.hostname not in ("127.0.0.1", "localhost"):
        raise Aborted("DATABASE_URL must be the local hearth_bench database (scripts/run-bench.sh sets it).")
    redis_url = urlsplit(env("REDIS_URL"))
    if redis_url.path != "/9" or redis_url.hostname not in ("127.0.0.1", "localhost"):
        raise Aborted("REDIS_URL must be db 9 of the local Redis (scripts/run-bench.sh sets it).")


def web_argv(port: int) -> list[str]:
    """The web process exactly as the Procfile starts it (uvicorn and its options), on 127.0.0.1:port."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    command = (
        line.removeprefix("web:").replace("$HEARTH_HOST", "127.0.0.1").replace("$HEARTH_PORT", str(port))
    )
    argv = shlex.split(command)
    return [str(VENV_BIN / Path(argv[0]).name), *argv[1:]]


def start_web_and_worker(processes: "Processes", worker_loglevel: str) -> str:
    """The web process on a free port of 127.0.0.1 and a Celery worker; returns the web process's base URL
    (it is waited for by wait_web_and_worker, the worker after the monitor started)."""
    port = free_port()
    processes.start("web", web_argv(port))
    processes.start("worker", worker_argv(worker_loglevel))
    return f"http://127.0.0.1:{port}"


def wait_web_and_worker(processes: "Processes", base_url: str) -> None:
    import requests

    def web_up():
        processes.check()
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{base_url}/api/health", timeout=2).status_code == 200
        return False

    wait_until("the web process to answer /api/health", web_up, 60)
    from config.celery import app

    def worker_up():
        processes.check()
        return bool(app.control.ping(timeout=0.5))

    wait_until("the Celery worker to answer a ping", worker_up, 60)
