"""Port allocations of a node: parsing port and address specs, creating them in bulk, removing free ones."""

import ipaddress
import re

from django.db import transaction

from accounts.audit import audit
from config.errors import InvalidInput
from nodes.models import Allocation, Node

MAX_ALLOCATIONS_PER_REQUEST = 1000

PORT_RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$")


def parse_ports(spec: str | list) -> list[int]:
    """'25565', '25565-25665', '25565,25570-25575' or a list of those → sorted unique ports."""
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    ports: set[int] = set()
    for part in parts:
        match = PORT_RANGE.match(str(part))
        if not match:
            raise InvalidInput({"ports": [f"'{part}' is not a port or a range like 25565-25665."]})
        low, high = int(match[1]), int(match[2] or match[1])
        if not (1 <= low <= high <= 65535):
            raise InvalidInput({"ports": [f"'{part}' is outside 1-65535 or reversed."]})
        if high - low >= MAX_ALLOCATIONS_PER_REQUEST:
            raise InvalidInput({"ports": [f"At most {MAX_ALLOCATIONS_PER_REQUEST} ports per request."]})
        ports.update(range(low, high + 1))
    return sorted(ports)


def parse_ips(spec: str) -> list[str]:
    try:
        network = ipaddress.ip_network(spec.strip(), strict=False)
    except ValueError as exc:
        raise InvalidInput({"ip": [f"'{spec}' is not an IP address or CIDR range."]}) from exc
    hosts = [network.network_address] if network.num_addresses == 1 else list(network.hosts())
    if len(hosts) > MAX_ALLOCATIONS_PER_REQUEST:
        raise InvalidInput({"ip": [f"At most {MAX_ALLOCATIONS_PER_REQUEST} addresses per request."]})
    return [str(host) for host in hosts]


@transaction.atomic
def allocations_create(
    *, node: Node, ip: str, ports, alias: str = "", notes: str = "", actor=None, request=None
) -> tuple[int, int]:
    """Create every (ip, port) pair of an IP/CIDR and port ranges; existing pairs are skipped. (created, skipped)."""
    ips, port_list = parse_ips(ip), parse_ports(ports)
    total = len(ips) * len(port_list)
    if total > MAX_ALLOCATIONS_PER_REQUEST:
        raise InvalidInput(
            {"ports": [f"That is {total} allocations; at most {MAX_ALLOCATIONS_PER_REQUEST} per request."]}
        )
    before = Allocation.objects.filter(node=node).count()
    Allocation.objects.bulk_create(
        [Allocation(node=node, ip=i, port=p, alias=alias, notes=notes) for i in ips for p in port_list],
        ignore_conflicts=True,
    )
    created = Allocation.objects.filter(node=node).count() - before
    audit(
        "node.allocations_create",
        actor=actor,
        request=request,
        resource=node,
        addresses=ip,
        ports=str(ports),
        created=created,
    )
    return created, total - created


@transaction.atomic
def allocation_delete(*, allocation: Allocation, actor=None, request=None) -> None:
    if getattr(allocation, "server_id", None):
        raise InvalidInput(
            {"allocation": ["This allocation is assigned to a server; remove it there first."]}
        )
    audit(
        "node.allocation_delete",
        actor=actor,
        request=request,
        resource=allocation.node,
        allocation=f"{allocation.ip}:{allocation.port}",
    )
    allocation.delete()
