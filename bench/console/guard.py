"""Measuring on a quiet machine: wait while another benchmark or pytest runs, take a measurement
again when one started meanwhile; the processes measured and the Redis/PostgreSQL counters."""

import os
import time

from bench.console.measure import CpuMeter, other_load
from bench.harness import Aborted, env

# A check that the benchmark runs at all (not a measurement) may set this: it then measures beside
# other load instead of waiting for a quiet machine, and its figures are not comparable.
IGNORE_LOAD = os.environ.get("BENCH_IGNORE_OTHER_LOAD") == "1"


class Guarded:
    """The Bench's measuring helpers (a mixin of bench.console.run.Bench)."""

    def quiet_machine(self) -> None:
        """No lifecycle benchmark and no pytest beside a measurement: wait (at most 20 minutes)."""
        if IGNORE_LOAD:
            return
        deadline = time.monotonic() + 1200
        noted = False
        while busy := other_load():
            if not noted:
                print(f"  waiting: {busy[0]} is running (checking every 10 s, at most 20 min)", flush=True)
                self.waited.append(busy[0])
                noted = True
            if time.monotonic() > deadline:
                raise Aborted(f"Still running after 20 minutes: {busy[0]}")
            time.sleep(10)
        if noted:
            time.sleep(5)

    def guarded(self, what: str, measure, attempts: int = 3):
        """Run one measurement while nothing else runs; if something started meanwhile, wait and take it
        again (at most `attempts` times)."""
        for attempt in range(1, attempts + 1):
            self.quiet_machine()
            self.processes.check()
            self.watch.clear()
            result = measure(attempt)
            if self.watch.seen is None or IGNORE_LOAD:
                return result
            print(f"  ! {self.watch.seen} ran during {what}: measuring again", flush=True)
            self.redone.append(f"{what} ({self.watch.seen[:60]})")
        raise Aborted(f"Other load kept overlapping {what}.")

    def pids(self) -> dict[str, int | None]:
        return {
            "monitor": self.processes.pid("monitor"),
            "web": self.processes.pid("web"),
            "redis": self.redis_pid,
            "dockerd": self.dockerd_pid,
            "bench": os.getpid(),
        }

    def meters(self) -> CpuMeter:
        return CpuMeter(self.pids())

    def counters(self) -> dict:
        """Redis and PostgreSQL totals (deltas over a window tell round trips and queries)."""
        import psycopg
        import redis
        from django.conf import settings

        info = redis.Redis.from_url(settings.REDIS_URL).info("all")
        with psycopg.connect(env("DATABASE_URL"), autocommit=True) as conn:
            xacts = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'hearth_bench'"
            ).fetchone()[0]
        return {
            "connections": info.get("total_connections_received", 0),
            "commands": info.get("total_commands_processed", 0),
            "eval": info.get("cmdstat_eval", {}).get("calls", 0),
            "transactions": xacts,
        }
