"""Choosing a node for a new server, and the capacity rule every node must honour.

Memory capacity counts memory plus swap: swap is real memory on the node when a server uses it.
A refusal names what is short (memory, CPU, disk, ports) on which node, never just "not enough".
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from config.errors import InvalidInput
from nodes.models import Allocation, Node
from nodes.selectors import node_usage

NO_CAPACITY = "Node does not have enough resources"


@dataclass(frozen=True)
class Shortage:
    """One resource a node cannot give: what was asked and what is left (None: nothing to give)."""

    resource: str  # memory, cpu, disk or ports
    field: str  # the request field that asked for it
    needed: Decimal | int = 0
    free: Decimal | int | None = None

    def describe(self, *, numbers: bool) -> str:
        if self.resource == "ports":
            return "ports (no free allocation)"
        unit = {"cpu": "core" if self.needed == 1 else "cores", "memory": "MB incl. swap"}.get(
            self.resource, "MB"
        )
        name = "CPU" if self.resource == "cpu" else self.resource
        needs = f"needs {_number(self.needed)} {unit}"
        if not numbers:  # customers learn what is short, not how much the node has left
            return f"{name} ({needs})"
        return f"{name} ({needs}, {_number(self.free)} free)"


def _number(value) -> str:
    value = Decimal(value or 0)
    return str(value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize())


def _limit(maximum, percent: int):
    """The capacity with overallocation; None when the check is disabled (-1)."""
    if percent < 0 or not maximum:
        return None
    return Decimal(maximum) * (1 + Decimal(percent) / 100)


def shortages(
    node: Node, *, memory: int, cpu, disk: int, swap: int = 0, exclude_server=None, check_ports: bool = False
) -> list[Shortage]:
    """What `node` lacks to take a server of this size (empty: it fits)."""
    taken = node_usage(node, exclude_server=exclude_server)
    checks = [
        (
            "memory",
            "allocated_memory_mb",
            _limit(node.max_memory_mb, node.memory_overallocate_percent),
            taken["memory"] + taken["swap"],
            memory + swap,
        ),
        (
            "cpu",
            "allocated_cpu_cores",
            _limit(node.max_cpu_cores, node.cpu_overallocate_percent),
            Decimal(taken["cpu"]),
            Decimal(str(cpu)),
        ),
        (
            "disk",
            "allocated_disk_mb",
            _limit(node.max_disk_mb, node.disk_overallocate_percent),
            taken["disk"],
            disk,
        ),
    ]
    short = [
        Shortage(resource, field, needed, max(limit - in_use, 0))
        for resource, field, limit, in_use, needed in checks
        if limit is not None and in_use + needed > limit
    ]
    if check_ports and not Allocation.objects.filter(node=node, server__isnull=True).exists():
        short.append(Shortage("ports", "node_id"))
    return short


def fits(node: Node, *, memory: int, cpu, disk: int, swap: int = 0, exclude_server=None) -> bool:
    return not shortages(node, memory=memory, cpu=cpu, disk=disk, swap=swap, exclude_server=exclude_server)


def describe(node: Node, short: list[Shortage], *, numbers: bool) -> str:
    """ "node 'n1' is short of memory (…), ports (…)" — for staff `numbers` adds what is left."""
    return f"node '{node.name}' is short of " + ", ".join(s.describe(numbers=numbers) for s in short)


def refusal(node: Node, short: list[Shortage], *, numbers: bool) -> str:
    """The 400 message for one node that cannot take the server."""
    return f"{NO_CAPACITY}: {describe(node, short, numbers=numbers)}."


def candidates(location=None):
    from servers.models import Server

    nodes = Node.objects.filter(is_online=True, maintenance_mode=False)
    if isinstance(location, list):  # a plan's locations
        nodes = nodes.filter(location__in=location)
    elif location is not None:
        nodes = nodes.filter(location=location)
    on_node = Server.objects.filter(node=OuterRef("pk")).values("node")
    return nodes.annotate(
        memory_used=Coalesce(Subquery(on_node.annotate(total=Sum("allocated_memory_mb")).values("total")), 0),
        server_count=Coalesce(Subquery(on_node.annotate(total=Count("pk")).values("total")), 0),
    )


def place(*, memory: int, cpu, disk: int, swap: int = 0, location=None, numbers: bool = False) -> Node:
    """Pick a node by PLACEMENT_STRATEGY among online, non-maintenance nodes with room and a free port.

    Nodes in maintenance or offline are never chosen here (staff may still name one explicitly).
    With `numbers`, a refusal also says how much each node has left (for staff).
    """
    strategy = settings.PLACEMENT_STRATEGY
    nodes = candidates(location)
    if strategy == "fewest-servers":
        nodes = nodes.order_by("server_count", "name")
    elif strategy == "round-robin":
        nodes = nodes.order_by("name")
    else:
        nodes = nodes.order_by("memory_used", "name")
    fitting, refused = [], []
    for node in nodes:
        short = shortages(node, memory=memory, cpu=cpu, disk=disk, swap=swap, check_ports=True)
        if short:
            refused.append((node.name, ", ".join(s.describe(numbers=numbers) for s in short)))
        else:
            fitting.append(node)
    if not fitting:
        where = _where(location)
        if not refused:
            raise InvalidInput(
                {"node_id": [f"{NO_CAPACITY}: no node{where} is online and out of maintenance."]}
            )
        raise InvalidInput(
            {
                "node_id": [
                    f"{NO_CAPACITY}: no node{where} has room. "
                    + "; ".join(f"'{name}': {lacks}" for name, lacks in sorted(refused))
                    + "."
                ]
            }
        )
    if strategy == "round-robin":
        turn = cache.get_or_set("placement:round-robin", 0, timeout=None)
        cache.incr("placement:round-robin")
        return fitting[turn % len(fitting)]
    return fitting[0]


def _where(location) -> str:
    if isinstance(location, list):
        return f" in locations {', '.join(repr(one.name) for one in location)}"
    return f" in location '{location.name}'" if location is not None else ""
