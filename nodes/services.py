"""Node state changes: create/edit/delete and the local node (health checks, enrollment, trust and port
allocations have modules of their own)."""

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from rest_framework import exceptions

from accounts.audit import audit
from config.api.throttling import TooManyAttempts, charge
from config.crypto import decrypt, encrypt
from config.errors import InvalidInput
from nodes import client as node_client
from nodes.allocations import allocations_create
from nodes.health import EngineTaken, engine_of, node_check_health, refuse_taken_engine, store_report
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


def charge_contact(actor) -> None:
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
    from nodes.datadirs import data_dir_problems

    if problems := data_dir_problems(data_dir, exclude_node=node):
        raise exceptions.ValidationError({"data_dir": [f"{data_dir}: {problem}" for problem in problems]})


def node_create(*, actor=None, request=None, ssh_private_key: str = "", **fields) -> tuple[Node, str]:
    """Create a node and check it at once (a healthy node is online on return). SSH nodes get a fresh
    ed25519 key pair unless one is given. Returns the node secret once. An engine that already is a
    node is refused (409): both nodes would act on its events."""
    fields = clean_node_fields(fields, required=("name", "docker_url"))
    charge_contact(actor)
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
    engine = engine_of(node)
    if isinstance(engine, str):
        refuse_taken_engine(engine, node=node)
    with transaction.atomic():
        _refuse_unique_name(fields["name"])
        node.save(force_insert=True)
        record_first_pin(node, previous_key=fields.get("ssh_host_key", ""))
        audit("node.create", actor=actor, request=request, resource=node, name=node.name)
    if isinstance(engine, str):
        node_check_health(node=node, failures_to_offline=1, prepare=True)
    else:  # unreachable now (an SSH node waiting for enrollment, say): record why, no second wait
        store_report(node, engine, failures_to_offline=1)
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
        charge_contact(actor)
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
        engine = engine_of(node)
        if isinstance(engine, str):
            refuse_taken_engine(engine, node=node)
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
    except (exceptions.ValidationError, InvalidInput) as exc:  # HEARTH_DATA_DIR or HEARTH_NODE_LOCAL_SOCKETS refuse it
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


def node_test(*, node: Node, actor, request=None) -> dict:
    """A staff-started health check: rate-limited per staff member and audited with the address tried."""
    charge_contact(actor)
    report = node_check_health(node=node)
    audit(
        "node.test", actor=actor, request=request, resource=node, dockerUrl=node.docker_url, ok=report["ok"]
    )
    return report
