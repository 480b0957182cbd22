"""The audit trail: every state change made through the API, the admin or a service is recorded here."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import AuditLog

logger = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    """The caller's address (REMOTE_ADDR; daphne's --proxy-headers puts the real client there)."""
    if request is None:
        return None
    meta = getattr(request, "META", None) or getattr(getattr(request, "_request", None), "META", {})
    return meta.get("REMOTE_ADDR") or None


def audit(
    action: str,
    *,
    actor=None,
    request=None,
    resource=None,
    resource_type: str = "",
    resource_id: str = "",
    ip: str | None = None,
    **metadata,
) -> AuditLog:
    """Record `action` (e.g. "server.start"). Call inside the change's transaction so both commit or neither."""
    if actor is None and request is not None:
        actor = request.user
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if resource is not None:
        resource_type = resource_type or resource._meta.model_name
        resource_id = resource_id or str(resource.pk)
    return AuditLog.objects.create(
        user=actor,
        username=getattr(actor, "username", "") if actor else "",
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        metadata=metadata,
        ip_address=ip or client_ip(request),
    )


def audit_prune(*, now=None) -> int:
    """Delete rows older than AUDIT_LOG_RETENTION_DAYS (0 keeps everything)."""
    days = settings.AUDIT_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = AuditLog.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("Pruned %d audit log rows older than %d days", deleted, days)
    return deleted
