"""Which server a node's container is: decided by the panel's own records, never by what the node says.

A node reports containers with labels and names, and an event, a log line, a stats sample or an exit
code carries only those. Anyone with root on a node (or the node's engine itself) chooses them freely:
a `hearth.server` label or a `hearth-<uuid>` name can point at any server of any node. So a report is
applied to a server only when the server is assigned to the node that reports it AND the container is
the one the panel created for it (`Server.container_id`, recorded by `runtime.ensure_container`).
Labels stay on containers as a filter for what the engine sends us; they decide nothing.
"""

from collections.abc import Iterable

from servers.models import Server


def servers_of(node_id, container_ids: Iterable[str]) -> dict[str, str]:
    """container id → server id, for those of `container_ids` that are this node's servers' own."""
    wanted = {cid for cid in container_ids if cid}
    if not wanted:
        return {}
    rows = Server.objects.filter(node_id=node_id, container_id__in=wanted).values_list("container_id", "pk")
    return {container_id: str(pk) for container_id, pk in rows}


def server_of(node_id, container_id: str | None) -> str | None:
    """The server whose container this is on this node, or None: the node's word about it is ignored."""
    return servers_of(node_id, [container_id or ""]).get(container_id or "")


def owned_row(node_id, container_id: str, server_id):
    """The server's row while the container still is its own on this node, else nothing: a write through
    it checks and writes in one statement, so a server moved away meanwhile is never written."""
    return Server.objects.filter(pk=server_id, node_id=node_id, container_id=container_id).exclude(
        container_id=""
    )


def container_of(node_id, server_id) -> str | None:
    """The container the panel created for this server on this node (None when it is not this node's)."""
    found = (
        Server.objects.filter(pk=server_id, node_id=node_id)
        .exclude(container_id="")
        .values_list("container_id", flat=True)
    ).first()
    return found or None
