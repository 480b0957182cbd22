"""Changing a server: name and description any time; resources, variables and image while stopped;
its restart policy and crash count."""

from django.db import transaction

from accounts.audit import audit
from accounts.models import User
from accounts.permissions import can
from config.errors import InvalidInput
from nodes.models import Node
from nodes.validation import clean_network_mode
from servers import placement
from servers.lifecycle.create import check_startup
from servers.models import Server
from servers.resources import RESOURCE_FIELDS, STAFF_ONLY_FIELDS, check_image, require_resources
from servers.states import check, transition
from templates_app.variables import validate_values

S = Server.Status


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
                check_startup(server.template, changes["environment"])
            _check_room(server, changes)
        elif server.status == S.SUSPENDED:
            check(server, "update")
        for field, value in changes.items():
            setattr(server, field, value)
        server.save()
        audit("server.update", actor=actor, request=request, resource=server, changes=sorted(changes))
    return server


def _check_room(server: Server, changes: dict) -> None:
    """The node (locked) must have room for the new size, the server's own share aside."""
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
        raise InvalidInput({s.field: [message] for s in short})


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
