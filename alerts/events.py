"""Alerts raised by what happened rather than by a metric: a server crashed (the monitor's decision),
a node went offline (the health checker's transition); and their recoveries, which resolve them."""

from django.conf import settings

from alerts import services
from alerts.models import Alert, AlertRule, AlertType, Severity


def _rules(type: str, target: str, target_id) -> list[AlertRule]:
    return list(
        AlertRule.objects.filter(type=type, target=target, enabled=True, target_id__in=("*", str(target_id)))
    )


def _dedupe(rules) -> int:
    return max((rule.dedupe_seconds for rule in rules), default=settings.ALERT_DEDUPE_SECONDS)


def server_crashed(server, *, exit_code, oom: bool, crash_count: int, restarting: bool) -> Alert | None:
    """Called in the crash's transaction (servers/crash.py)."""
    rules = _rules(AlertType.SERVER_CRASHED, AlertRule.Target.SERVER, server.pk)
    why = f"exit code {exit_code}" + (", out of memory" if oom else "")
    return services.raise_alert(
        type=AlertType.SERVER_CRASHED,
        fingerprint=f"{AlertType.SERVER_CRASHED}:server:{server.pk}",
        title=f"{server.name} crashed",
        message=f"{server.name} crashed ({why}). " + ("Restarting." if restarting else "Not restarting."),
        severity=services.most_severe((rule.severity for rule in rules), Severity.CRITICAL),
        metadata={"exitCode": exit_code, "oom": oom, "crashCount": crash_count, "restarting": restarting},
        server=server,
        node=server.node,
        rules=rules,
        dedupe_seconds=_dedupe(rules),
    )


def node_offline(node, *, reason: str) -> Alert | None:
    """Called in the health check's transaction when the node is marked offline (nodes/health.py)."""
    rules = _rules(AlertType.NODE_OFFLINE, AlertRule.Target.NODE, node.pk)
    return services.raise_alert(
        type=AlertType.NODE_OFFLINE,
        fingerprint=f"{AlertType.NODE_OFFLINE}:node:{node.pk}",
        title=f"Node {node.name} is offline",
        message=reason,
        severity=services.most_severe((rule.severity for rule in rules), Severity.CRITICAL),
        metadata={"reason": reason, "consecutiveFailures": node.consecutive_failures},
        node=node,
        rules=rules,
        dedupe_seconds=_dedupe(rules),
    )


def node_online(node) -> int:
    """The node answers again: its open offline alert resolves (unless its rule says otherwise)."""
    open_alerts = Alert.objects.filter(type=AlertType.NODE_OFFLINE, node=node).exclude(
        rule__auto_resolve=False
    )
    return services.resolve(open_alerts, resolution="The node is online again.")
