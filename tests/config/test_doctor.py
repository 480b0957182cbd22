"""`manage.py doctor` against the real test environment: healthy (a live worker, a fresh beat tick, a
node on engine 1: warnings only, exit 0), then a stale beat, no worker and a stopped Redis, each named
with its fix and a non-zero exit. /api/admin/health lists the same checks. (A stopped engine:
test_doctor_stopped.py.)"""

import json
import shutil
import socket
import subprocess
import time
from io import StringIO

import pytest
from django.core.management import call_command

from config import heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def doctor(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("doctor", *args, stdout=out)
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


def doctor_json() -> tuple[int, dict]:
    code, out = doctor("--json")
    report = json.loads(out)
    return code, {check["name"]: check for check in report["checks"]} | {"_summary": report}


def test_no_worker_and_a_stale_beat_are_errors_with_their_fixes(settings):
    settings.DOCTOR_PING_TIMEOUT_SECONDS = 0.3  # nobody will answer: no need to wait long
    heartbeat.tick("beat", time.time() - 312)
    code, out = doctor()
    assert code == 1
    assert "ERROR    beat" in out and "beat has not ticked for 312 s" in out
    assert (
        "fix: start it with `celery -A config beat -S schedules.beat:Scheduler` (make run starts it)" in out
    )
    assert "ERROR    worker" in out and "no worker answered a ping" in out
    assert "fix: start one with `celery -A config worker`" in out
    heartbeat.tick("beat", time.time())
    code, checks = doctor_json()
    assert code == 1 and checks["beat"]["status"] == "ok" and checks["worker"]["status"] == "error"


def test_a_healthy_environment_has_warnings_only(celery_worker, settings, make_node, client_for, admin):
    settings.DOCTOR_DISK_FREE_WARN_MB = 1  # the test machine's free disk is not under test
    node = make_node(engine=1, via="unix")
    heartbeat.tick("beat", time.time())
    code, checks = doctor_json()
    assert code == 0, checks
    summary = checks.pop("_summary")
    assert summary["errors"] == 0 and summary["status"] == "warning"
    for name in ("database", "redis", "beat", "worker", f"node {node.name}", f"node {node.name} data dir"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks[f"node {node.name} bridge"]["status"] == "ok"
    assert checks[f"node {node.name} disk"]["status"] == "ok"
    assert "Docker" in checks[f"node {node.name}"]["message"]
    assert checks["https"]["status"] == "warning" and "HEARTH_HTTPS" in checks["https"]["fix"]
    assert checks["sftp"]["status"] == "warning" and "manage.py sftp" in checks["sftp"]["fix"]

    health = client_for(admin).get("/api/admin/health").json()["data"]
    assert {check["name"] for check in health["checks"]} == set(checks)
    assert {"status", "database", "redis", "nodes", "services", "scheduler", "uptime"} <= set(health)
    assert all(set(check) == {"name", "status", "message", "fix"} for check in health["checks"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_stopped_redis_is_named_with_its_fix(settings):
    """Our own redis-server, never the shared one: doctor sees it answer, then sees it gone."""
    port = _free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--save", "", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
    )
    try:
        settings.CACHES = {
            "default": {
                **settings.CACHES["default"],
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        }
        from django.core.cache import cache

        deadline = time.monotonic() + 10
        while True:
            try:
                cache.set("up", 1)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        _, checks = doctor_json()
        assert checks["redis"]["status"] == "ok"
    finally:
        redis.kill()
        redis.wait(timeout=10)
    started = time.monotonic()
    code, out = doctor()
    assert code == 1
    assert "ERROR    redis" in out and "Redis is unreachable" in out
    assert "fix: start Redis (make run starts an embedded one) or check REDIS_URL" in out
    assert "cannot ping a worker: Redis (the broker) is unreachable" in out
    assert time.monotonic() - started < 15  # bounded: a dead Redis does not hang doctor
