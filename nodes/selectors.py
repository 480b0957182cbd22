"""Queries about nodes that more than one module asks."""

from django.db.models import Sum

from nodes.models import Node


def node_usage(node: Node, *, exclude_server=None) -> dict:
    """What the servers on `node` are allocated, summed: {"memory", "swap", "cpu", "disk"} (0 if none).

    Through the reverse relation, so nodes need not know the servers app."""
    servers = node.servers.all()
    if exclude_server is not None:
        servers = servers.exclude(pk=exclude_server.pk)
    totals = servers.aggregate(
        memory=Sum("allocated_memory_mb"),
        swap=Sum("allocated_swap_mb"),
        cpu=Sum("allocated_cpu_cores"),
        disk=Sum("allocated_disk_mb"),
    )
    return {key: value or 0 for key, value in totals.items()}
