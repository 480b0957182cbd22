"""Server state changes requested by people (API, admin, schedules). Node work is queued as tasks."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.audit import audit
from accounts.models import User
from accounts.permissions import can
from config.api.exceptions import Conflict
from nodes.models import Allocation, Node
from nodes.validation import clean_network_mode
from servers import console, placement
from servers.models import Job, Server
from servers.resources import (
    RESOURCE_FIELDS,
    STAFF_ONLY_FIELDS,
    check_image,
    check_quota,
    check_self_service,
    may_set_resources,
    require_resources,
)
from servers.states import check, transition
from templates_app.startup import customer_names
from templates_app.variables import UnsafeSubstitution, render_for_shell, resolve_environment, validate_values

S = Server.Status


def _queue(task, *args) -> None:
    transaction.on_commit(lambda: task.delay(*[str(a) for a in args]))


def _job(server: Server, kind: str, actor=None, **detail) -> Job:
    return Job.objects.create(server=server, server_name=server.name, kind=kind, actor=actor, detail=detail)


def _say(server: Server, text: str) -> None:
    transaction.on_commit(lambda: console.write(server.pk, text))


def _check_startup(template, values: dict) -> None:
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
        raise exceptions.ValidationError({"environment": [str(exc)]}) from exc


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
                raise exceptions.ValidationError(
                    {
                        "primary_port" if is_primary else "port_bindings": [
                            f"Port {host_port} is not a free allocation on node '{node.name}'."
                        ]
                    }
                )
            raise exceptions.ValidationError(
                {"node_id": [f"Node '{node.name}' has no free port allocation."]}
            )
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
    request=None,
    **fields,
) -> Server:
    """Validate variables, place on a node with room, reserve ports and record the server (status stopped).

    Without `server.resources` the actor is a customer: no node, ports or extra limits of their own
    choosing, a size within the self-service maximums, placement, and the per-account quota.
    """
    fields = clean_network_mode(fields)
    chosen = {"node_id": node is not None, "primary_port": primary_port is not None}
    chosen["port_bindings"] = bool(port_bindings)
    require_resources(
        actor, [f for f in fields if f in STAFF_ONLY_FIELDS] + [f for f, sent in chosen.items() if sent]
    )
    resources = may_set_resources(actor)
    memory = allocated_memory_mb or settings.SERVER_DEFAULT_MEMORY_MB
    cpu = Decimal(str(allocated_cpu_cores or settings.SERVER_DEFAULT_CPU_CORES))
    disk = allocated_disk_mb or settings.SERVER_DEFAULT_DISK_MB
    swap = fields.get("allocated_swap_mb", 0)
    if not resources:
        check_self_service(memory=memory, cpu=cpu, disk=disk)
    staff = can(actor, "admin.write")
    values = validate_values(template, environment or {}, editable_only=not staff)
    _check_startup(template, values)
    if docker_image:
        check_image(actor, template, docker_image)
    bindings = port_bindings or {}
    allocation_limit = fields.get("allocation_limit", Server._meta.get_field("allocation_limit").default)
    if 1 + len([h for h in bindings.values() if h != primary_port]) > allocation_limit:
        raise exceptions.ValidationError(
            {"port_bindings": [f"This server may have at most {allocation_limit} allocations."]}
        )
    owner = owner if (owner and staff) else actor
    with transaction.atomic():
        if not resources and owner.pk == actor.pk:  # a create for someone else is a staff create
            check_quota(actor)
        if node is None:
            node = placement.place(
                memory=memory, cpu=cpu, disk=disk, swap=swap, location=location, numbers=resources
            )
        node = Node.objects.select_for_update().get(pk=node.pk)  # one creation at a time per node
        # An explicit node (staff only) may be in maintenance: staff preparing a node test it that way.
        if short := placement.shortages(node, memory=memory, cpu=cpu, disk=disk, swap=swap, check_ports=True):
            raise exceptions.ValidationError({"node_id": [placement.refusal(node, short, numbers=resources)]})
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
            **fields,
        )
        _claim_allocations(node, server, primary_port, bindings)
        audit("server.create", actor=actor, request=request, resource=server, serverName=name, node=node.name)
        _say(server, f"Server created on node {node.name} by {actor.username}.")
        if install:
            server_install(server=server, actor=actor, request=request)
    return server


def server_update(*, server: Server, actor: User, request=None, **changes) -> Server:
    """Name and description any time; resources, variables and image only while stopped.

    Limits are staff's (`server.resources`, 403 first); a customer's image is one of the template's.
    """
    require_resources(actor, [f for f in changes if f in STAFF_ONLY_FIELDS])
    changes = clean_network_mode(changes)
    if "docker_image" in changes:
        check_image(actor, server.template, changes["docker_image"])
    resource_change = {
        k: v for k, v in changes.items() if k in (*RESOURCE_FIELDS, "environment", "docker_image")
    }
    with transaction.atomic():
        if resource_change:
            transition(server, action="update", to=None)
            server.refresh_from_db()
            if "environment" in changes:
                changes["environment"] = validate_values(
                    server.template,
                    {**server.environment, **changes["environment"]},
                    editable_only=not can(actor, "admin.write"),
                )
                _check_startup(server.template, changes["environment"])
            node = Node.objects.select_for_update().get(pk=server.node_id)
            wanted = {f: changes.get(f, getattr(server, f)) for f in RESOURCE_FIELDS}
            short = placement.shortages(
                node,
                memory=wanted["allocated_memory_mb"],
                swap=wanted["allocated_swap_mb"],
                cpu=wanted["allocated_cpu_cores"],
                disk=wanted["allocated_disk_mb"],
                exclude_server=server,
            )
            if short:
                message = placement.refusal(node, short, numbers=True)
                raise exceptions.ValidationError({s.field: [message] for s in short})
        elif server.status == S.SUSPENDED:
            check(server, "update")
        for field, value in changes.items():
            setattr(server, field, value)
        server.save()
        audit("server.update", actor=actor, request=request, resource=server, changes=sorted(changes))
    return server


def server_delete(*, server: Server, actor: User, request=None) -> Job:
    """Stopped servers only: the container and files are removed by a job, then the row."""
    from servers.tasks import server_delete_task

    with transaction.atomic():
        transition(server, action="delete", to=S.STOPPING)
        job = _job(server, Job.Kind.DELETE, actor)
        audit("server.delete", actor=actor, request=request, resource=server, serverName=server.name)
        _queue(server_delete_task, server.pk, job.pk)
    return job


def server_install(
    *, server: Server, actor: User, request=None, reinstall: bool = False, docker_image: str | None = None
) -> Job:
    """Queue the install script; with `docker_image`, switch to that image first (checked like update)."""
    from servers.tasks import server_install_task

    switch = {}
    if docker_image is not None:
        check_image(actor, server.template, docker_image)
        switch = {"docker_image": docker_image}
    with transaction.atomic():
        transition(server, action="install", to=S.INSTALLING, status_reason="", **switch)
        job = _job(server, Job.Kind.INSTALL, actor)
        audit(
            "server.reinstall" if reinstall else "server.install",
            actor=actor,
            request=request,
            resource=server,
            **({"dockerImage": docker_image} if switch else {}),
        )
        _say(server, f"{'Reinstall' if reinstall else 'Installation'} requested by {actor.username}.")
        _queue(server_install_task, server.pk, job.pk)
    return job


def _power(server: Server, actor: User, action: str, to: str, request=None, **task_kwargs) -> None:
    from servers.tasks import server_power_task

    if action in ("start", "restart") and server.installed_at is None:
        check(server, action)
        raise Conflict(
            {
                "detail": "The server is not installed yet: POST /install first.",
                "current_state": server.status,
            }
        )
    if (
        action in ("start", "restart")
        and server.allocated_disk_mb
        and server.disk_usage_mb > server.allocated_disk_mb
    ):
        check(server, action)
        raise Conflict(
            {
                "detail": f"The server uses {server.disk_usage_mb} MB of its {server.allocated_disk_mb} MB "
                "disk; delete files or ask for more space before starting it.",
                "current_state": server.status,
            }
        )
    with transaction.atomic():
        previous = transition(server, action=action, to=to)
        if action == "restart" and previous in (S.STOPPED, S.CRASHED):
            action = "start"
        audit(f"server.{action}", actor=actor, request=request, resource=server, serverName=server.name)
        _say(server, f"{action.capitalize()} requested by {getattr(actor, 'username', 'the panel')}.")
        transaction.on_commit(lambda: server_power_task.delay(str(server.pk), action, **task_kwargs))


def server_start(*, server: Server, actor: User, request=None) -> None:
    _power(server, actor, "start", S.STARTING, request)


def server_stop(*, server: Server, actor: User, timeout: int | None = None, request=None) -> None:
    _power(server, actor, "stop", S.STOPPING, request, timeout=timeout)


def server_restart(*, server: Server, actor: User, request=None) -> None:
    _power(
        server,
        actor,
        "restart",
        S.STOPPING if server.status in (S.RUNNING, S.STARTING) else S.STARTING,
        request,
    )


def server_kill(*, server: Server, actor: User, request=None) -> None:
    _power(server, actor, "kill", S.STOPPING, request)


def server_command(*, server: Server, actor: User, command: str, request=None) -> None:
    """Send a line to the game's stdin (running or starting servers only)."""
    from servers.tasks import server_command_task

    if server.status not in (S.RUNNING, S.STARTING):
        check(server, "stop")  # same states accept commands; raises 423/409
    audit("server.command", actor=actor, request=request, resource=server, command=command[:200])
    server_command_task.delay(str(server.pk), command)


