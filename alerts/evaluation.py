"""Resource-threshold rules, evaluated on the stored metric history (beat, every 30 s).

A rule `{metric, operator, value, duration}` holds on a target when the points THEMSELVES held for
`duration`: the unbroken run of points meeting the condition that ends at the latest point must span
`duration` (latest - (earliest - interval) >= duration - SLACK_SECONDS; a point is the average of
the interval before it: METRICS_POINT_SECONDS for servers, one health check for nodes). A run breaks
at a point that misses the condition or at a gap (servers: 1.5 intervals + one sampling interval;
nodes: 2.5 health-check intervals). Separately, the latest point must be fresh (at most 2 intervals
or one gap old), else the history is stale: a stopped server's or an offline node's last points never
open an alert. How old the latest point is never counts towards the span. `duration` 0, or one no
longer than a point, judges the latest fresh point alone.

Servers are judged in percent of their own limits (cpu of the allocated cores, memory and disk of
their allocation), nodes in percent of the host. A holding condition opens an alert through
`services.raise_alert` (fingerprint `rule:<rule id>:server:<id>` or `:node:<id>`, deduplicated there);
with `auto_resolve`, an open alert resolves when the latest fresh point no longer meets the condition
("The condition cleared."), or when its server no longer runs (or its node or server is gone). With no
fresh point an open alert stays as it is: nothing is known. While it holds, an open alert's
`last_seen_at` follows; a self-cleared alert whose condition holds again within the rule's dedupe
window is reopened (one more occurrence, nothing sent). Each target is raised or resolved in its own
transaction: one failing target is logged and the others are still judged.

Each rule costs a few queries whatever its number of targets: its targets, their history over the
window, its open alerts.
"""

import logging
import operator as op
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts import services
from alerts.models import Alert, AlertRule, AlertType
from nodes.models import Node, NodeMetric
from servers.models import Server, ServerMetric

logger = logging.getLogger(__name__)

OPERATORS = {">": op.gt, "<": op.lt, ">=": op.ge, "<=": op.le, "==": op.eq}
METRICS = {"cpu": "CPU", "memory": "Memory", "disk": "Disk"}
# `*` server rules watch servers whose container runs (a starting one is sampled too); a server named
# by id is judged in the same states. A stopped, crashed or suspended server holds nothing.
WATCHED_STATUSES = (Server.Status.RUNNING, Server.Status.STARTING)
CLEARED = "The condition cleared."
FRESH_INTERVALS = 2  # how old the latest point may be (at least one allowed gap)
SLACK_SECONDS = 2.0  # a run of points may fall this short of `duration` (clock jitter)
NODE_GAP_INTERVALS = 2.5  # node points: a health check delayed by a busy worker is no gap


@dataclass(frozen=True)
class Spacing:
    """How a target's history is spaced: `interval` the seconds a point stands for, `gap` the most
    seconds two consecutive points may lie apart before the run counts as broken."""

    interval: float
    gap: float

    @property
    def fresh(self) -> float:
        return max(FRESH_INTERVALS * self.interval, self.gap)


@dataclass(frozen=True)
class Condition:
    metric: str
    operator: str
    value: float
    duration: int

    @classmethod
    def of(cls, conditions: dict) -> "Condition":
        """The rule's conditions, or ValueError naming what is wrong (the API validates them first)."""
        metric, operator = conditions.get("metric"), conditions.get("operator")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}")
        duration = int(conditions.get("duration") or 0)
        if duration < 0:
            raise ValueError("negative duration")
        return cls(metric, operator, float(conditions["value"]), duration)

    def met(self, value: float) -> bool:
        return OPERATORS[self.operator](round(value, 1), self.value)


@dataclass(frozen=True)
class Verdict:
    fresh: bool  # the latest point is recent enough to judge by
    holds: bool  # the condition held for every point across the covered window
    latest: float | None  # the latest point's value (percent)


