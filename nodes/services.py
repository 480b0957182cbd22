"""Node state changes: create, edit, delete and a staff-started test (the local node, the panel's key,
health checks, enrollment, trust and port allocations have modules of their own)."""

import logging
import secrets

from django.db import transaction

from accounts.audit import audit
from config.api.throttling import charge, too_many_attempts
from config.crypto import encrypt
from config.errors import InvalidInput
from nodes import client as node_client
from nodes.datadirs import data_dir_problems
from nodes.health import engine_of, node_check_health, refuse_taken_engine, store_report
from nodes.hostkeys import (
    HostKeyRefused,
    clean_host_key,
    edited_host_key,
    moved_to_another_key,
    record_first_pin,
    refuse_moving_a_node_with_servers,
)
from nodes.identity import sha256_hex
from nodes.models import Node, NodeEvent
from nodes.validation import clean_node_fields

logger = logging.getLogger(__name__)


def _refuse_unique_name(name: str, *, exclude: Node | None = None) -> None:
    nodes = Node.objects.filter(name__iexact=name)
    if exclude is not None:
        nodes = nodes.exclude(pk=exclude.pk)
    if nodes.exists():
        raise InvalidInput({"name": ["A node with this name already exists."]})


def _check_private_key(ssh_private_key: str) -> None:
    try:
        node_client.load_private_key(ssh_private_key)
    except ValueError as exc:
        raise InvalidInput({"ssh_private_key": [str(exc)]}) from exc


def charge_contact(actor) -> None:
    """Count a staff-started connection to a node address (a test, a create, a new address): without a
    limit, the node test is a port scanner of whatever network the panel sits in."""
    if actor is None:  # the panel's own checks (beat, bootstrap)
        return
    allowed, state = charge("node-contact", f"user:{actor.pk}")
    if not allowed:
        raise too_many_attempts(
            "Too many node tests and address changes for now; try again in {wait} s.", state=state
        )


def _refuse_overlapping_data_dir(data_dir: str, *, node: Node | None = None) -> None:
    if problems := data_dir_problems(data_dir, exclude_node=node):
        raise InvalidInput({"data_dir": [f"{data_dir}: {problem}" for problem in problems]})


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
        raise InvalidInput(
            {
                "node": [
                    f"Cannot delete node with active servers ({servers.count()}); transfer or delete them first."
                ]
            }
        )
    audit("node.delete", actor=actor, request=request, resource=node, name=node.name)
    node_client.forget(node)
    node.delete()


def node_test(*, node: Node, actor, request=None) -> dict:
    """A staff-started health check: rate-limited per staff member and audited with the address tried."""
    charge_contact(actor)
    report = node_check_health(node=node)
    audit(
        "node.test", actor=actor, request=request, resource=node, dockerUrl=node.docker_url, ok=report["ok"]
    )
    return report
