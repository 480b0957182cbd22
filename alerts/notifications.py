"""A server's own notification subscriptions (a webhook such as a Discord channel, or an email
address), made by people holding alert.subscribe on it: who may touch them, and the changes (checked
by alerts.validation, audited, at most MAX_PER_SERVER per server)."""

from django.db import transaction

from accounts.audit import audit
from accounts.permissions import can
from alerts import validation
from alerts.models import ServerNotification
from alerts.rules import new_secret
from config.errors import InvalidInput, NotAllowed, NotFound, Suspended
from config.ids import is_uuid
from servers.models import Server
from servers.selectors import servers_visible_to

MAX_PER_SERVER = 10
PERMISSION = "alert.subscribe"


def notification_server(user, server_id, *, write: bool):
    """The server `user` sees (else 404) holding alert.subscribe on it (else 403); a change waits
    while it is suspended (423), reading does not."""
    server = servers_visible_to(user).filter(pk=server_id).first() if is_uuid(server_id) else None
    if server is None:
        raise NotFound("Server not found.")
    if not can(user, PERMISSION, server):
        raise NotAllowed(f"You do not have permission to perform this action (requires {PERMISSION})")
    if write and server.status == server.Status.SUSPENDED:
        raise Suspended("Server is suspended: its notifications cannot be changed until staff unsuspend it.")
    return server


def notification_of(server, notification_id) -> ServerNotification:
    found = None
    if is_uuid(notification_id):
        found = ServerNotification.objects.filter(pk=notification_id, server=server).first()
    if found is None:
        raise NotFound("Notification not found.")
    return found


def notification_create(*, server, actor, request=None, **fields) -> ServerNotification:
    cleaned = validation.notification(fields)
    with transaction.atomic():
        Server.objects.select_for_update().filter(pk=server.pk).first()  # one cap check at a time
        if ServerNotification.objects.filter(server=server).count() >= MAX_PER_SERVER:
            raise InvalidInput(f"A server has at most {MAX_PER_SERVER} notifications: remove one first.")
        created = ServerNotification.objects.create(
            server=server, signing_secret=new_secret(), created_by=actor, **cleaned
        )
        audit(
            "server_notification.create",
            actor=actor,
            request=request,
            resource=server,
            notification=str(created.pk),
            kind=created.kind,
        )
    return created


def notification_update(*, notification: ServerNotification, actor, request=None, **fields):
    cleaned = validation.notification(fields, instance=notification)
    with transaction.atomic():
        for key, value in cleaned.items():
            setattr(notification, key, value)
        notification.save()
        audit(
            "server_notification.update",
            actor=actor,
            request=request,
            resource=notification.server,
            notification=str(notification.pk),
        )
    return notification


def notification_delete(*, notification: ServerNotification, actor, request=None) -> None:
    with transaction.atomic():
        audit(
            "server_notification.delete",
            actor=actor,
            request=request,
            resource=notification.server,
            notification=str(notification.pk),
        )
        notification.delete()
