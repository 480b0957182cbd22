"""The audit trail: every state change made through the API, the admin or a service is recorded here."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import AuditLog
from config.addresses import client_address, parse_address

logger = logging.getLogger(__name__)


# The same function every address-based control uses (trusted proxies, validated): see config.addresses.
client_ip = client_address


def _valid_ip(ip: str | None) -> str | None:
    address = parse_address(ip)
    return str(address) if address else None


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
        ip_address=_valid_ip(ip) or client_address(request),
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
