"""What a plan's side does to one server: an upgrade bundle added to a stopped server, and its expiry moved
(staff, or a billing integration holding `server.resources`)."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput
from plans.models import UpgradeBundle
from servers import signals
from servers.lifecycle.suspension import server_unsuspend
from servers.lifecycle.update import server_update
from servers.models import Server
from servers.states import transition

EXPIRED = "expired"  # the suspension reason of a server whose time ran out (servers.expiry)
ADDED_BY_BUNDLES = (
    "allocated_memory_mb",
    "allocated_cpu_cores",
    "allocated_disk_mb",
    "backup_limit",
    "database_limit",
    "allocation_limit",
)
BUNDLE_SOURCE = {
    "allocated_memory_mb": "memory_mb",
    "allocated_cpu_cores": "cpu_cores",
    "allocated_disk_mb": "disk_mb",
}


def server_upgrade(*, server: Server, bundle: UpgradeBundle, actor, request=None) -> Server:
    """Add the bundle's amounts to a stopped server's limits (409 unless stopped; 400 when the bundle is
    not for the server's plan or its node has no room for the new size)."""
    plans = list(bundle.plans.all())
    if plans and server.plan not in plans:
        raise InvalidInput({"bundleId": [f"Bundle {bundle.name} is not offered for this server's plan."]})
    changes = {
        field: getattr(server, field) + getattr(bundle, BUNDLE_SOURCE.get(field, field))
        for field in ADDED_BY_BUNDLES
    }
    with transaction.atomic():
        transition(server, action="update", to=None)  # stopped only, whatever the bundle adds
        server = server_update(server=server, actor=actor, request=request, **changes)
        audit("server.upgrade", actor=actor, request=request, resource=server, bundle=bundle.name)
    return server


def server_extend(
    *,
    server: Server,
    actor,
    days: int | None = None,
    expire_at: datetime | None = None,
    never: bool = False,
    request=None,
) -> Server:
    """Move when the server expires: `days` later than now or its current expiry, whichever is later,
    or to `expire_at`, or `never`. A server suspended because it expired is unsuspended when its new
    expiry is ahead. Reminders start over for the new date."""
    now = timezone.now()
    with transaction.atomic():
        current = Server.objects.select_for_update().get(pk=server.pk)
        previous = current.expire_at
        if days is not None:
            if previous is None:
                raise IllegalTransition(
                    "This server never expires: give expireAt to set a date.", current_state=current.status
                )
            new = max(previous, now) + timedelta(days=days)
        elif never:
            new = None
        else:
            if expire_at <= now:
                raise InvalidInput(
                    {"expireAt": ["Give a time in the future (suspend the server to stop it now)."]}
                )
            new = expire_at
        Server.objects.filter(pk=current.pk).update(expire_at=new, expiry_reminders_sent=[])
        audit(
            "server.extend",
            actor=actor,
            request=request,
            resource=current,
            previous=previous.isoformat() if previous else None,
            expireAt=new.isoformat() if new else None,
        )
        signals.server_expiry_ended.send(
            sender=Server, server=current, resolution="The server's expiry was moved."
        )
        if current.status == Server.Status.SUSPENDED and current.suspension_reason == EXPIRED:
            server_unsuspend(server=current, actor=actor, request=request)
    server.refresh_from_db()
    return server
