"""What `manage.py doctor` and GET /api/admin/health check (README "Doctor"): the database, Redis, beat's
tick, a worker's ping, the SFTP gateway and the monitor, HTTPS, and every node (reachable, its Docker
version, the data dir writable, the `bridge` network, free disk: nodes/doctor.py, as config stands below
the apps) — each problem with the command that fixes it.

Errors (a node down, no worker, beat stuck, the database or Redis unreachable, a node that cannot run
servers) make doctor exit non-zero; warnings (the SFTP gateway or monitor not running, SQLite, HTTPS off,
little disk) do not. Every check is bounded: the slow ones (database, Redis, the ping, each node) run
in threads of their own, and one that has not answered within DOCTOR_CHECK_TIMEOUT_SECONDS is reported
as an error that names what hung. Nodes are reached through nodes/client only.
"""

import threading
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections

from config import heartbeat

OK, WARNING, ERROR = "ok", "warning", "error"
START_BEAT = "start it with `celery -A config beat -S schedules.beat:Scheduler` (make run starts it)"
START_WORKER = "start one with `celery -A config worker` (make run starts it)"


@dataclass
class Check:
    name: str
    status: str  # ok | warning | error
    message: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class Bounded(threading.Thread):
    """Runs `work` (returning a list of checks) in a daemon thread: a hung check is abandoned, not waited
    for, and the thread's database connection is closed when it ends."""

    def __init__(self, name: str, work, on_timeout: Check):
        super().__init__(daemon=True, name=f"doctor-{name}")
        self.work, self.on_timeout, self.result = work, on_timeout, None

    def run(self):
        try:
            self.result = self.work()
        except Exception as exc:  # a check that fails unexpectedly is a failed check, never a crash
            failed = self.on_timeout
            self.result = [Check(failed.name, ERROR, f"{failed.message}: {exc}", failed.fix)]
        finally:
            connections.close_all()


def _bounded(jobs: list[Bounded], timeout: float) -> list[Check]:
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.start()
    checks = []
    for job in jobs:
        job.join(max(0.0, deadline - time.monotonic()))
        if job.is_alive() or job.result is None:
            timed_out = job.on_timeout
            checks.append(
                Check(
                    timed_out.name, ERROR, f"{timed_out.message} (no answer in {timeout:g} s)", timed_out.fix
                )
            )
        else:
            checks.extend(job.result)
    return checks


def _database() -> list[Check]:
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return [Check("database", OK, f"{connection.vendor} answered in {elapsed_ms(started)} ms")]


def _redis() -> list[Check]:
    started = time.monotonic()
    cache.set("doctor:ping", 1, timeout=10)
    if cache.get("doctor:ping") != 1:
        raise ConnectionError("Redis did not echo a value back")
    return [Check("redis", OK, f"answered in {elapsed_ms(started)} ms")]


def _worker(ping_timeout: float) -> list[Check]:
    from config.celery import app

    replies = app.control.ping(timeout=ping_timeout, limit=1)
    if not replies:
        return [Check("worker", ERROR, f"no worker answered a ping within {ping_timeout:g} s", START_WORKER)]
    names = ", ".join(sorted(name for reply in replies for name in reply))
    return [Check("worker", OK, f"answered a ping: {names}")]


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _settings_checks() -> list[Check]:
    checks = []
    if connections["default"].vendor == "sqlite":
        checks.append(
            Check(
                "sqlite",
                WARNING,
                "the database is SQLite: fine to try Hearth, not for several busy processes",
                "use PostgreSQL: set DATABASE_URL=postgres://user:password@host:5432/hearth, then "
                "`python manage.py migrate`",
            )
        )
    if not settings.HTTPS:
        checks.append(
            Check(
                "https",
                WARNING,
                "HTTPS is off: logins and tokens cross the network in clear",
                "put a TLS proxy in front of the panel and set HEARTH_HTTPS=true and HEARTH_TRUSTED_PROXIES "
                "to its address",
            )
        )
    return checks


def _redis_checks() -> list[Check]:
    """What Redis knows of the background processes (their heartbeats and beat's tick)."""
    checks = []
    last = heartbeat.last_tick("beat")
    stuck_after = settings.DOCTOR_BEAT_STUCK_SECONDS
    if last is None:
        checks.append(Check("beat", ERROR, "beat has never ticked", START_BEAT))
    elif (age := time.time() - last) > stuck_after:
        checks.append(Check("beat", ERROR, f"beat has not ticked for {age:.0f} s", START_BEAT))
    else:
        checks.append(Check("beat", OK, f"ticked {age:.0f} s ago"))
    services = heartbeat.status()
    if services["sftp"] == "running":
        checks.append(Check("sftp", OK, "the SFTP gateway is running"))
    else:
        checks.append(
            Check(
                "sftp",
                WARNING,
                "the SFTP gateway is not running: customers cannot reach their files over SFTP",
                "start it with `python manage.py sftp` (make run starts it)",
            )
        )
    if services["monitor"] == "running":
        checks.append(Check("monitor", OK, "the monitor is running"))
    else:
        checks.append(
            Check(
                "monitor",
                WARNING,
                "the monitor is not running: crashes go unnoticed and consoles stay silent",
                "start it with `python manage.py monitor` (make run starts it)",
            )
        )
    return checks


def run_checks(*, timeout: float | None = None, ping_timeout: float | None = None, more=()) -> list[Check]:
    """Every check, in a stable order; none takes longer than `timeout` seconds. `more`: functions of the
    apps above config (nodes.doctor) returning (checks, Bounded jobs), asked when the database answers."""
    timeout = timeout or settings.DOCTOR_CHECK_TIMEOUT_SECONDS
    ping_timeout = min(ping_timeout or settings.DOCTOR_PING_TIMEOUT_SECONDS, timeout)
    fix_db = "start PostgreSQL (or check DATABASE_URL), then `python manage.py migrate`"
    fix_redis = "start Redis (make run starts an embedded one) or check REDIS_URL"
    checks = _bounded(
        [
            Bounded("database", _database, Check("database", ERROR, "the database is unreachable", fix_db)),
            Bounded("redis", _redis, Check("redis", ERROR, "Redis is unreachable", fix_redis)),
        ],
        timeout,
    )
    for check in checks:
        if check.status == ERROR and not check.fix:
            check.fix = fix_db if check.name == "database" else fix_redis
    database_up, redis_up = (check.status == OK for check in checks)
    checks.extend(_settings_checks())
    jobs = []
    if redis_up:
        checks.extend(_redis_checks())
        jobs.append(
            Bounded(
                "worker",
                lambda: _worker(ping_timeout),
                Check("worker", ERROR, "the ping to the workers did not return", START_WORKER),
            )
        )
    else:
        checks.append(
            Check("worker", ERROR, "cannot ping a worker: Redis (the broker) is unreachable", fix_redis)
        )
    if database_up:
        for provider in more:  # e.g. nodes.doctor.node_checks: (checks now, bounded jobs to run)
            now, later = provider()
            checks.extend(now)
            jobs.extend(later)
    checks.extend(_bounded(jobs, timeout))
    return checks


def summary(checks: list[Check]) -> dict:
    errors = sum(check.status == ERROR for check in checks)
    warnings = sum(check.status == WARNING for check in checks)
    return {
        "status": ERROR if errors else WARNING if warnings else OK,
        "errors": errors,
        "warnings": warnings,
        "checks": [check.as_dict() for check in checks],
    }
