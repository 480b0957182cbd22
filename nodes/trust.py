"""The staff actions that change what the panel trusts a node as: its address (re-pointing) and its
pinned SSH host key (replace, forget). Each one is explicit, proven where it can be, audited and
recorded as a NodeEvent; enrollment proves a reported key with the same `prove`."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput
from nodes import client as node_client
from nodes import health, services
from nodes.hostkeys import clean_host_key
from nodes.models import DeploymentToken, Node, NodeEvent
from nodes.validation import clean_node_fields

fingerprint = node_client.fingerprint


def prove(node: Node, *, docker_url: str, host_key: str, field: str = "ssh_host_key") -> str:
    """The engine identity behind `docker_url`, once the host there has presented `host_key` and accepted
    the panel's key. A different key is a 400 on `field`; an unreachable host or engine a 503; an engine
    that already is another node a 409. Nothing is written."""
    try:
        info = node_client.prove_host(node, docker_url=docker_url, host_key=host_key)
    except node_client.HostKeyMismatch as exc:
        raise InvalidInput(
            {
                field: [
                    f"The host at {docker_url} presents the host key {fingerprint(exc.presented)}, not "
                    f"{fingerprint(host_key)}: nothing was changed."
                ]
            }
        ) from exc
    engine = health.engine_identity(info)
    health.refuse_taken_engine(engine, node=node)
    return engine


def links_revoke(node: Node) -> int:
    """Revoke the node's unspent enrollment links; how many there were."""
    return DeploymentToken.objects.filter(node=node, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def save_trust(node: Node, *, fields: list[str]) -> None:
    try:
        with transaction.atomic():
            node.save(update_fields=[*fields, "updated_at"])
    except IntegrityError as exc:  # another node claimed the engine while we proved this one
        raise health.EngineTaken("This Docker engine was just registered as another node.") from exc


def _after(node: Node) -> Node:
    """Drop connections made under the old trust and check the node as it is now."""
    node_client.forget(node)
    health.node_check_health(node=node, failures_to_offline=1, prepare=True)
    node.refresh_from_db()
    return node


def node_repoint(
    *, node: Node, docker_url: str, confirm: str, ssh_host_key: str = "", actor=None, request=None
) -> Node:
    """Move a node (servers and all) to another address: staff confirm with the node's name, the host
    there must present `ssh_host_key` (by default the key already pinned) and accept the panel's key."""
    if confirm != node.name:
        raise InvalidInput({"confirm": [f"Type the node's name ('{node.name}') to confirm."]})
    docker_url = clean_node_fields({"docker_url": docker_url}, required=("docker_url",))["docker_url"]
    key = clean_host_key(ssh_host_key) if ssh_host_key.strip() else node.ssh_host_key
    if docker_url.startswith("unix://"):
        key = ""
    elif not key:
        raise InvalidInput(
            {
                "ssh_host_key": [
                    "Give the host key of the new address (checked out of band, e.g. on its console)."
                ]
            }
        )
    if (docker_url, key) == (node.docker_url, node.ssh_host_key):
        raise InvalidInput({"docker_url": ["The node is at this address with this key already."]})
    services.charge_contact(actor)  # each proof connects to an address staff typed in
    engine = prove(node, docker_url=docker_url, host_key=key)
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        before = (locked.docker_url, locked.ssh_host_key, locked.engine_id)
        locked.docker_url, locked.ssh_host_key, locked.engine_id = docker_url, key, engine
        save_trust(locked, fields=["docker_url", "ssh_host_key", "engine_id"])
        links_revoke(locked)
        same_engine = engine == before[2]
        NodeEvent.objects.create(
            node=locked,
            kind=NodeEvent.Kind.REPOINTED,
            message=f"Re-pointed by staff from {before[0]} to {docker_url} (host key {fingerprint(key)} proven, "
            f"{'the same engine' if same_engine else 'another engine'})",
        )
        audit(
            "node.repoint",
            actor=actor,
            request=request,
            resource=locked,
            fromUrl=before[0],
            toUrl=docker_url,
            previousHostKey=fingerprint(before[1]),
            hostKey=fingerprint(key),
            sameEngine=same_engine,
        )
    return _after(locked)


def node_host_key_replace(*, node: Node, ssh_host_key: str, actor=None, request=None) -> Node:
    """Pin another host key (a reinstalled host), once the node's address has presented it."""
    if not node.is_ssh:
        raise InvalidInput({"ssh_host_key": ["Only ssh:// nodes have a host key."]})
    key = clean_host_key(ssh_host_key)
    if key == node.ssh_host_key:
        raise InvalidInput({"ssh_host_key": ["This key is pinned already."]})
    services.charge_contact(actor)
    engine = prove(node, docker_url=node.docker_url, host_key=key)
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        previous = locked.ssh_host_key
        locked.ssh_host_key, locked.engine_id = key, engine
        save_trust(locked, fields=["ssh_host_key", "engine_id"])
        links_revoke(locked)
        NodeEvent.objects.create(
            node=locked,
            kind=NodeEvent.Kind.HOST_KEY_REPLACED,
            message=f"Host key {fingerprint(previous)} replaced by staff with {fingerprint(key)}, proven at "
            f"{locked.docker_url}",
        )
        audit(
            "node.host_key_replace",
            actor=actor,
            request=request,
            resource=locked,
            previousHostKey=fingerprint(previous),
            hostKey=fingerprint(key),
        )
    return _after(locked)


def node_host_key_forget(*, node: Node, actor=None, request=None) -> Node:
    """Forget the pinned key (`ssh-keygen -R`): the next connection pins whatever the host presents, so
    prefer replacing it with a key checked out of band. The node is checked at once, under staff's eyes."""
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        previous = locked.ssh_host_key
        if not previous:
            raise IllegalTransition(f"Node '{locked.name}' has no pinned host key.")
        locked.ssh_host_key = ""
        save_trust(locked, fields=["ssh_host_key"])
        links_revoke(locked)
        NodeEvent.objects.create(
            node=locked,
            kind=NodeEvent.Kind.HOST_KEY_FORGOTTEN,
            message=f"Pinned host key {fingerprint(previous)} forgotten by staff: the next connection pins "
            "the key it is shown",
        )
        audit(
            "node.host_key_forget",
            actor=actor,
            request=request,
            resource=locked,
            previousHostKey=fingerprint(previous),
        )
    return _after(locked)
