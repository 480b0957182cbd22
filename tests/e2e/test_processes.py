"""The five processes of `make run` start on the real services, work, and stop on SIGTERM."""

import json
import signal
import subprocess
import sys
import urllib.request

import pytest
from django.core.cache import cache

from tests.fixtures.browser import BIN, ROOT, free_port, web_argv
from tests.polling import wait_for


@pytest.fixture
def start(process_env, tmp_path):
    procs: list[tuple[str, subprocess.Popen]] = []

    def run(name: str, *argv: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=process_env, stdout=log, stderr=subprocess.STDOUT)
        procs.append((name, proc))
        return proc

    yield run
    for _, proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_all_five_processes_start_work_and_stop(start, tmp_path):
    from django_celery_beat.models import PeriodicTask

    from config.tasks import heartbeat

    cache.delete_many([f"heartbeat:{name}" for name in ("worker", "beat", "monitor", "sftp")])
    port = free_port()
    web = start("web", *web_argv(port))
    worker = start(
        "worker", str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "1", "--loglevel", "INFO"
    )
    beat = start(
        "beat",
        str(BIN / "celery"),
        "-A",
        "config",
        "beat",
        "-S",
        "schedules.beat:Scheduler",
        "--pidfile=",
        "--loglevel",
        "INFO",
    )
    monitor = start("monitor", sys.executable, "manage.py", "monitor")
    sftp = start("sftp", sys.executable, "manage.py", "sftp")

    def health():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    assert wait_for(health, 60, "the web process to answer /api/health")["data"]["status"] == "ok"
    wait_for(lambda: cache.get("heartbeat:monitor"), 30, "the monitor's heartbeat")
    wait_for(lambda: cache.get("heartbeat:sftp"), 30, "the sftp gateway's heartbeat")
    heartbeat.delay()
    wait_for(lambda: cache.get("heartbeat:worker"), 60, "the worker to run a task")
    wait_for(
        lambda: PeriodicTask.objects.filter(task="config.tasks.heartbeat").exists(),
        60,
        "beat to load its schedule into the database",
    )

    for name, proc in [
        ("web", web),
        ("worker", worker),
        ("beat", beat),
        ("monitor", monitor),
        ("sftp", sftp),
    ]:
        assert proc.poll() is None, f"{name} died: {(tmp_path / f'{name}.log').read_text()[-2000:]}"
        code = stop(proc)
        assert code in (0, -signal.SIGTERM), (
            f"{name} exited {code}: {(tmp_path / f'{name}.log').read_text()[-2000:]}"
        )
