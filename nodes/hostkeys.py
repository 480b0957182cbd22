"""What an edit may do to a node's address and pinned host key (OpenSSH known_hosts semantics, with
the node as the HostKeyAlias: the key is the node's, whatever address it is reached at)."""

from config.errors import IllegalTransition, InvalidInput
from nodes import client as node_client
from nodes.models import Node, NodeEvent


class HostKeyRefused(IllegalTransition):
    """The host at a node's (new) address presents another key than the one pinned or given."""


def clean_host_key(line: str, *, field: str = "ssh_host_key") -> str:
    """'type base64' of an OpenSSH host-key line, or a 400 naming `field`."""
    try:
        return node_client.normalize_host_key(line)
    except ValueError as exc:
        raise InvalidInput({field: [str(exc)]}) from exc


def edited_host_key(node: Node, value: str, *, moved: bool) -> str:
    """The key an edit may set: one for a node with none, or a new one given with a new address."""
    if not value.strip():
        if node.ssh_host_key:
            raise InvalidInput(
                {
                    "ssh_host_key": [
                        "Forgetting a pinned key is its own action (DELETE /api/nodes/:id/host-key)."
                    ]
                }
            )
        return ""
    line = clean_host_key(value)
    if node.ssh_host_key and line != node.ssh_host_key and not moved:
        raise InvalidInput(
            {
                "ssh_host_key": [
                    "A pinned host key is replaced with its own action (POST /api/nodes/:id/host-key), which "
                    "checks the node presents the new key; or give it together with a new dockerUrl."
                ]
            }
        )
    return line


def refuse_moving_a_node_with_servers(node: Node) -> None:
    servers = getattr(node, "servers", None)
    if servers is not None and servers.exists():
        raise IllegalTransition(
            f"Node '{node.name}' has {servers.count()} server(s): its address is changed only by re-pointing it "
            "(POST /api/nodes/:id/repoint, or Re-point in the admin), which proves the new host and asks "
            "for confirmation."
        )


def moved_to_another_key(node: Node, error: str) -> str:
    return (
        f"Not saved: the host at {node.docker_url} does not present the node's pinned host key, nor the "
        f"one given ({error}). If it is the right host, give its own key in sshHostKey in the same edit."
    )


def record_first_pin(node: Node, *, previous_key: str) -> None:
    """The event for a key learnt by a node's first connection before its row was saved (creation, or
    an edit moving a node that had none): the client records it itself for saved rows."""
    if node.ssh_host_key and not previous_key:
        NodeEvent.objects.create(
            node=node,
            kind=NodeEvent.Kind.HOST_KEY_PINNED,
            message=f"Host key {node_client.fingerprint(node.ssh_host_key)} pinned on the first connection to "
            f"{node.docker_url}",
        )
