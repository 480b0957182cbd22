"""Node state changes: create/edit/delete, the local node and health checks (enrollment and port
allocations have modules of their own)."""

import hashlib
import logging
import os
import re
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.audit import audit
from config.api.exceptions import Conflict
from config.crypto import decrypt, encrypt
from nodes import client as node_client
from nodes.allocations import allocations_create
from nodes.models import Location, Node, NodeEvent

logger = logging.getLogger(__name__)

LOCAL_SOCKET = Path("/var/run/docker.sock")
DOCKER_URL = re.compile(r"^(unix:///\S+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?)$")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _machine_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def node_public_key(node: Node) -> str:
    """The public half of the panel's key for this node (what goes in the node's authorized_keys)."""
    if not node.ssh_private_key:
        return ""
    key = node_client.load_private_key(decrypt(node.ssh_private_key))
    return f"{key.get_name()} {key.get_base64()} hearth-panel-{node.name}"


def _validate_docker_url(url: str) -> None:
    if not DOCKER_URL.match(url):
        raise exceptions.ValidationError(
            {"docker_url": ["Use unix:///var/run/docker.sock or ssh://user@host:port."]}
        )


def _require_docker_url(url: str) -> None:
    if not url:  # no silent default: the panel's own engine must be chosen, not fallen into
        raise exceptions.ValidationError(
            {
                "docker_url": [
                    "Required: unix:///var/run/docker.sock for this machine's engine, "
                    "or ssh://user@host:port for a remote one."
                ]
            }
        )
    _validate_docker_url(url)


def _refuse_unique_name(name: str, *, exclude: Node | None = None) -> None:
    nodes = Node.objects.filter(name__iexact=name)
    if exclude is not None:
        nodes = nodes.exclude(pk=exclude.pk)
    if nodes.exists():
        raise exceptions.ValidationError({"name": ["A node with this name already exists."]})


def _check_private_key(ssh_private_key: str) -> None:
    try:
        node_client.load_private_key(ssh_private_key)
    except ValueError as exc:
        raise exceptions.ValidationError({"ssh_private_key": [str(exc)]}) from exc


def _refuse_overlapping_data_dir(data_dir: str, *, node: Node | None = None) -> None:
    from servers.mounts import data_dir_problems  # servers depends on nodes, not the other way round

    if problems := data_dir_problems(data_dir, exclude_node=node):
        raise exceptions.ValidationError({"data_dir": [f"{data_dir}: {problem}" for problem in problems]})


def node_create(*, actor=None, request=None, ssh_private_key: str = "", **fields) -> tuple[Node, str]:
    """Create a node and check it at once (a healthy node is online on return). SSH nodes get a fresh
    ed25519 key pair unless one is given. Returns the node secret once. An engine that already is a
    node is refused (409): both nodes would act on its events."""
    _require_docker_url(fields.get("docker_url", ""))
    _refuse_overlapping_data_dir(fields.get("data_dir") or Node._meta.get_field("data_dir").default)
    _refuse_unique_name(fields["name"])
    if ssh_private_key:
        _check_private_key(ssh_private_key)
    elif fields["docker_url"].startswith("ssh://"):
        ssh_private_key, _ = node_client.generate_keypair()
    secret = secrets.token_urlsafe(32)
    node = Node(ssh_private_key=encrypt(ssh_private_key), secret_hash=sha256_hex(secret), **fields)
    engine = _engine_of(node)
    if isinstance(engine, str):
        _refuse_taken_engine(engine, node=node)
    with transaction.atomic():
        _refuse_unique_name(fields["name"])
        node.save(force_insert=True)
        audit("node.create", actor=actor, request=request, resource=node, name=node.name)
    if isinstance(engine, str):
        node_check_health(node=node, failures_to_offline=1, prepare=True)
    else:  # unreachable now (an SSH node waiting for enrollment, say): record why, no second wait
        _store_report(node, engine, failures_to_offline=1)
    node.refresh_from_db()
    return node, secret