def server_suspend(*, server: Server, actor: User, reason: str = "", request=None) -> Server:
    from servers.tasks import server_power_task

    with transaction.atomic():
        previous = transition(
            server,
            action="suspend",
            to=S.SUSPENDED,
            suspended_at=timezone.now(),
            suspended_by=actor,
            suspension_reason=reason,
        )
        audit("server.suspend", actor=actor, request=request, resource=server, reason=reason)
        _say(server, f"Server suspended{': ' + reason if reason else ''}.")
        if previous in (S.RUNNING, S.STARTING, S.STOPPING):
            transaction.on_commit(lambda: server_power_task.delay(str(server.pk), "kill"))
    server.refresh_from_db()
    return server


def server_unsuspend(*, server: Server, actor: User, request=None) -> Server:
    with transaction.atomic():
        transition(
            server,
            action="unsuspend",
            to=S.STOPPED,
            suspended_at=None,
            suspended_by=None,
            suspension_reason="",
        )
        audit("server.unsuspend", actor=actor, request=request, resource=server)
        _say(server, "Server unsuspended.")
    server.refresh_from_db()
    return server


def server_reset_crash_count(*, server: Server, actor: User, request=None) -> None:
    if server.status == S.SUSPENDED:
        check(server, "update")
    Server.objects.filter(pk=server.pk).update(crash_count=0, last_crash_at=None)
    audit("server.reset_crash_count", actor=actor, request=request, resource=server)


def server_set_restart_policy(
    *, server: Server, actor: User, restart_policy: str, max_crash_count: int | None = None, request=None
) -> Server:
    if server.status == S.SUSPENDED:
        check(server, "update")
    server.restart_policy = restart_policy
    if max_crash_count is not None:
        server.max_crash_count = max_crash_count
    server.save(update_fields=["restart_policy", "max_crash_count", "updated_at"])
    audit(
        "server.restart_policy",
        actor=actor,
        request=request,
        resource=server,
        restartPolicy=restart_policy,
        maxCrashCount=server.max_crash_count,
    )
    return server
