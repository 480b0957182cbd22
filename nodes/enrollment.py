"""Enrollment: a one-time link gives a new machine the script that trusts the panel's key, and the
machine reports back its host key, SSH port and user. The panel believes none of it until it has
connected to the node's own hostname (set by staff) and been shown that very key.

A link is only for a node still waiting to enrol: no servers, never enrolled and never online. Once a
node has run anything, its address and key change only by the staff actions in nodes/trust.py.
"""

import contextlib
import secrets
import shlex
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from config.crypto import encrypt
from config.errors import DomainError, IllegalTransition, InvalidInput, NotFound, refusal_text
from nodes import client as node_client
from nodes import trust
from nodes.health import node_check_health
from nodes.hostkeys import clean_host_key
from nodes.identity import node_label, node_public_key, sha256_hex
from nodes.models import DeploymentToken, Node, NodeEvent
from nodes.validation import Invalid, check_data_dir, clean_node_fields

# A plain file, not a template: the panel's values reach it only through `script_assignments`.
DEPLOY_SCRIPT = Path(__file__).parent / "scripts" / "deploy.sh"
VALUES_MARKER = "# @values@\n"


class NodeNotWaiting(IllegalTransition):
    """The node has servers, was enrolled or has been online: a link cannot move it."""

    def __init__(self, node: Node):
        super().__init__(
            f"Node '{node.name}' is not waiting to enrol (it has servers, was enrolled or has been online): "
            "an enrollment link cannot point it elsewhere. Staff re-point it with POST /api/nodes/:id/repoint "
            "(Re-point in the admin) or replace its host key with POST /api/nodes/:id/host-key."
        )


def node_waiting_for_enrollment(node: Node, *, reported_key: str = "") -> bool:
    """No servers, no enrollment and no successful check yet: nothing on it a link could take over.

    A check that got through between the script installing the panel's key and its callback (beat's,
    every 30 s) pinned a key; a callback reporting that very key still finds the node waiting."""
    servers = getattr(node, "servers", None)
    has_servers = servers is not None and servers.exists()
    enrolled = node.events.filter(kind=NodeEvent.Kind.ENROLLED).exists()
    unseen = node.last_seen_at is None or bool(reported_key and reported_key == node.ssh_host_key)
    return unseen and not has_servers and not enrolled


@transaction.atomic
def deployment_token_create(*, node: Node, actor=None, request=None) -> dict:
    """A single-use link to the enrollment script, revoking older ones; also rotates the node secret
    (shown once). Only for a node waiting to enrol (409 otherwise)."""
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node_waiting_for_enrollment(node):
        raise NodeNotWaiting(node)
    revoked = trust.links_revoke(node)
    if not node.ssh_private_key:
        private, _ = node_client.generate_keypair()
        node.ssh_private_key = encrypt(private)
    secret = secrets.token_urlsafe(32)
    node.secret_hash = sha256_hex(secret)
    node.save(update_fields=["ssh_private_key", "secret_hash", "updated_at"])
    raw = secrets.token_urlsafe(32)
    token = DeploymentToken.objects.create(
        node=node,
        token_hash=sha256_hex(raw),
        expires_at=timezone.now() + timedelta(minutes=settings.NODE_DEPLOY_TOKEN_MINUTES),
    )
    audit("node.deployment_token", actor=actor, request=request, resource=node, revokedLinks=revoked)
    return {
        "deployment_token": raw,
        "secret": secret,
        "deploy_url": f"{settings.PUBLIC_URL}/api/deploy/{raw}",
        "expires_at": token.expires_at,
    }


def deployment_token_get(raw: str, *, lock: bool = False, reported_key: str = "") -> DeploymentToken:
    """The usable token for `raw`, or 404 (unknown) / 410-style 400 (used, revoked or expired) / 409 (the
    node no longer waits to enrol)."""
    tokens = DeploymentToken.objects.select_related("node")
    if lock:
        tokens = tokens.select_for_update()
    token = tokens.filter(token_hash=sha256_hex(raw)).first()
    if token is None:
        raise NotFound("Unknown deployment token.")
    if token.used_at is not None:
        raise InvalidInput({"token": ["This deployment token was already used. Generate a new one."]})
    if token.revoked_at is not None:
        raise InvalidInput(
            {"token": ["This deployment token was revoked (a newer link replaced it). Use the newest link."]}
        )
    if token.expires_at <= timezone.now():
        raise InvalidInput({"token": ["This deployment token has expired. Generate a new one."]})
    if not node_waiting_for_enrollment(token.node, reported_key=reported_key):
        raise NodeNotWaiting(token.node)
    return token


def shell_word(value: str) -> str:
    """`value` as one shell word that `sh` reads back byte for byte, whatever it holds."""
    if "\0" in value:  # a shell variable cannot hold NUL: refuse rather than let the shell cut it
        raise ValueError("A NUL character cannot be passed to a shell script.")
    return shlex.quote(value)