def judge(samples: list[tuple[datetime, float]], condition: Condition, *, now, spacing: Spacing) -> Verdict:
    """`samples`: (time, percent) pairs, oldest first, up to `now`. See the module's docstring."""
    samples = [s for s in samples if s[0] <= now and s[1] is not None]
    if not samples:
        return Verdict(False, False, None)
    latest_at, latest = samples[-1]
    if latest_at < now - timedelta(seconds=spacing.fresh):
        return Verdict(False, False, latest)
    gap = timedelta(seconds=spacing.gap)
    earliest_at = None  # the earliest point of the unbroken run of holding points ending at the latest
    for at, value in reversed(samples):
        if not condition.met(value) or (earliest_at is not None and earliest_at - at > gap):
            break
        earliest_at = at
    if earliest_at is None:
        return Verdict(True, False, latest)
    span = (latest_at - earliest_at).total_seconds() + spacing.interval  # the first stands for one before it
    return Verdict(True, span >= condition.duration - SLACK_SECONDS, latest)


def server_spacing() -> Spacing:
    """A server point per METRICS_POINT_SECONDS, written at the first sample (every
    STATS_INTERVAL_SECONDS) after its boundary: points may lie up to a sampling interval late, and a
    sample may itself run late (a busy node): half an interval more."""
    interval = max(float(settings.METRICS_POINT_SECONDS), float(settings.STATS_INTERVAL_SECONDS))
    return Spacing(interval, 1.5 * interval + float(settings.STATS_INTERVAL_SECONDS))


def node_spacing() -> Spacing:
    """A node point per health check; a check may be delayed by a busy worker (2.5 intervals)."""
    interval = node_interval()
    return Spacing(interval, NODE_GAP_INTERVALS * interval)


def holds(samples, condition: Condition | dict, now, *, spacing: Spacing | None = None) -> bool:
    """Did `condition` (a Condition or a rule's conditions) hold across its duration? Servers' spacing
    unless another is given."""
    if not isinstance(condition, Condition):
        condition = Condition.of(condition)
    return judge(samples, condition, now=now, spacing=spacing or server_spacing()).holds


def node_interval() -> float:
    """Nodes get a point per health check (beat's "node-health" schedule)."""
    return float(settings.CELERY_BEAT_SCHEDULE.get("node-health", {}).get("schedule", 30.0))


# --- targets and their history ----------------------------------------------------------------------


def _server_targets(rule: AlertRule) -> dict[str, object]:
    servers = Server.objects.filter(status__in=WATCHED_STATUSES).select_related("node")
    if rule.target_id != "*":
        servers = servers.filter(pk=rule.target_id)
    return {str(server.pk): server for server in servers}


def _server_history(servers: dict, condition: Condition, since) -> dict[str, list]:
    field = {"cpu": "cpu", "memory": "memory_mb", "disk": "disk_mb"}[condition.metric]
    rows = (
        ServerMetric.objects.filter(server_id__in=list(servers), created_at__gte=since)
        .order_by("server_id", "created_at")
        .values_list("server_id", "created_at", field)
    )
    history: dict[str, list] = {}
    for server_id, created_at, raw in rows:
        server = servers[str(server_id)]
        history.setdefault(str(server_id), []).append(
            (created_at, _server_percent(server, condition.metric, raw))
        )
    return history


def _server_percent(server, metric: str, raw) -> float | None:
    """A stored point in percent of the server's limit. Stored cpu is docker's percent of one core."""
    if raw is None:
        return None
    limit = {
        "cpu": float(server.allocated_cpu_cores) * 100,
        "memory": server.allocated_memory_mb,
        "disk": server.allocated_disk_mb,
    }[metric]
    return 100.0 * raw / limit if limit else None


def _node_targets(rule: AlertRule) -> dict[str, object]:
    nodes = Node.objects.all()
    if rule.target_id != "*":
        nodes = nodes.filter(pk=rule.target_id)
    return {str(node.pk): node for node in nodes}


def _node_history(nodes: dict, condition: Condition, since) -> dict[str, list]:
    rows = (
        NodeMetric.objects.filter(node_id__in=list(nodes), created_at__gte=since)
        .order_by("node_id", "created_at")
        .values_list("node_id", "created_at", condition.metric)
    )
    history: dict[str, list] = {}
    for node_id, created_at, value in rows:
        history.setdefault(str(node_id), []).append((created_at, value))
    return history


# --- evaluation -------------------------------------------------------------------------------------


