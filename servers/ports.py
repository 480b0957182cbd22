"""A server's ports: binding a node's free allocation to a container port, unbinding one, choosing the
primary (the address players are shown). Only while the server is stopped."""

from django.db import transaction

from accounts.audit import audit
from accounts.models import User
from config.errors import InvalidInput, NotFound
from nodes.models import Allocation
from servers.models import Server
from servers.states import transition


def allocation_add(
    *, server: Server, actor: User, container_port: int, host_port: int, request=None
) -> Allocation:
    with transaction.atomic():
        transition(server, action="allocations", to=None)
        if server.allocations.count() >= server.allocation_limit:
            raise InvalidInput(
                {"host_port": [f"This server may have at most {server.allocation_limit} allocations."]}
            )
        if (
            server.allocations.filter(container_port=container_port).exists()
            or server.allocations.filter(container_port__isnull=True, port=container_port).exists()
        ):
            raise InvalidInput({"container_port": [f"Container port {container_port} is already bound."]})
        allocation = (
            Allocation.objects.select_for_update(skip_locked=True)
            .filter(node=server.node, server__isnull=True, port=host_port)
            .first()
        )
        if allocation is None:
            raise InvalidInput(
                {"host_port": [f"Port {host_port} is not a free allocation on node '{server.node.name}'."]}
            )
        allocation.server, allocation.container_port, allocation.is_primary = server, container_port, False
        allocation.save(update_fields=["server", "container_port", "is_primary"])
        audit(
            "server.allocation_add",
            actor=actor,
            request=request,
            resource=server,
            hostPort=host_port,
            containerPort=container_port,
        )
    return allocation


def _bound(server: Server, container_port: int) -> Allocation:
    for allocation in server.allocations.all():
        if (allocation.container_port or allocation.port) == container_port:
            return allocation
    raise NotFound(f"No allocation binds container port {container_port}.")


def allocation_remove(*, server: Server, actor: User, container_port: int, request=None) -> None:
    with transaction.atomic():
        transition(server, action="allocations", to=None)
        allocation = _bound(server, container_port)
        if allocation.is_primary:
            raise InvalidInput({"container_port": ["The primary allocation cannot be removed."]})
        allocation.server, allocation.container_port = None, None
        allocation.save(update_fields=["server", "container_port"])
        audit(
            "server.allocation_remove",
            actor=actor,
            request=request,
            resource=server,
            containerPort=container_port,
        )


def allocation_set_primary(*, server: Server, actor: User, container_port: int, request=None) -> Allocation:
    with transaction.atomic():
        transition(server, action="allocations", to=None)
        allocation = _bound(server, container_port)
        server.allocations.update(is_primary=False)
        Allocation.objects.filter(pk=allocation.pk).update(is_primary=True)
        audit(
            "server.allocation_primary",
            actor=actor,
            request=request,
            resource=server,
            containerPort=container_port,
        )
    allocation.is_primary = True
    return allocation
