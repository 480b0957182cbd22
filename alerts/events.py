"""Alerts raised by what happened rather than by a metric: a server crashed (the monitor's decision),
a node went offline (the health checker's transition); and their recoveries, which resolve them.
They arrive as signals of servers and nodes (servers/signals.py, nodes/signals.py), sent in the
transaction that records them: `connect()` (alerts/apps.py) subscribes.

A crash loop (crash, restart, running, crash…) is one alert: while it is open, or when the server's
running again resolved it less than the dedupe window ago, another crash reopens it, counts the
occurrence and brings its metadata (exit code, crash count) up to date; nothing is sent again, except
once when a crash is not restarted after one that was (the owner's last message said "Restarting.";
now the server stays down: the alert reads "… crashed and was not restarted" and is sent). A stop
or kill someone asked for is no crash: servers/crash.py records it as stopped and signals nothing.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts import delivery, services
from alerts.models import Alert, AlertRule, AlertType, Severity
from nodes import signals as node_signals
from servers import signals as server_signals

RUNNING_AGAIN = "The server is running again."
ONLINE_AGAIN = "The node is online again."


def _rules(type: str, target: str, target_id) -> list[AlertRule]:
    return list(
        AlertRule.objects.filter(type=type, target=target, enabled=True, target_id__in=("*", str(target_id)))
    )


def _dedupe(rules) -> int:
    return max((rule.dedupe_seconds for rule in rules), default=settings.ALERT_DEDUPE_SECONDS)


def server_crashed(
    server, *, exit_code, oom: bool, crash_count: int, restarting: bool, reason: str = ""
) -> Alert | None:
    """On servers.signals.server_crashed, in the crash's transaction, which holds the server's row lock: two
    crashes of one server are never recorded at once. Returns the alert when something was sent (a new
    alert, or the loop's alert now that the server stays down), None for a plain repeat."""
    rules = _rules(AlertType.SERVER_CRASHED, AlertRule.Target.SERVER, server.pk)
    fingerprint = f"{AlertType.SERVER_CRASHED}:server:{server.pk}"
    why = f"exit code {exit_code}" + (", out of memory" if oom else "")
    message = f"{server.name} crashed ({why}). " + (
        reason or ("Restarting." if restarting else "Not restarting.")
    )
    metadata = {
        "exitCode": exit_code,
        "oom": oom,
        "reason": f"Exited with code {exit_code}" + (" (out of memory)" if oom else ""),
        "crashCount": crash_count,
        "restarting": restarting,
    }
    dedupe = _dedupe(rules)
    severity = services.most_severe((rule.severity for rule in rules), Severity.CRITICAL)
    now = timezone.now()
    with transaction.atomic():
        loop = services.repeatable(fingerprint, reopen=(RUNNING_AGAIN,), dedupe_seconds=dedupe, now=now)
        if loop is not None:
            down = f"{server.name} crashed and was not restarted"
            return _crash_again(
                loop, rules, now=now, message=message, metadata=metadata, title=down, severity=severity
            )
        return services.raise_alert(
            type=AlertType.SERVER_CRASHED,
            fingerprint=fingerprint,
            title=f"{server.name} crashed",
            message=message,
            severity=severity,
            metadata=metadata,
            server=server,
            node=server.node,
            rules=rules,
            dedupe_seconds=dedupe,
            reopen=(RUNNING_AGAIN,),
        )


def _crash_again(
    alert: Alert, rules, *, now, message: str, metadata: dict, title: str, severity: str
) -> Alert | None:
    """Record a crash on the loop's alert (open, or resolved by a recent run: reopened). The owner's
    last message said "restarting": when this crash is not restarted, the alert says so and is sent
    again (the server now stays down). Returns the alert when it was sent, else None."""
    escalates = bool(alert.metadata.get("restarting")) and not metadata["restarting"]
    changes = {"message": message, "metadata": {**alert.metadata, **metadata}}
    if escalates:
        changes.update(title=title[:200], severity=severity)
    counted = services.record_repeat(alert, now, **changes)
    if not escalates or counted.pk != alert.pk:
        return None
    counted.refresh_from_db()
    delivery.deliver_on_commit(counted, rules)
    return counted


def server_running(server_id) -> int:
    """The server runs again (servers.signals.server_running, in set_status's transaction): its open crash
    alert resolves, unless its rule says otherwise. Returns how many were resolved."""
    open_alerts = Alert.objects.filter(
        type=AlertType.SERVER_CRASHED, server_id=server_id, resolved=False
    ).exclude(rule__auto_resolve=False)
    if not open_alerts.exists():
        return 0
    return services.resolve(open_alerts, resolution=RUNNING_AGAIN)


def node_offline(node, *, reason: str) -> Alert | None:
    """On nodes.signals.node_offline, in the health check's transaction."""
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
    open_alerts = Alert.objects.filter(type=AlertType.NODE_OFFLINE, node=node, resolved=False).exclude(
        rule__auto_resolve=False
    )
    return services.resolve(open_alerts, resolution=ONLINE_AGAIN)


def server_expiring(server, *, days_left: int) -> Alert | None:
    """A reminder that `server` expires in `days_left` days (servers.expiry signals each threshold once), to
    the owner by email, the rules' actions (a billing integration's webhook) and the server's
    subscriptions. An earlier reminder still open is resolved by this one."""
    rules = _rules(AlertType.SERVER_EXPIRING, AlertRule.Target.SERVER, server.pk)
    when = server.expire_at
    reminded(server, "A later reminder was sent.")
    return services.raise_alert(
        type=AlertType.SERVER_EXPIRING,
        fingerprint=f"{AlertType.SERVER_EXPIRING}:server:{server.pk}:{when.isoformat()}:{days_left}",
        title=f"{server.name} expires in {days_left} day{'s' if days_left != 1 else ''}",
        message=(
            f"{server.name} expires on {when:%Y-%m-%d %H:%M} UTC. Renew it before then to keep it running: "
            "once it has expired it is suspended."
        ),
        severity=services.most_severe((rule.severity for rule in rules), Severity.WARNING),
        metadata={"expireAt": when.isoformat(), "daysLeft": days_left},
        server=server,
        node=server.node,
        rules=rules,
        dedupe_seconds=0,
    )


def reminded(server, resolution: str) -> int:
    """The server's open expiry reminders resolve: it was renewed, it expired, or a later one was sent."""
    open_alerts = Alert.objects.filter(type=AlertType.SERVER_EXPIRING, server=server, resolved=False)
    return services.resolve(open_alerts, resolution=resolution)


def connect() -> None:
    """Subscribe to the signals of servers and nodes (once: dispatch_uid)."""
    receivers = {  # Django asks receivers to take **kwargs (it checks under DEBUG)
        "server_crashed": (
            server_signals.server_crashed,
            lambda server, **crash: server_crashed(server, **_details(crash)),
        ),
        "server_running": (server_signals.server_running, lambda server_id, **_: server_running(server_id)),
        "node_offline": (
            node_signals.node_offline,
            lambda node, reason, **_: node_offline(node, reason=reason),
        ),
        "node_online": (node_signals.node_online, lambda node, **_: node_online(node)),
        "server_expiring": (
            server_signals.server_expiring,
            lambda server, days_left, **_: server_expiring(server, days_left=days_left),
        ),
        "server_expiry_ended": (
            server_signals.server_expiry_ended,
            lambda server, resolution, **_: reminded(server, resolution),
        ),
    }
    for name, (signal, receiver) in receivers.items():
        signal.connect(receiver, weak=False, dispatch_uid=f"alerts.events.{name}")


def _details(sent: dict) -> dict:
    """What a signal sent, without the arguments every signal carries."""
    return {key: value for key, value in sent.items() if key not in ("sender", "signal")}