def evaluate_rules(now=None) -> int:
    """Evaluate every enabled resource_threshold rule once. Returns how many alerts were opened."""
    now = now or timezone.now()
    opened = 0
    for rule in AlertRule.objects.filter(type=AlertType.RESOURCE_THRESHOLD, enabled=True):
        try:
            opened += evaluate_rule(rule, now=now)
        except Exception:  # one broken rule must not stop the others
            logger.exception("Alert rule %s (%s) could not be evaluated", rule.pk, rule.name)
    return opened


def evaluate_rule(rule: AlertRule, *, now) -> int:
    condition = Condition.of(rule.conditions or {})
    server_rule = rule.target == AlertRule.Target.SERVER
    spacing = server_spacing() if server_rule else node_spacing()
    targets = _server_targets(rule) if server_rule else _node_targets(rule)
    since = now - timedelta(seconds=spacing.fresh + condition.duration + spacing.gap)
    history = (_server_history if server_rule else _node_history)(targets, condition, since)
    prefix = f"rule:{rule.pk}:{rule.target}:"
    open_alerts = {
        alert.fingerprint.removeprefix(prefix): alert.pk
        for alert in Alert.objects.filter(fingerprint__startswith=prefix, resolved=False).only("fingerprint")
    }
    opened, still = 0, []
    for target_id, target in targets.items():
        verdict = judge(history.get(target_id, []), condition, now=now, spacing=spacing)
        if verdict.holds and target_id in open_alerts:
            still.append(open_alerts[target_id])  # still holding: seen, in one statement below
        elif verdict.holds:
            opened += (
                _guarded(rule, target_id, _raise, rule, condition, target, verdict.latest, server_rule) or 0
            )
        elif rule.auto_resolve and verdict.fresh and target_id in open_alerts:
            _guarded(rule, target_id, _resolve, open_alerts[target_id], CLEARED)
    if still:  # occurrences count distinct occurrences (a reopen), not evaluations
        Alert.objects.filter(pk__in=still, resolved=False).update(last_seen_at=now)
    if rule.auto_resolve:
        why = "The server is no longer running." if server_rule else "The node was removed."
        for target_id, pk in open_alerts.items():
            if target_id not in targets:
                _guarded(rule, target_id, _resolve, pk, why)
    return opened


def _guarded(rule: AlertRule, target_id: str, action, *args):
    """One target's raise or resolve, in its own transaction: a failing target (e.g. deleted meanwhile)
    is logged and never blocks the rule for the others. Returns what `action` returned, None on error."""
    try:
        with transaction.atomic():
            return action(*args)
    except Exception:
        logger.exception("Alert rule %s (%s) failed on target %s", rule.pk, rule.name, target_id)
        return None


def _resolve(alert_id, resolution: str) -> int:
    return services.resolve(Alert.objects.filter(pk=alert_id), resolution=resolution)


def _raise(rule: AlertRule, condition: Condition, target, value: float, server_rule: bool) -> bool:
    label = METRICS[condition.metric]
    value = round(value, 1)
    rule_text = f"rule: {condition.operator} {condition.value:g} %"
    lasting = f" for {_duration(condition.duration)}" if condition.duration else ""
    if server_rule:
        where, message = target.name, f"{label} at {value:g} % of its limit{lasting} ({rule_text})"
    else:
        where = f"node {target.name}"
        message = f"{label} at {value:g} % on node {target.name}{lasting} ({rule_text})"
    alert = services.raise_alert(
        type=AlertType.RESOURCE_THRESHOLD,
        fingerprint=f"rule:{rule.pk}:{rule.target}:{target.pk}",
        title=_title(condition.operator, label, value, where),
        message=message,
        severity=rule.severity,
        metadata={
            "metric": condition.metric,
            "value": value,
            f"{condition.metric}Usage": value,
            "threshold": condition.value,
            "operator": condition.operator,
            "duration": condition.duration,
        },
        server=target if server_rule else None,
        node=target.node if server_rule else target,
        rules=[rule],
        dedupe_seconds=rule.dedupe_seconds,
        reopen=(CLEARED,),
    )
    return alert is not None


def _title(operator: str, label: str, value: float, where: str) -> str:
    adjective = {">": "High", ">=": "High", "<": "Low", "<=": "Low"}.get(operator)
    return f"{adjective} {label} on {where}" if adjective else f"{label} at {value:g} % on {where}"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
