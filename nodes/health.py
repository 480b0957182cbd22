"""Health checks: one probe of a node's engine, CPU, memory and the disk of its data dir, stored as
its report; failures in a row mark it offline, one success online. One engine is one node."""

import logging
import os
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import IllegalTransition
from nodes import client as node_client
from nodes import signals
from nodes.models import Node, NodeEvent, NodeMetric

logger = logging.getLogger(__name__)

# Labelled lines, so a missing or failing part is named rather than shifting every line after it.
_PROBE = r"""
printf 'stat1 %s\n' "$(head -1 /proc/stat)"
sleep 0.3
printf 'stat2 %s\n' "$(head -1 /proc/stat)"
grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
if disk=$(df -Pk "$1" 2>&1); then
  printf 'disk %s\n' "$(printf '%s\n' "$disk" | tail -n 1)"
else
  printf 'disk_error %s\n' "$(printf '%s' "$disk" | tr '\n' ' ')"
fi
printf 'uptime %s\n' "$(cut -d' ' -f1 /proc/uptime)"
printf 'user %s:%s\n' "$(id -u)" "$(id -g)"
"""


class ProbeUnreadable(Exception):
    """The node answered, but its health report lacks a part or has one we cannot read."""


def _cpu_row(line: str) -> list[int]:
    return [int(value) for value in line.split()[1:]]


def _parse_probe(output: str, *, data_dir: str = "") -> dict:
    """The probe's labelled lines → numbers; ProbeUnreadable names the first part that is missing or bad."""
    parts: dict[str, str] = {}
    for line in output.splitlines():
        label, _, rest = line.strip().partition(" ")
        parts.setdefault(label.rstrip(":"), rest.strip())
    if "disk_error" in parts:
        raise ProbeUnreadable(f"cannot measure the data directory {data_dir}: {parts['disk_error']}")
    part = "cpu"
    try:
        first, second = _cpu_row(parts["stat1"]), _cpu_row(parts["stat2"])
        busy = lambda row: sum(row) - row[3] - (row[4] if len(row) > 4 else 0)  # noqa: E731 - idle + iowait
        total_delta = sum(second) - sum(first)
        cpu = 100.0 * (busy(second) - busy(first)) / total_delta if total_delta else 0.0
        part = "memory"
        mem_total, mem_available = (
            int(parts[key].split()[0]) // 1024 for key in ("MemTotal", "MemAvailable")
        )
        part = "disk"
        _, total_kb, used_kb, *_ = parts["disk"].split()
        part = "uptime"
        uptime = int(float(parts["uptime"]))
    except (KeyError, ValueError, IndexError) as exc:
        raise ProbeUnreadable(f"unreadable {part} in the health report ({exc!r}): {output[:300]!r}") from exc
    return {
        "cpu_percent": round(cpu, 1),
        "memory_total_mb": mem_total,
        "memory_used_mb": mem_total - mem_available,
        "disk_total_mb": int(total_kb) // 1024,
        "disk_used_mb": int(used_kb) // 1024,
        "uptime_seconds": uptime,
        "login_user": parts.get("user", ""),
    }


def engine_identity(info: dict) -> str:
    """Which engine answers. Docker's ID alone is not enough: before 23.0 it derives from
    /etc/docker/key.json, which a second daemon on the same host (or a cloned VM) shares."""
    return f"{info.get('ID', '')}@{info.get('Name', '')}:{info.get('DockerRootDir', '')}"


class EngineTaken(IllegalTransition):
    """The engine behind a Docker URL already is another node."""


def _taken_message(owner: Node) -> str:
    return (
        f"This Docker engine already is node '{owner.name}' ({owner.docker_url}): two nodes on one engine "
        "would both act on its events. Use that node, or point this one at another engine."
    )


def refuse_taken_engine(engine_id: str, *, node: Node) -> None:
    owner = Node.objects.filter(engine_id=engine_id).exclude(pk=node.pk).first()
    if owner is not None:
        raise EngineTaken(_taken_message(owner))


def _failed(node: Node, exc: Exception) -> dict:
    if isinstance(exc, node_client.NodeUnavailable | node_client.NodeCommandFailed):
        error = str(exc)
    else:  # the engine answered with an error, or the report was unreadable: still a failed check
        error = f"Node '{node.name}' failed its health check: {exc}"
    report = {"checked_at": timezone.now().isoformat(), "ok": False, "error": error}
    if isinstance(exc, node_client.HostKeyMismatch):
        report["host_key_mismatch"] = True
    return report


def engine_of(node: Node) -> str | dict:
    """The engine identity behind the node's URL, or a failed report saying why it cannot be read."""
    try:
        return engine_identity(node_client.client_for(node).info())
    except Exception as exc:  # every failure is a reason to record, never a 500
        return _failed(node, exc)


