"""Servers whose time runs out (beat, every HEARTH_EXPIRY_CHECK_SECONDS): reminders before, the
suspension when it comes, and, when the plan says so, the deletion after its grace period.

Each server is handled under its row lock and each step records what it did, so two beats (or a
retried task) never send a reminder twice or suspend twice. Staff moving the expiry (servers.lifecycle
.plan.server_extend) start the reminders over and lift an expiry's suspension. Reminders leave as the
server_expiring signal (alerts sends them).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from config.errors import DomainError
from servers import signals
from servers.lifecycle.delete import server_delete
from servers.lifecycle.plan import EXPIRED
from servers.lifecycle.suspension import server_suspend
from servers.models import Server
from servers.states import transition

logger = logging.getLogger(__name__)
S = Server.Status


def expiry_run(*, now=None) -> dict:
    """One pass: reminders, suspensions, deletions. Returns how many of each."""
    now = now or timezone.now()
    return {"reminded": _remind(now), "suspended": _suspend(now), "deleted": _delete(now)}


def _remind(now) -> int:
    thresholds = sorted(set(settings.EXPIRY_REMINDER_DAYS))
    if not thresholds:
        return 0
    horizon = now + timedelta(days=max(thresholds))
    sent = 0
    for server_id in Server.objects.filter(expire_at__gt=now, expire_at__lte=horizon).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            server = Server.objects.select_for_update().select_related("node", "owner").get(pk=server_id)
            if server.expire_at is None or server.expire_at <= now or server.status == S.SUSPENDED:
                continue
            left = server.expire_at - now
            due = [days for days in thresholds if left <= timedelta(days=days)]
            fresh = [days for days in due if days not in server.expiry_reminders_sent]
            if not fresh:
                continue
            # Several thresholds at once (a server made with 2 days left) are one reminder: the nearest.
            Server.objects.filter(pk=server.pk).update(
                expiry_reminders_sent=sorted({*server.expiry_reminders_sent, *due})
            )
            signals.server_expiring.send(sender=Server, server=server, days_left=min(fresh))
            sent += 1
    return sent


def _suspend(now) -> int:
    suspended = 0
    expired = Server.objects.filter(expire_at__lte=now).exclude(status=S.SUSPENDED)
    for server in expired.select_related("node", "template"):
        try:
            server_suspend(server=server, actor=None, reason=EXPIRED)
        except DomainError as exc:  # transferring or restoring: the next pass
            logger.info("Expired server %s is suspended later: %s", server.pk, exc)
            continue
        signals.server_expiry_ended.send(
            sender=Server, server=server, resolution="The server expired and was suspended."
        )
        suspended += 1
    return suspended


def _delete(now) -> int:
    deleted = 0
    candidates = Server.objects.filter(
        status=S.SUSPENDED,
        suspension_reason=EXPIRED,
        expire_at__isnull=False,
        plan__delete_after_days__isnull=False,
    ).select_related("plan", "node", "template")
    for server in candidates:
        if server.expire_at + timedelta(days=server.plan.delete_after_days) > now:
            continue
        try:
            with transaction.atomic():
                # A suspended server cannot be deleted; this one is lifted and deleted in one step.
                transition(server, action="unsuspend", to=S.STOPPED, suspended_at=None, suspension_reason="")
                server.refresh_from_db()
                audit(
                    "server.expired_delete",
                    resource=server,
                    expireAt=server.expire_at.isoformat(),
                    plan=server.plan.name,
                )
                server_delete(server=server, actor=None)
        except DomainError as exc:  # a backup being made: the next pass
            logger.info("Expired server %s is deleted later: %s", server.pk, exc)
            continue
        deleted += 1
    return deleted
