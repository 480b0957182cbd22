"""Pinning on first contact, the one place a host key is learnt rather than given.

OpenSSH's `StrictHostKeyChecking accept-new`, with the node as its `HostKeyAlias`: the key belongs to
the node, not to its address, so a node with a pinned key refuses any other key at any address, and a
node without one pins the key of the first connection on which the host also accepted the panel's key
(an unauthenticated contact, such as a host still waiting to enrol, pins nothing).
"""

from django.db import transaction
from django.utils import timezone


def stored_pin(node) -> str:
    """The key pinned on the node's row ('' when none, or the node is not saved yet)."""
    from nodes.models import Node

    return Node.objects.filter(pk=node.pk).values_list("ssh_host_key", flat=True).first() or ""


def pin_first_contact(node, presented: str) -> str:
    """Pin `presented` on the node unless a key was pinned meanwhile; returns the key that holds.

    Written to the row only when the row is at this address: an unsaved node, or an edit not saved yet,
    carries the key on the object and its own save records it (or nothing, if the edit is refused)."""
    from nodes.client.keys import fingerprint
    from nodes.models import Node, NodeEvent

    with transaction.atomic():
        row = (
            Node.objects.select_for_update()
            .filter(pk=node.pk)
            .values_list("docker_url", "ssh_host_key")
            .first()
        )
        if row is not None and row[1]:
            return row[1]
        if row is not None and row[0] == node.docker_url:
            Node.objects.filter(pk=node.pk).update(ssh_host_key=presented, updated_at=timezone.now())
            NodeEvent.objects.create(
                node_id=node.pk,
                kind=NodeEvent.Kind.HOST_KEY_PINNED,
                message=f"Host key {fingerprint(presented)} pinned on the first connection to {node.docker_url}",
            )
    node.ssh_host_key = presented
    return presented