def _probe(node: Node, *, prepare: bool) -> dict:
    """Contact the node once and report what it showed."""
    client = node_client.client_for(node)
    started = time.monotonic()
    try:
        info = client.info()
        if prepare:  # registration: the data dir may not exist yet (the local node's never does)
            client.make_directories(node.data_dir)
        report = {"checked_at": timezone.now().isoformat()}
        report.update(
            _parse_probe(client.run(["sh", "-c", _PROBE, "probe", node.data_dir]), data_dir=node.data_dir)
        )
    except Exception as exc:  # every failure is a reason to record, never a 500
        if not isinstance(exc, node_client.NodeUnavailable | node_client.NodeCommandFailed | ProbeUnreadable):
            logger.exception("Health check of node %s failed unexpectedly", node.name)
        return _failed(node, exc)
    if not client.is_local:  # game containers run as the SSH user, so it owns what they write
        report["user"] = report["login_user"]
    report.update(
        ok=True,
        engine_id=engine_identity(info),
        docker_version=info.get("ServerVersion", ""),
        cpu_cores=info.get("NCPU"),
        container_count=info.get("Containers", 0),
        containers_running=info.get("ContainersRunning", 0),
        latency_ms=round((time.monotonic() - started) * 1000, 1),
        problems=files_problems(),
    )
    return report


def files_problems() -> list[str]:
    """What the file features (file manager, SFTP) lack on the panel's machine, which builds the files
    image every node's helpers run (nodes/client/files_image.py). Games still run: the node stays ok."""
    source = settings.FILES_SFTP_SERVER
    if os.path.isfile(source):
        return []
    return [
        f"Files and SFTP cannot work: {source} is missing on the panel's machine. Install the package "
        "openssh-sftp-server (apt-get install openssh-sftp-server) or set HEARTH_FILES_SFTP_SERVER."
    ]


def _record_transition(node: Node, *, online: bool, message: str) -> None:
    kind = NodeEvent.Kind.ONLINE if online else NodeEvent.Kind.OFFLINE
    NodeEvent.objects.create(node=node, kind=kind, message=message)
    logger.warning("Node %s is now %s: %s", node.name, kind, message)
    if online:
        signals.node_online.send(Node, node=node)
    else:
        signals.node_offline.send(Node, node=node, reason=message)


def _percent(used, total) -> float:
    return round(100.0 * used / total, 1) if total else 0.0


def _record_metric(node: Node, report: dict) -> None:
    """A successful check's usage of the host, in percent: the history node alert rules read."""
    NodeMetric.objects.create(
        node=node,
        created_at=node.last_seen_at,
        cpu=report.get("cpu_percent", 0.0),
        memory=_percent(report.get("memory_used_mb", 0), report.get("memory_total_mb", 0)),
        disk=_percent(report.get("disk_used_mb", 0), report.get("disk_total_mb", 0)),
    )


def _claim_engine(node: Node, report: dict) -> None:
    """Remember the node's engine; a report from an engine that already is another node is a failure."""
    owner = Node.objects.filter(engine_id=report["engine_id"]).exclude(pk=node.pk).first()
    if owner is not None:
        report.update(ok=False, error=_taken_message(owner), engine_taken=True)
    else:
        node.engine_id = report["engine_id"]


def store_report(node: Node, report: dict, *, failures_to_offline: int) -> Node:
    try:
        with transaction.atomic():
            return _apply_report(node, report, failures_to_offline=failures_to_offline)
    except IntegrityError:  # another node claimed the same engine at the same moment
        report.update(
            ok=False, error="This Docker engine was just registered as another node.", engine_taken=True
        )
        with transaction.atomic():
            return _apply_report(node, report, failures_to_offline=failures_to_offline)


def _apply_report(node: Node, report: dict, *, failures_to_offline: int) -> Node:
    """Store a check's outcome (the host key is not the check's business: the client pins it)."""
    node = Node.objects.select_for_update().get(pk=node.pk)
    if report["ok"]:
        _claim_engine(node, report)
    if report.pop("host_key_mismatch", False):
        NodeEvent.objects.create(node=node, kind=NodeEvent.Kind.HOST_KEY_MISMATCH, message=report["error"])
    node.last_health = report
    if report["ok"]:
        node.consecutive_failures = 0
        node.last_seen_at = timezone.now()
        _record_metric(node, report)
        if not node.is_online:
            node.is_online = True
            _record_transition(node, online=True, message="Health check succeeded")
    else:
        node.consecutive_failures += 1
        if report.pop("engine_taken", False):  # not a passing failure: it must stop acting at once
            failures_to_offline = 1
        if node.is_online and node.consecutive_failures >= failures_to_offline:
            node.is_online = False
            _record_transition(node, online=False, message=report["error"])
    node.save(
        update_fields=[
            "last_health",
            "consecutive_failures",
            "last_seen_at",
            "is_online",
            "engine_id",
            "updated_at",
        ]
    )
    transaction.on_commit(lambda: publish_node_health(node, report))
    return node


def node_check_health(*, node: Node, failures_to_offline: int | None = None, prepare: bool = False) -> dict:
    """Probe a node and store the report. N failures in a row mark it offline; one success, online.

    Any failure (unreachable, an engine error, an unreadable report, an engine that already is another
    node) is a failed check with its reason. `prepare` (registration) first creates the data dir.
    """
    report = _probe(node, prepare=prepare)
    store_report(
        node,
        report,
        failures_to_offline=failures_to_offline or settings.NODE_OFFLINE_AFTER_FAILURES,
    )
    return report


NODES_GROUP = "nodes"


def publish_node_health(node: Node, report: dict) -> None:
    """Send a node's report to staff watching the nodes (WebSocket `subscribe_nodes`)."""
    from config import realtime

    realtime.publish(
        NODES_GROUP,
        {
            "type": "node_health",
            "nodeId": str(node.pk),
            "name": node.name,
            "isOnline": node.is_online,
            "report": report,
        },
    )
