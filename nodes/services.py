"""Node state changes: create/edit/delete, enrollment, health checks and port allocations."""

import hashlib
import ipaddress
import logging
import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.audit import audit
from config.crypto import decrypt, encrypt
from nodes import client as node_client
from nodes.models import Allocation, DeploymentToken, Location, Node, NodeEvent

logger = logging.getLogger(__name__)

LOCAL_SOCKET = Path("/var/run/docker.sock")
DOCKER_URL = re.compile(r"^(unix:///\S+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?)$")
MAX_ALLOCATIONS_PER_REQUEST = 1000


def _sha256(value: str) -> str:
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


@transaction.atomic
def node_create(*, actor=None, request=None, ssh_private_key: str = "", **fields) -> tuple[Node, str]:
    """Create a node. SSH nodes get a fresh ed25519 key pair unless one is given. Returns the node secret once."""
    fields.setdefault("docker_url", "unix:///var/run/docker.sock")
    _validate_docker_url(fields["docker_url"])
    if Node.objects.filter(name__iexact=fields["name"]).exists():
        raise exceptions.ValidationError({"name": ["A node with this name already exists."]})
    if ssh_private_key:
        try:
            node_client.load_private_key(ssh_private_key)
        except ValueError as exc:
            raise exceptions.ValidationError({"ssh_private_key": [str(exc)]}) from exc
    elif fields["docker_url"].startswith("ssh://"):
        ssh_private_key, _ = node_client.generate_keypair()
    secret = secrets.token_urlsafe(32)
    node = Node.objects.create(
        ssh_private_key=encrypt(ssh_private_key), secret_hash=_sha256(secret), **fields
    )
    audit("node.create", actor=actor, request=request, resource=node, name=node.name)
    return node, secret


@transaction.atomic
def node_update(
    *, node: Node, actor=None, request=None, ssh_private_key: str | None = None, **changes
) -> Node:
    if "docker_url" in changes:
        _validate_docker_url(changes["docker_url"])
    name = changes.get("name")
    if name and Node.objects.filter(name__iexact=name).exclude(pk=node.pk).exists():
        raise exceptions.ValidationError({"name": ["A node with this name already exists."]})
    if ssh_private_key:
        try:
            node_client.load_private_key(ssh_private_key)
        except ValueError as exc:
            raise exceptions.ValidationError({"ssh_private_key": [str(exc)]}) from exc
        node.ssh_private_key = encrypt(ssh_private_key)
    moved = any(key in changes for key in ("docker_url",)) and changes["docker_url"] != node.docker_url
    for field, value in changes.items():
        setattr(node, field, value)
    if moved:
        node.ssh_host_key = ""  # a new address is a new first contact
    node.save()
    node_client.forget(node)
    audit("node.update", actor=actor, request=request, resource=node, changes=sorted(changes))
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