def node_update(
    *, node: Node, actor=None, request=None, ssh_private_key: str | None = None, **changes
) -> Node:
    """Edit a node; a new address or data dir is checked at once, and an address of an engine that is
    already another node is refused (409)."""
    if "docker_url" in changes:
        _require_docker_url(changes["docker_url"])
    if name := changes.get("name"):
        _refuse_unique_name(name, exclude=node)
    if "data_dir" in changes:
        _refuse_overlapping_data_dir(changes["data_dir"], node=node)
    if ssh_private_key:
        _check_private_key(ssh_private_key)
        node.ssh_private_key = encrypt(ssh_private_key)
    moved = "docker_url" in changes and changes["docker_url"] != node.docker_url
    recheck = moved or bool(ssh_private_key) or changes.get("data_dir", node.data_dir) != node.data_dir
    for field, value in changes.items():
        setattr(node, field, value)
    if moved:
        node.ssh_host_key = ""  # a new address is a new first contact
        node.engine_id = ""
        node_client.forget(node)
        engine = _engine_of(node)
        if isinstance(engine, str):
            _refuse_taken_engine(engine, node=node)
    with transaction.atomic():
        node.save()
        audit("node.update", actor=actor, request=request, resource=node, changes=sorted(changes))
    node_client.forget(node)
    if recheck:
        node_check_health(node=node, failures_to_offline=1, prepare=True)
        node.refresh_from_db()
    return node


@transaction.atomic
def node_delete(*, node: Node, actor=None, request=None) -> None:
    servers = getattr(node, "servers", None)
    if servers is not None and servers.exists():
        raise exceptions.ValidationError(
            {
                "node": [
                    f"Cannot delete node with active servers ({servers.count()}); transfer or delete them first."
                ]
            }
        )
    audit("node.delete", actor=actor, request=request, resource=node, name=node.name)
    node_client.forget(node)
    node.delete()


def _state(node: Node) -> str:
    return "online" if node.is_online else f"offline: {node.last_health.get('error', 'not checked yet')}"


def node_register_local(*, socket: Path = LOCAL_SOCKET) -> tuple[Node | None, str]:
    """Register this machine's Docker engine as the first node, once. Returns the node and what happened."""
    if not socket.exists():
        return None, (
            f"No Docker socket at {socket}: no local node registered. Install Docker "
            "(`apt install docker.io`) and run `manage.py bootstrap` again, or add a node in the admin."
        )
    existing = Node.objects.filter(docker_url=f"unix://{socket}").first()
    if existing:
        if not existing.is_online:  # a fresh start should not wait for beat's next round
            node_check_health(node=existing, failures_to_offline=1, prepare=True)
            existing.refresh_from_db()
        return existing, f"Local node '{existing.name}' already registered ({_state(existing)})."
    location, _ = Location.objects.get_or_create(name="local", defaults={"description": "This machine"})
    try:
        node, _ = _create_local_node(socket, location)
    except EngineTaken as exc:
        return None, f"Local node not registered: {exc.detail}"
    allocations_create(node=node, ip="0.0.0.0", ports="25565-25584")  # noqa: S104 - players connect from anywhere
    return node, (
        f"Registered the local Docker engine as node '{node.name}' with ports 25565-25584 ({_state(node)})."
    )


def _create_local_node(socket: Path, location: Location) -> tuple[Node, str]:
    return node_create(
        name="local",
        description="The panel's own machine",
        location=location,
        hostname="localhost",
        public_address="127.0.0.1",
        docker_url=f"unix://{socket}",
        data_dir=str(settings.DATA_DIR / "node-local"),
        max_memory_mb=_machine_memory_mb(),
        max_cpu_cores=os.cpu_count() or 1,
    )


# --- Health -------------------------------------------------------------------------------------

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


def _engine_identity(info: dict) -> str:
    """Which engine answers. Docker's ID alone is not enough: before 23.0 it derives from
    /etc/docker/key.json, which a second daemon on the same host (or a cloned VM) shares."""
    return f"{info.get('ID', '')}@{info.get('Name', '')}:{info.get('DockerRootDir', '')}"


