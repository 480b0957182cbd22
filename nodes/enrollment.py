"""Enrollment: a one-time link gives a new machine the script that trusts the panel's key, and the
machine reports back with its host key and SSH address."""

import secrets
import shlex
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.audit import audit
from config.crypto import encrypt
from nodes import client as node_client
from nodes.models import DeploymentToken, Node, NodeEvent
from nodes.services import node_check_health, node_label, node_public_key, sha256_hex
from nodes.validation import Invalid, check_data_dir

# A plain file, not a template: the panel's values reach it only through `script_assignments`.
DEPLOY_SCRIPT = Path(__file__).parent / "scripts" / "deploy.sh"
VALUES_MARKER = "# @values@\n"


@transaction.atomic
def deployment_token_create(*, node: Node, actor=None, request=None) -> dict:
    """A single-use link to the enrollment script; also rotates the node secret (shown once)."""
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
    token = tokens.filter(token_hash=sha256_hex(raw)).first()
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
        raise exceptions.ValidationError({"data_dir": [f"Fix the node's data dir first: {exc}"]}) from exc
    values = {
        "NODE_NAME": node_label(node),
        "DATA_DIR": data_dir,
        "PUBLIC_KEY": node_public_key(node),
        "CALLBACK": f"{settings.PUBLIC_URL}/api/deploy/{raw}/complete",
    }
    script = DEPLOY_SCRIPT.read_text()
    return script.replace(VALUES_MARKER, script_assignments(values), 1)


def node_enroll(*, raw_token: str, host_key: str, ssh_user: str, ssh_port: int, hostname: str = "") -> Node:
    """The script's callback: spend the token, pin the host key, point the node at ssh:// and check it."""
    with transaction.atomic():
        token = deployment_token_get(raw_token, lock=True)
        try:
            node_client.parse_host_key(host_key)
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
    node_check_health(node=node, failures_to_offline=1, prepare=True)
    node.refresh_from_db()
    return node
