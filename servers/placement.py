"""Choosing a node for a new server, and the capacity rule every node must honour."""

from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from rest_framework import exceptions

from nodes.models import Allocation, Node

NO_CAPACITY = "Node does not have enough resources"


def _limit(maximum, percent: int):
    """The capacity with overallocation; None when the check is disabled (-1)."""
    if percent < 0 or not maximum:
        return None
    return Decimal(maximum) * (1 + Decimal(percent) / 100)


def used(node: Node, *, exclude_server=None) -> dict:
    servers = node.servers.all()
    if exclude_server is not None:
        servers = servers.exclude(pk=exclude_server.pk)
    totals = servers.aggregate(
        memory=Sum("allocated_memory_mb"), cpu=Sum("allocated_cpu_cores"), disk=Sum("allocated_disk_mb")
    )
    return {key: value or 0 for key, value in totals.items()}


def fits(node: Node, *, memory: int, cpu, disk: int, exclude_server=None) -> bool:
    taken = used(node, exclude_server=exclude_server)
    checks = [
        (_limit(node.max_memory_mb, node.memory_overallocate_percent), taken["memory"] + memory),
        (_limit(node.max_cpu_cores, node.cpu_overallocate_percent), Decimal(taken["cpu"]) + Decimal(cpu)),
        (_limit(node.max_disk_mb, node.disk_overallocate_percent), taken["disk"] + disk),
    ]
    return all(limit is None or need <= limit for limit, need in checks)


def candidates(location=None):
    from servers.models import Server

    nodes = Node.objects.filter(is_online=True, maintenance_mode=False)
    if location is not None:
        nodes = nodes.filter(location=location)
    on_node = Server.objects.filter(node=OuterRef("pk")).values("node")
    return nodes.annotate(
        memory_used=Coalesce(Subquery(on_node.annotate(total=Sum("allocated_memory_mb")).values("total")), 0),
        server_count=Coalesce(Subquery(on_node.annotate(total=Count("pk")).values("total")), 0),
    ).filter(Exists(Allocation.objects.filter(node=OuterRef("pk"), server__isnull=True)))


def place(*, memory: int, cpu, disk: int, location=None) -> Node:
    """Pick a node by PLACEMENT_STRATEGY among online, non-maintenance nodes with room and a free port."""
    strategy = settings.PLACEMENT_STRATEGY
    nodes = candidates(location)
    if strategy == "fewest-servers":
        nodes = nodes.order_by("server_count", "name")
    elif strategy == "round-robin":
        nodes = nodes.order_by("name")
    else:
        nodes = nodes.order_by("memory_used", "name")
    fitting = [node for node in nodes if fits(node, memory=memory, cpu=cpu, disk=disk)]
    if not fitting:
        raise exceptions.ValidationError({"node_id": [NO_CAPACITY]})
    if strategy == "round-robin":
        turn = cache.get_or_set("placement:round-robin", 0, timeout=None)
        cache.incr("placement:round-robin")
        return fitting[turn % len(fitting)]
    return fitting[0]
