"""Connections to nodes, cached per node and rebuilt after any failure; SSH host keys pinned on first
authenticated contact (pinning.py), or proven against a key the panel was told (`prove_host`)."""

import contextlib
import copy
import logging
import threading
from dataclasses import dataclass, field

import docker
import docker.errors
import paramiko
from django.conf import settings

from config.crypto import decrypt
from nodes.client.errors import _TRANSPORT_ERRORS, HostKeyMismatch, NodeUnavailable
from nodes.client.keys import host_key_line, load_private_key
from nodes.client.pinning import pin_first_contact, stored_pin
from nodes.client.sdk import ssh_api
from nodes.client.ssh import PinnedSSHAdapter, remote_failure

logger = logging.getLogger(__name__)

DOCKER_API_VERSION = "1.41"  # Docker 20.10; every supported engine speaks it


@dataclass
class _Connection:
    api: docker.APIClient
    ssh: paramiko.SSHClient | None
    lock: threading.Lock = field(default_factory=threading.Lock)


_connections: dict[tuple, _Connection] = {}
_connections_lock = threading.Lock()


def _cache_key(node) -> tuple:
    return (str(node.pk), node.docker_url, node.ssh_host_key, node.ssh_private_key)


def _open(node) -> _Connection:
    timeout = settings.NODE_TIMEOUT_SECONDS
    if node.docker_url.startswith("unix://"):
        api = docker.APIClient(base_url=node.docker_url, version=DOCKER_API_VERSION, timeout=timeout)
        return _Connection(api=api, ssh=None)
    if not node.docker_url.startswith("ssh://"):
        raise NodeUnavailable(
            node.name, f"unsupported Docker URL '{node.docker_url}' (use unix:// or ssh://)"
        )
    if not node.ssh_private_key:
        raise NodeUnavailable(node.name, "no SSH private key is stored for it; enroll the node or add a key")
    pkey = load_private_key(decrypt(node.ssh_private_key))
    pinned = node.ssh_host_key or stored_pin(node)  # a stale object never makes a first contact
    try:
        adapter = PinnedSSHAdapter(
            node.docker_url,
            pkey=pkey,
            pinned_host_key=pinned,
            connect_timeout=settings.NODE_CONNECT_TIMEOUT_SECONDS,
            timeout=timeout,
            max_pool_size=8,
        )
    except paramiko.BadHostKeyException as exc:
        raise HostKeyMismatch(node.name, pinned, host_key_line(exc.key)) from exc
    if not pinned:
        _pin_or_refuse(node, adapter)
    node.ssh_host_key = node.ssh_host_key or pinned
    api = ssh_api(adapter, version=DOCKER_API_VERSION, timeout=timeout)
    return _Connection(api=api, ssh=adapter.ssh_client)


def _pin_or_refuse(node, adapter: PinnedSSHAdapter) -> None:
    """First authenticated contact: pin what the host showed, unless another key got pinned meanwhile."""
    presented = adapter.presented_host_key
    holds = pin_first_contact(node, presented)
    if holds != presented:
        adapter.close()
        raise HostKeyMismatch(node.name, holds, presented)
    adapter.require_host_key(presented)


def prove_host(node, *, docker_url: str, host_key: str) -> dict:
    """Connect to `docker_url` with the node's private key, insisting the host presents `host_key`, and
    read its engine's info. Nothing is cached or pinned: this is how the panel checks a key it was told
    (enrollment, re-pointing, replacing a key) before trusting it. HostKeyMismatch when the host shows
    another key; NodeUnavailable when it cannot be reached, refuses the panel's key or has no engine."""
    candidate = copy.copy(node)
    candidate.docker_url, candidate.ssh_host_key = docker_url, host_key
    if candidate.is_ssh and not host_key:
        raise ValueError("An ssh:// address is proven against a host key; none was given.")
    doing = f"reaching {docker_url}"
    try:
        conn = _open(candidate)
    except NodeUnavailable:
        raise
    except _TRANSPORT_ERRORS as exc:  # fixed words for an address staff typed in, never the far end's
        logger.info("Node %s: %s failed", node.name, doing, exc_info=exc)
        raise NodeUnavailable(node.name, f"{doing} failed: {remote_failure(exc)}") from exc
    try:
        return conn.api.info()
    except (docker.errors.APIError, *_TRANSPORT_ERRORS) as exc:
        raise NodeUnavailable(node.name, f"{doing}: its Docker engine did not answer: {exc}") from exc
    finally:
        _close(conn)


def _close(conn: _Connection) -> None:
    with contextlib.suppress(Exception):
        conn.api.close()
    if conn.ssh is not None:
        with contextlib.suppress(Exception):
            conn.ssh.close()


def forget(node) -> None:
    """Drop cached connections to `node` (after a failure or an edit of its address or keys)."""
    with _connections_lock:
        stale = [key for key in _connections if key[0] == str(node.pk)]
        for key in stale:
            _close(_connections.pop(key))
