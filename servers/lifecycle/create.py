"""Creating a server: its variables checked, a node with room chosen, its ports reserved."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from accounts.audit import audit
from accounts.models import User
from accounts.permissions import can
from config.errors import InvalidInput
from nodes.models import Allocation, Node
from nodes.validation import clean_network_mode
from plans import selection as plans
from servers import console, placement
from servers.models import Server
from servers.resources import (
    STAFF_ONLY_FIELDS,
    check_image,
    check_quota,
    check_self_service,
    may_set_resources,
    require_resources,
)
from templates_app.startup import customer_names
from templates_app.variables import UnsafeSubstitution, render_for_shell, resolve_environment, validate_values

S = Server.Status


def check_startup(template, values: dict) -> None:
    """The startup command must render safely with these values (see templates_app.variables)."""
    builtins = {
        "SERVER_MEMORY": "1024",
        "SERVER_PORT": "25565",
        "SERVER_IP": "0.0.0.0",  # noqa: S104 - a placeholder value, nothing binds
        "TZ": "UTC",
        "SERVER_UUID": "00000000-0000-0000-0000-000000000000",
    }
    try:
        env = resolve_environment(template, values, builtins)
        render_for_shell(template.start_command, env, customer=customer_names(template))
    except UnsafeSubstitution as exc:
        raise InvalidInput({"environment": [str(exc)]}) from exc


def _claim_allocations(node: Node, server: Server, primary_port: int | None, bindings: dict) -> None:
    """Give the server free allocations on its node: the primary, then one per extra binding.

    Rows are locked with SKIP LOCKED, so concurrent creations never receive the same port.
    """
    free = Allocation.objects.select_for_update(skip_locked=True).filter(node=node, server__isnull=True)
    wanted = [(primary_port, None, True)] + [
        (host, container, False) for container, host in bindings.items() if host != primary_port
    ]
    for host_port, container_port, is_primary in wanted:
        candidates = free.filter(port=host_port) if host_port else free.order_by("port")
        allocation = candidates.first()
        if allocation is None:
            if host_port:
                raise InvalidInput(
                    {
                        "primary_port" if is_primary else "port_bindings": [
                            f"Port {host_port} is not a free allocation on node '{node.name}'."
                        ]
                    }
                )
            raise InvalidInput({"node_id": [f"Node '{node.name}' has no free port allocation."]})
        allocation.server = server
        allocation.is_primary = is_primary
        allocation.container_port = int(container_port) if container_port else None
        allocation.save(update_fields=["server", "is_primary", "container_port"])


def server_create(
    *,
    actor: User,
    template,
    name: str,
    allocated_memory_mb: int | None = None,
    allocated_cpu_cores=None,
    allocated_disk_mb: int | None = None,
    owner: User | None = None,
    node: Node | None = None,
    location=None,
    environment: dict | None = None,
    primary_port: int | None = None,
    port_bindings: dict | None = None,
    docker_image: str = "",
    install: bool = False,
    plan=None,
    expire_in_days: int | None = None,
    request=None,
    **fields,
) -> Server:
    """Validate variables, place on a node with room, reserve ports and record the server (status stopped).

    Without `server.resources` the actor is a customer: no node, ports or limits of their own choosing,
    and the per-account quota; the server gets its plan's limits (plans.selection), or, where no plan is
    offered, a size within the self-service maximums. Staff may name a plan too: it fills in the limits
    they leave out. The plan decides when the server expires unless staff give `expire_in_days`.
    """
    from servers.lifecycle.install import server_install

    fields = clean_network_mode(fields)
    chosen = {"node_id": node is not None, "primary_port": primary_port is not None}
    chosen["port_bindings"] = bool(port_bindings)
    chosen["expire_in_days"] = expire_in_days is not None
    require_resources(
        actor, [f for f in fields if f in STAFF_ONLY_FIELDS] + [f for f, sent in chosen.items() if sent]
    )
    resources = may_set_resources(actor)
    sized = {"allocated_memory_mb": allocated_memory_mb, "allocated_cpu_cores": allocated_cpu_cores}
    sized["allocated_disk_mb"] = allocated_disk_mb
    if not resources:
        sent = [field for field, value in sized.items() if value is not None]
        plans.require_choice(plan=plan, template=template, location=location, sized=sent)
    if plan is not None:  # what staff gave wins (a customer cannot give any: refused above)
        for field, value in plans.values(plan).items():
            given = sized if field in sized else fields
            if given.get(field) is None:
                given[field] = value
    memory = sized["allocated_memory_mb"] or settings.SERVER_DEFAULT_MEMORY_MB
    cpu = Decimal(str(sized["allocated_cpu_cores"] or settings.SERVER_DEFAULT_CPU_CORES))
    disk = sized["allocated_disk_mb"] or settings.SERVER_DEFAULT_DISK_MB
    swap = fields.get("allocated_swap_mb", 0)
    if not resources and plan is None:
        check_self_service(memory=memory, cpu=cpu, disk=disk)
    staff = can(actor, "admin.write")
    values = validate_values(template, environment or {}, editable_only=not staff)
    check_startup(template, values)
    if docker_image:
        check_image(actor, template, docker_image)
    bindings = port_bindings or {}
    allocation_limit = fields.get("allocation_limit", settings.ALLOCATION_DEFAULT_LIMIT)
    if 1 + len([h for h in bindings.values() if h != primary_port]) > allocation_limit:
        raise InvalidInput(
            {"port_bindings": [f"This server may have at most {allocation_limit} allocations."]}
        )
    owner = owner if (owner and staff) else actor
    with transaction.atomic():
        if not resources and owner.pk == actor.pk:  # a create for someone else is a staff create
            check_quota(actor)
        if node is None:
            node = placement.place(
                memory=memory,
                cpu=cpu,
                disk=disk,
                swap=swap,
                location=plans.locations_for(plan, location),
                numbers=resources,
            )
        node = Node.objects.select_for_update().get(pk=node.pk)  # one creation at a time per node
        # An explicit node (staff only) may be in maintenance: staff preparing a node test it that way.
        if short := placement.shortages(node, memory=memory, cpu=cpu, disk=disk, swap=swap, check_ports=True):
            raise InvalidInput({"node_id": [placement.refusal(node, short, numbers=resources)]})
        server = Server.objects.create(
            name=name,
            owner=owner,
            node=node,
            template=template,
            environment=values,
            docker_image=docker_image or template.docker_image,
            status=S.STOPPED,
            allocated_memory_mb=memory,
            allocated_cpu_cores=cpu,
            allocated_disk_mb=disk,
            plan=plan,
            expire_at=plans.expiry(plan, expire_in_days),
            **fields,
        )
        _claim_allocations(node, server, primary_port, bindings)
        audit(
            "server.create",
            actor=actor,
            request=request,
            resource=server,
            serverName=name,
            node=node.name,
            **({"plan": plan.name} if plan else {}),
        )
        console.write_on_commit(server.pk, f"Server created on node {node.name} by {actor.username}.")
        if install:
            server_install(server=server, actor=actor, request=request)
    return server
