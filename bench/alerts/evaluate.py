"""Part 1: the cost of one `alerts.evaluation.evaluate_rules()` call on a recorded metric history, in four
states (nothing holds, 25 % hold for the first time, the same still hold, they clear), against the raw
read of the window's points. Every call into the panel goes through bench/adapter.py."""

import time
from contextlib import contextmanager
from datetime import timedelta

from bench import adapter
from bench.harness import Aborted

# (name, target, conditions, severity): four `*` server rules and one node rule.
RULES = [
    ("cpu high", "server", {"metric": "cpu", "operator": ">", "value": 80, "duration": 300}, "warning"),
    ("cpu critical", "server", {"metric": "cpu", "operator": ">", "value": 95, "duration": 300}, "critical"),
    ("memory high", "server", {"metric": "memory", "operator": ">", "value": 90, "duration": 300}, "warning"),
    ("disk high", "server", {"metric": "disk", "operator": ">", "value": 90, "duration": 0}, "warning"),
    ("node cpu", "node", {"metric": "cpu", "operator": ">", "value": 90, "duration": 300}, "critical"),
]
SERVER_RULES = sum(1 for r in RULES if r[1] == "server")
COLD = {"cpu": 20.0, "memory": 300, "disk": 500}  # of 1 core, 1024 MB, 2048 MB: nothing holds
HOT = {"cpu": 98.0, "memory": 1000, "disk": 2000}  # 98 %, 97.7 %, 97.7 %: every server rule holds
NODE = {"cpu": 30.0, "memory": 40.0, "disk": 50.0}
STATES = ("none", "open", "repeat", "clear")


@contextmanager
def counting():
    """Counts the statements the block sends (a wrapper on Django's connection: no debug cursor)."""
    from django.db import connection

    count = {"n": 0}

    def wrapper(execute, sql, params, many, context):
        count["n"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield count


class Evaluation:
    """Mixin of run.Bench: `self.args`, `self.admin`, `self.template`, `self.evaluation` (results)."""

    def evaluation_setup_rules(self, receiver_url: str) -> None:
        for name, target, conditions, severity in RULES:
            adapter.alert_rule_create(
                self.admin,
                name=name,
                type="resource_threshold",
                target=target,
                target_id="*",
                conditions=conditions,
                actions=[{"type": "webhook", "url": receiver_url, "format": "json"}],
                severity=severity,
                auto_resolve=True,
                dedupe_seconds=300,
            )

    def evaluation_size(self, size: int, previous_node) -> object:
        """Seed `size` servers and measure every state over `--rounds` rounds (+1 warm-up)."""
        a = self.args
        if previous_node is not None:
            adapter.alerts_retire_servers(previous_node)
        node, ids = adapter.alerts_seed(self.admin, self.template, servers=size, name=f"bench-alerts-{size}")
        now = self.now()
        end = now - timedelta(seconds=10)
        started = time.perf_counter()
        adapter.metrics_write(
            node,
            ids,
            points=a.points,
            end=end,
            server_values=(COLD["cpu"], COLD["memory"], COLD["disk"]),
            node_values=NODE,
        )
        seeded = time.perf_counter() - started
        hot = ids[: size * a.hot_percent // 100]
        since = adapter.history_since(now, max(r[2]["duration"] for r in RULES if r[1] == "server"))
        result = {"size": size, "hot": len(hot), "seed_seconds": seeded, "calls": {s: [] for s in STATES}}
        result["raw"] = []
        print(f"  {size} servers ({len(hot)} hot), {a.points} points each …", flush=True)
        for round_no in range(a.rounds + 1):
            adapter.alerts_forget()
            adapter.metrics_set(ids, **COLD)
            calls = {"none": self.call(now)}
            adapter.metrics_set(hot, **HOT)
            calls["open"] = self.call(now)
            calls["repeat"] = self.call(now)
            counts = adapter.alerts_counts()
            adapter.metrics_set(hot, **COLD)
            calls["clear"] = self.call(now)
            after = adapter.alerts_counts()
            raw = self.raw_read(since)
            expected = len(hot) * SERVER_RULES
            if calls["open"]["opened"] != expected or counts["open"] != expected or after["open"]:
                raise Aborted(
                    f"Evaluation did not behave as seeded: opened {calls['open']['opened']} (expected "
                    f"{expected}), {counts['open']} open after the repeat, {after['open']} after clearing."
                )
            if round_no:  # the first round warms up
                for state, call in calls.items():
                    result["calls"][state].append(call)
                result["raw"].append(raw)
                result["deliveries_per_open"] = counts["deliveries"]
                result["rows_read"] = raw["rows"]
        adapter.alerts_forget()
        return result, node

    @staticmethod
    def now():
        from django.utils import timezone

        return timezone.now()

    @staticmethod
    def call(now) -> dict:
        with counting() as count:
            started = time.perf_counter()
            opened = adapter.evaluate_rules(now=now)
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "queries": count["n"], "opened": opened}

    @staticmethod
    def raw_read(since) -> dict:
        """The unavoidable read: one SELECT of every server's points in the window (all three metrics)."""
        from django.db import connection

        sql = (
            f"SELECT server_id, created_at, cpu, memory_mb, disk_mb FROM {adapter.metrics_table()} "  # noqa: S608 - a table name
            "WHERE created_at >= %s ORDER BY server_id, created_at"
        )
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(sql, [since])
            rows = cursor.fetchall()
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "rows": len(rows)}