def script_assignments(values: dict[str, str]) -> str:
    """`NAME='value'` lines, one per value: the only way a value enters a script."""
    return "".join(f"{name}={shell_word(value)}\n" for name, value in values.items())


def deploy_script(raw: str) -> str:
    """The enrollment shell script for a valid token (Debian/Ubuntu, run as root)."""
    token = deployment_token_get(raw)
    node = token.node
    try:  # rows from before the checks existed: root must never create or chown a bad data dir
        data_dir = check_data_dir(node.data_dir)
    except Invalid as exc:
        raise InvalidInput({"data_dir": [f"Fix the node's data dir first: {exc}"]}) from exc
    values = {
        "NODE_NAME": node_label(node),
        "DATA_DIR": data_dir,
        "PUBLIC_KEY": node_public_key(node),
        "CALLBACK": f"{settings.PUBLIC_URL}/api/deploy/{raw}/complete",
    }
    script = DEPLOY_SCRIPT.read_text()
    return script.replace(VALUES_MARKER, script_assignments(values), 1)


def node_enroll(*, raw_token: str, host_key: str, ssh_user: str, ssh_port: int, hostname: str = "") -> Node:
    """The script's callback: spend the token, prove the host key at the node's hostname, then pin it,
    point the node at ssh:// and check it. A failed proof leaves the node as it was and the token spent,
    with the reason recorded on it (the staff make a new link)."""
    host_key = clean_host_key(host_key, field="host_key")
    with _revoked_if_not_waiting(raw_token):  # bad input or a dead link spends nothing
        node = deployment_token_get(raw_token, reported_key=host_key).node
    docker_url = _reported_address(node, ssh_user=ssh_user, ssh_port=ssh_port, hostname=hostname)
    token = _claim(raw_token, reported_key=host_key)
    try:
        engine = trust.prove(token.node, docker_url=docker_url, host_key=host_key, field="host_key")
        node = _enroll(token, docker_url=docker_url, host_key=host_key, engine=engine)
    except DomainError as exc:
        _record_failure(token, exc)
        raise
    node_client.forget(node)
    node_check_health(node=node, failures_to_offline=1, prepare=True)
    node.refresh_from_db()
    return node


@contextlib.contextmanager
def _revoked_if_not_waiting(raw_token: str):
    """A link of a node that no longer waits to enrol is dead: revoke it, so it stays dead."""
    try:
        yield
    except NodeNotWaiting:
        DeploymentToken.objects.filter(token_hash=sha256_hex(raw_token), used_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        raise


def _claim(raw_token: str, *, reported_key: str) -> DeploymentToken:
    """Spend the token: of two completions at once, the second finds it used."""
    with _revoked_if_not_waiting(raw_token), transaction.atomic():
        token = deployment_token_get(raw_token, lock=True, reported_key=reported_key)
        token.used_at = timezone.now()
        token.save(update_fields=["used_at"])
    return token


def _reported_address(node: Node, *, ssh_user: str, ssh_port: int, hostname: str) -> str:
    """The ssh:// URL to prove: the host is the one staff gave the node; only port and user are reported."""
    if hostname and hostname != node.hostname:
        raise InvalidInput(
            {
                "hostname": [
                    f"The panel connects to the node's hostname set by staff ({node.hostname}), not to one "
                    "the script reports; change it on the node first."
                ]
            }
        )
    host = f"[{node.hostname}]" if ":" in node.hostname else node.hostname
    docker_url = f"ssh://{ssh_user}@{host}:{ssh_port}"
    docker_url = clean_node_fields({"docker_url": docker_url}, required=("docker_url",))["docker_url"]
    return docker_url


def _enroll(token: DeploymentToken, *, docker_url: str, host_key: str, engine: str) -> Node:
    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=token.node_id)
        if not node_waiting_for_enrollment(
            node, reported_key=host_key
        ):  # a server placed, or enrolled, meanwhile
            raise NodeNotWaiting(node)
        node.docker_url, node.ssh_host_key, node.engine_id = docker_url, host_key, engine
        trust.save_trust(node, fields=["docker_url", "ssh_host_key", "engine_id"])
        trust.links_revoke(node)
        NodeEvent.objects.create(
            node=node,
            kind=NodeEvent.Kind.ENROLLED,
            message=f"Enrolled as {docker_url}, host key {node_client.fingerprint(host_key)} proven",
        )
        audit("node.enroll", resource=node, dockerUrl=docker_url, hostKey=node_client.fingerprint(host_key))
    return node


def _record_failure(token: DeploymentToken, exc: Exception) -> None:
    reason = refusal_text(exc)[:2000]
    DeploymentToken.objects.filter(pk=token.pk).update(failure=reason)
    audit("node.enroll_failed", resource=token.node, reason=reason)