@transaction.atomic
def node_register_local(*, socket: Path = LOCAL_SOCKET) -> tuple[Node | None, str]:
    """Register this machine's Docker engine as the first node, once. Returns the node and what happened."""
    if not socket.exists():
        return None, (
            f"No Docker socket at {socket}: no local node registered. Install Docker "
            "(`apt install docker.io`) and run `manage.py bootstrap` again, or add a node in the admin."
        )
    existing = Node.objects.filter(docker_url=f"unix://{socket}").first()
    if existing:
        return existing, f"Local node '{existing.name}' already registered."
    location, _ = Location.objects.get_or_create(name="local", defaults={"description": "This machine"})
    node, _ = node_create(
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
    allocations_create(node=node, ip="0.0.0.0", ports="25565-25584")  # noqa: S104 - players connect from anywhere
    return node, f"Registered the local Docker engine as node '{node.name}' with ports 25565-25584."


# --- Enrollment ---------------------------------------------------------------------------------


@transaction.atomic
def deployment_token_create(*, node: Node, actor=None, request=None) -> dict:
    """A single-use link to the enrollment script; also rotates the node secret (shown once)."""
    if not node.ssh_private_key:
        private, _ = node_client.generate_keypair()
        node.ssh_private_key = encrypt(private)
    secret = secrets.token_urlsafe(32)
    node.secret_hash = _sha256(secret)
    node.save(update_fields=["ssh_private_key", "secret_hash", "updated_at"])
    raw = secrets.token_urlsafe(32)
    token = DeploymentToken.objects.create(
        node=node,
        token_hash=_sha256(raw),
        expires_at=timezone.now() + timedelta(minutes=settings.NODE_DEPLOY_TOKEN_MINUTES),
    )
    audit("node.deployment_token", actor=actor, request=request, resource=node)
    return {
        "deployment_token": raw,
        "secret": secret,
        "deploy_url": f"{settings.PUBLIC_URL}/api/deploy/{raw}",
        "expires_at": token.expires_at,
    }


def deployment_token_get(raw: str, *, lock: bool = False) -> DeploymentToken:
    """The usable token for `raw`, or 404 (unknown) / 410-style 400 (used or expired)."""
    tokens = DeploymentToken.objects.select_related("node")
    if lock:
        tokens = tokens.select_for_update()
    token = tokens.filter(token_hash=_sha256(raw)).first()
    if token is None:
        raise exceptions.NotFound("Unknown deployment token.")
    if token.used_at is not None:
        raise exceptions.ValidationError(
            {"token": ["This deployment token was already used. Generate a new one."]}
        )
    if token.expires_at <= timezone.now():
        raise exceptions.ValidationError(
            {"token": ["This deployment token has expired. Generate a new one."]}
        )
    return token


def deploy_script(raw: str) -> str:
    """The enrollment shell script for a valid token (Debian/Ubuntu, run as root)."""
    from django.template.loader import render_to_string

    token = deployment_token_get(raw)
    node = token.node
    return render_to_string(
        "nodes/deploy.sh",
        {
            "node": node,
            "public_key": node_public_key(node),
            "callback_url": f"{settings.PUBLIC_URL}/api/deploy/{raw}/complete",
            "data_dir": node.data_dir,
        },
    )


def node_enroll(*, raw_token: str, host_key: str, ssh_user: str, ssh_port: int, hostname: str = "") -> Node:
    """The script's callback: spend the token, pin the host key, point the node at ssh:// and check it."""
    with transaction.atomic():
        token = deployment_token_get(raw_token, lock=True)
        try:
            node_client._parse_host_key(host_key)
        except Exception as exc:
            raise exceptions.ValidationError({"host_key": ["Not an OpenSSH public host key line."]}) from exc
        token.used_at = timezone.now()
        token.save(update_fields=["used_at"])
        node = token.node
        host = hostname or node.hostname
        node.docker_url = f"ssh://{ssh_user}@{host}:{ssh_port}"
        node.ssh_host_key = " ".join(host_key.split()[:2])
        node.save(update_fields=["docker_url", "ssh_host_key", "updated_at"])
        NodeEvent.objects.create(
            node=node, kind=NodeEvent.Kind.ENROLLED, message=f"Enrolled as {node.docker_url}"
        )
        audit("node.enroll", resource=node, dockerUrl=node.docker_url)
    node_client.forget(node)
    node_check_health(node=node, failures_to_offline=1)
    node.refresh_from_db()
    return node


# --- Health -------------------------------------------------------------------------------------

_PROBE = (
    "head -1 /proc/stat; sleep 0.3; head -1 /proc/stat; "
    "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; "
    'df -Pk "$1" 2>/dev/null | tail -1 || df -Pk / | tail -1; cut -d" " -f1 /proc/uptime; '
    'echo "$(id -u):$(id -g)"'
)


def _parse_probe(output: str) -> dict:
    lines = output.strip().splitlines()
    first, second = ([int(v) for v in line.split()[1:]] for line in lines[:2])
    busy = lambda row: sum(row) - row[3] - (row[4] if len(row) > 4 else 0)  # noqa: E731 - idle + iowait
    total_delta = sum(second) - sum(first)
    cpu = 100.0 * (busy(second) - busy(first)) / total_delta if total_delta else 0.0
    mem = {line.split(":")[0]: int(line.split()[1]) // 1024 for line in lines[2:4]}
    df = lines[4].split()
    return {
        "cpu_percent": round(cpu, 1),
        "memory_total_mb": mem.get("MemTotal", 0),
        "memory_used_mb": mem.get("MemTotal", 0) - mem.get("MemAvailable", 0),
        "disk_total_mb": int(df[1]) // 1024,
        "disk_used_mb": int(df[2]) // 1024,
        "uptime_seconds": int(float(lines[5])),
        "login_user": lines[6].strip() if len(lines) > 6 else "",
    }


def _record_transition(node: Node, *, online: bool, message: str) -> None:
    kind = NodeEvent.Kind.ONLINE if online else NodeEvent.Kind.OFFLINE
    NodeEvent.objects.create(node=node, kind=kind, message=message)
    logger.warning("Node %s is now %s: %s", node.name, kind, message)


def node_check_health(*, node: Node, failures_to_offline: int | None = None) -> dict:
    """Probe a node and store the report. N failures in a row mark it offline; one success, online."""
    failures_to_offline = failures_to_offline or settings.NODE_OFFLINE_AFTER_FAILURES
    client = node_client.client_for(node)
    started = time.monotonic()
    report: dict = {"checked_at": timezone.now().isoformat()}
    try:
        info = client.info()
        if not node.ssh_host_key and client.presented_host_key:
            Node.objects.filter(pk=node.pk, ssh_host_key="").update(ssh_host_key=client.presented_host_key)
        report.update(_parse_probe(client.run(["sh", "-c", _PROBE, "probe", node.data_dir])))
        if not client.is_local:  # game containers run as the SSH user, so it owns what they write
            report["user"] = report["login_user"]
        report.update(
            ok=True,
            docker_version=info.get("ServerVersion", ""),
            cpu_cores=info.get("NCPU"),
            container_count=info.get("Containers", 0),
            containers_running=info.get("ContainersRunning", 0),
            latency_ms=round((time.monotonic() - started) * 1000, 1),
        )
    except (node_client.NodeUnavailable, node_client.NodeCommandFailed) as exc:
        report.update(ok=False, error=str(exc))
        if isinstance(exc, node_client.HostKeyMismatch):
            NodeEvent.objects.create(node=node, kind=NodeEvent.Kind.HOST_KEY_MISMATCH, message=str(exc))

    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=node.pk)
        node.last_health = report
        if report["ok"]:
            node.consecutive_failures = 0
            node.last_seen_at = timezone.now()
            if not node.is_online:
                node.is_online = True
                _record_transition(node, online=True, message="Health check succeeded")
        else:
            node.consecutive_failures += 1
            if node.is_online and node.consecutive_failures >= failures_to_offline:
                node.is_online = False
                _record_transition(node, online=False, message=report["error"])
        node.save(
            update_fields=["last_health", "consecutive_failures", "last_seen_at", "is_online", "updated_at"]
        )
        transaction.on_commit(lambda: publish_node_health(node, report))
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


# --- Allocations --------------------------------------------------------------------------------

PORT_RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$")


def parse_ports(spec: str | list) -> list[int]:
    """'25565', '25565-25665', '25565,25570-25575' or a list of those → sorted unique ports."""
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    ports: set[int] = set()
    for part in parts:
        match = PORT_RANGE.match(str(part))
        if not match:
            raise exceptions.ValidationError(
                {"ports": [f"'{part}' is not a port or a range like 25565-25665."]}
            )
        low, high = int(match[1]), int(match[2] or match[1])
        if not (1 <= low <= high <= 65535):
            raise exceptions.ValidationError({"ports": [f"'{part}' is outside 1-65535 or reversed."]})
        if high - low >= MAX_ALLOCATIONS_PER_REQUEST:
            raise exceptions.ValidationError(
                {"ports": [f"At most {MAX_ALLOCATIONS_PER_REQUEST} ports per request."]}
            )
        ports.update(range(low, high + 1))
    return sorted(ports)


def parse_ips(spec: str) -> list[str]:
    try:
        network = ipaddress.ip_network(spec.strip(), strict=False)
    except ValueError as exc:
        raise exceptions.ValidationError({"ip": [f"'{spec}' is not an IP address or CIDR range."]}) from exc
    hosts = [network.network_address] if network.num_addresses == 1 else list(network.hosts())
    if len(hosts) > MAX_ALLOCATIONS_PER_REQUEST:
        raise exceptions.ValidationError(
            {"ip": [f"At most {MAX_ALLOCATIONS_PER_REQUEST} addresses per request."]}
        )
    return [str(host) for host in hosts]


@transaction.atomic
def allocations_create(
    *, node: Node, ip: str, ports, alias: str = "", notes: str = "", actor=None, request=None
) -> tuple[int, int]:
    """Create every (ip, port) pair of an IP/CIDR and port ranges; existing pairs are skipped. (created, skipped)."""
    ips, port_list = parse_ips(ip), parse_ports(ports)
    total = len(ips) * len(port_list)
    if total > MAX_ALLOCATIONS_PER_REQUEST:
        raise exceptions.ValidationError(
            {"ports": [f"That is {total} allocations; at most {MAX_ALLOCATIONS_PER_REQUEST} per request."]}
        )
    before = Allocation.objects.filter(node=node).count()
    Allocation.objects.bulk_create(
        [Allocation(node=node, ip=i, port=p, alias=alias, notes=notes) for i in ips for p in port_list],
        ignore_conflicts=True,
    )
    created = Allocation.objects.filter(node=node).count() - before
    audit(
        "node.allocations_create",
        actor=actor,
        request=request,
        resource=node,
        addresses=ip,
        ports=str(ports),
        created=created,
    )
    return created, total - created


@transaction.atomic
def allocation_delete(*, allocation: Allocation, actor=None, request=None) -> None:
    if getattr(allocation, "server_id", None):
        raise exceptions.ValidationError(
            {"allocation": ["This allocation is assigned to a server; remove it there first."]}
        )
    audit(
        "node.allocation_delete",
        actor=actor,
        request=request,
        resource=allocation.node,
        allocation=f"{allocation.ip}:{allocation.port}",
    )
    allocation.delete()