class EngineTaken(Conflict):
    """The engine behind a Docker URL already is another node."""


def _taken_message(owner: Node) -> str:
    return (
        f"This Docker engine already is node '{owner.name}' ({owner.docker_url}): two nodes on one engine "
        "would both act on its events. Use that node, or point this one at another engine."
    )


def _refuse_taken_engine(engine_id: str, *, node: Node) -> None:
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


def _engine_of(node: Node) -> str | dict:
    """The engine identity behind the node's URL, or a failed report saying why it cannot be read."""
    try:
        return _engine_identity(node_client.client_for(node).info())
    except Exception as exc:  # every failure is a reason to record, never a 500
        return _failed(node, exc)


def _probe(node: Node, *, prepare: bool) -> tuple[dict, str]:
    """Contact the node once: (the report, the SSH host key it presented)."""
    client = node_client.client_for(node)
    started = time.monotonic()
    try:
        info = client.info()
        host_key = client.presented_host_key
        if prepare:  # registration: the data dir may not exist yet (the local node's never does)
            client.run(["mkdir", "-p", node.data_dir])
        report = {"checked_at": timezone.now().isoformat()}
        report.update(
            _parse_probe(client.run(["sh", "-c", _PROBE, "probe", node.data_dir]), data_dir=node.data_dir)
        )
    except Exception as exc:  # every failure is a reason to record, never a 500
        if not isinstance(exc, node_client.NodeUnavailable | node_client.NodeCommandFailed | ProbeUnreadable):
            logger.exception("Health check of node %s failed unexpectedly", node.name)
        return _failed(node, exc), ""
    if not client.is_local:  # game containers run as the SSH user, so it owns what they write
        report["user"] = report["login_user"]
    report.update(
        ok=True,
        engine_id=_engine_identity(info),
        docker_version=info.get("ServerVersion", ""),
        cpu_cores=info.get("NCPU"),
        container_count=info.get("Containers", 0),
        containers_running=info.get("ContainersRunning", 0),
        latency_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return report, host_key


def _record_transition(node: Node, *, online: bool, message: str) -> None:
    kind = NodeEvent.Kind.ONLINE if online else NodeEvent.Kind.OFFLINE
    NodeEvent.objects.create(node=node, kind=kind, message=message)
    logger.warning("Node %s is now %s: %s", node.name, kind, message)


def _claim_engine(node: Node, report: dict) -> None:
    """Remember the node's engine; a report from an engine that already is another node is a failure."""
    owner = Node.objects.filter(engine_id=report["engine_id"]).exclude(pk=node.pk).first()
    if owner is not None:
        report.update(ok=False, error=_taken_message(owner), engine_taken=True)
    else:
        node.engine_id = report["engine_id"]


def _store_report(node: Node, report: dict, *, host_key: str = "", failures_to_offline: int) -> Node:
    try:
        with transaction.atomic():
            return _apply_report(node, report, host_key=host_key, failures_to_offline=failures_to_offline)
    except IntegrityError:  # another node claimed the same engine at the same moment
        report.update(
            ok=False, error="This Docker engine was just registered as another node.", engine_taken=True
        )
        with transaction.atomic():
            return _apply_report(node, report, host_key=host_key, failures_to_offline=failures_to_offline)


def _apply_report(node: Node, report: dict, *, host_key: str, failures_to_offline: int) -> Node:
    node = Node.objects.select_for_update().get(pk=node.pk)
    if report["ok"]:
        _claim_engine(node, report)
    if host_key and not node.ssh_host_key:
        node.ssh_host_key = host_key  # first contact pins it
    if report.pop("host_key_mismatch", False):
        NodeEvent.objects.create(node=node, kind=NodeEvent.Kind.HOST_KEY_MISMATCH, message=report["error"])
    node.last_health = report
    if report["ok"]:
        node.consecutive_failures = 0
        node.last_seen_at = timezone.now()
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
            "ssh_host_key",
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
    report, host_key = _probe(node, prepare=prepare)
    _store_report(
        node,
        report,
        host_key=host_key,
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
