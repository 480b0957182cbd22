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
from config.api.throttling import TooManyAttempts, charge
from config.crypto import decrypt, encrypt
from nodes import client as node_client
from nodes.allocations import allocations_create
from nodes.hostkeys import (
    HostKeyRefused,
    clean_host_key,
    edited_host_key,
    moved_to_another_key,
    record_first_pin,
    refuse_moving_a_node_with_servers,
)
from nodes.models import Location, Node, NodeEvent
from nodes.validation import clean_node_fields

logger = logging.getLogger(__name__)

LOCAL_SOCKET = Path("/var/run/docker.sock")
KEY_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _machine_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def node_public_key(node: Node) -> str:
    """The public half of the panel's key for this node (what goes in the node's authorized_keys)."""
    if not node.ssh_private_key:
        return ""
    key = node_client.load_private_key(decrypt(node.ssh_private_key))
    return f"{key.get_name()} {key.get_base64()} hearth-panel-{node_label(node)}"


def node_label(node: Node) -> str:
    """The node's name in safe characters only, for a key comment or a script's output: one line, no
    terminal escapes, whatever an older row holds (names are checked now, but were not always)."""
    return KEY_COMMENT_UNSAFE.sub("_", node.name)


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


def _charge_contact(actor) -> None:
    """Count a staff-started connection to a node address (a test, a create, a new address): without a
    limit, the node test is a port scanner of whatever network the panel sits in."""
    if actor is None:  # the panel's own checks (beat, bootstrap)
        return
    allowed, state = charge("node-contact", f"user:{actor.pk}")
    if not allowed:
        raise TooManyAttempts(
            "Too many node tests and address changes for now; try again in {wait} s.", state=state
        )


def _refuse_overlapping_data_dir(data_dir: str, *, node: Node | None = None) -> None:
    from servers.mounts import data_dir_problems  # servers depends on nodes, not the other way round

    if problems := data_dir_problems(data_dir, exclude_node=node):
        raise exceptions.ValidationError({"data_dir": [f"{data_dir}: {problem}" for problem in problems]})


def node_create(*, actor=None, request=None, ssh_private_key: str = "", **fields) -> tuple[Node, str]:
    """Create a node and check it at once (a healthy node is online on return). SSH nodes get a fresh
    ed25519 key pair unless one is given. Returns the node secret once. An engine that already is a
    node is refused (409): both nodes would act on its events."""
    fields = clean_node_fields(fields, required=("name", "docker_url"))
    _charge_contact(actor)
    _refuse_overlapping_data_dir(fields.get("data_dir") or Node._meta.get_field("data_dir").default)
    _refuse_unique_name(fields["name"])
    if fields.get("ssh_host_key"):  # given up front: strict from the first connection
        fields["ssh_host_key"] = clean_host_key(fields["ssh_host_key"])
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
        record_first_pin(node, previous_key=fields.get("ssh_host_key", ""))
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
    already another node is refused (409).

    The pinned host key is the node's, whatever its address (OpenSSH's HostKeyAlias): a new address
    must present it, unless staff give the new key in the same edit; a node with servers is moved only
    by `trust.node_repoint`, and a pinned key changed or forgotten only by the host-key actions."""
    changes = clean_node_fields(changes)
    if changes.get("docker_url", node.docker_url) != node.docker_url:
        _charge_contact(actor)
    if name := changes.get("name"):
        _refuse_unique_name(name, exclude=node)
    moved = "docker_url" in changes and changes["docker_url"] != node.docker_url
    if moved:
        refuse_moving_a_node_with_servers(node)
    if "ssh_host_key" in changes:
        changes["ssh_host_key"] = edited_host_key(node, changes["ssh_host_key"], moved=moved)
    if "data_dir" in changes:
        _refuse_overlapping_data_dir(changes["data_dir"], node=node)
    if ssh_private_key:
        _check_private_key(ssh_private_key)
        node.ssh_private_key = encrypt(ssh_private_key)
    previous_key = node.ssh_host_key
    rekeyed = changes.get("ssh_host_key", previous_key) != previous_key
    recheck = moved or rekeyed or bool(ssh_private_key)
    recheck = recheck or changes.get("data_dir", node.data_dir) != node.data_dir
    for field, value in changes.items():
        setattr(node, field, value)
    if moved:
        node.engine_id = ""
        node_client.forget(node)
        engine = _engine_of(node)
        if isinstance(engine, str):
            _refuse_taken_engine(engine, node=node)
        elif engine.get("host_key_mismatch"):
            raise HostKeyRefused(moved_to_another_key(node, engine["error"]))
    with transaction.atomic():
        node.save(update_fields=_fields_to_save(node, previous_key=previous_key))
        if "ssh_host_key" not in changes:
            record_first_pin(node, previous_key=previous_key)
        if previous_key and node.ssh_host_key != previous_key:
            NodeEvent.objects.create(
                node=node,
                kind=NodeEvent.Kind.HOST_KEY_REPLACED,
                message=f"Host key {node_client.fingerprint(previous_key)} replaced by "
                f"{node_client.fingerprint(node.ssh_host_key)}, given by staff with the address {node.docker_url}",
            )
        audit("node.update", actor=actor, request=request, resource=node, changes=sorted(changes))
    node_client.forget(node)
    if recheck:
        node_check_health(node=node, failures_to_offline=1, prepare=True)
        node.refresh_from_db()
    return node


def _fields_to_save(node: Node, *, previous_key: str) -> list[str]:
    """Every field but the host key, unless this edit set or learnt one: a copy loaded before the first
    contact pinned a key must not write the old empty value back."""
    fields = [f.name for f in Node._meta.concrete_fields if not f.primary_key]
    if node.ssh_host_key == previous_key:
        fields.remove("ssh_host_key")
    return fields


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
    except exceptions.ValidationError as exc:  # HEARTH_DATA_DIR or HEARTH_NODE_LOCAL_SOCKETS refuse it
        reasons = "; ".join(f"{field}: {' '.join(map(str, why))}" for field, why in exc.detail.items())
        return None, f"Local node not registered: {reasons}"
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


def _probe(node: Node, *, prepare: bool) -> dict:
    """Contact the node once and report what it showed."""
    client = node_client.client_for(node)
    started = time.monotonic()
    try:
        info = client.info()
        if prepare:  # registration: the data dir may not exist yet (the local node's never does)
            client.run(["mkdir", "-p", node.data_dir])
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
        engine_id=_engine_identity(info),
        docker_version=info.get("ServerVersion", ""),
        cpu_cores=info.get("NCPU"),
        container_count=info.get("Containers", 0),
        containers_running=info.get("ContainersRunning", 0),
        latency_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return report


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


def _store_report(node: Node, report: dict, *, failures_to_offline: int) -> Node:
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
    _store_report(
        node,
        report,
        failures_to_offline=failures_to_offline or settings.NODE_OFFLINE_AFTER_FAILURES,
    )
    return report


def node_test(*, node: Node, actor, request=None) -> dict:
    """A staff-started health check: rate-limited per staff member and audited with the address tried."""
    _charge_contact(actor)
    report = node_check_health(node=node)
    audit(
        "node.test", actor=actor, request=request, resource=node, dockerUrl=node.docker_url, ok=report["ok"]
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
