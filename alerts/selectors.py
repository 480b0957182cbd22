"""Who sees which alerts and who may resolve them (the API, the web UI; the admin is staff's).

Staff holding alert.read or admin.read globally see every alert. Anyone else sees the alerts of the
servers on which they hold alert.read (owners hold it; members when granted), never a node's alerts
(node_offline, a node rule's threshold) and never another server's: those answer 404 like nothing."""

from django.db.models import QuerySet

from accounts.permissions import can, has_permission
from alerts.models import Alert, AlertType
from config.errors import NotAllowed, NotFound
from config.ids import is_uuid
from servers.selectors import servers_visible_to


def sees_all(user) -> bool:
    return has_permission(user, "alert.read") or has_permission(user, "admin.read")


def alert_servers(user, permission: str = "alert.read") -> list:
    """Ids of the servers on which `user` holds `permission` (through ownership or membership)."""
    servers = servers_visible_to(user).prefetch_related("members")
    return [server.pk for server in servers if can(user, permission, server)]


def alerts_visible_to(user, alerts: QuerySet | None = None) -> QuerySet:
    alerts = Alert.objects.all() if alerts is None else alerts
    if not getattr(user, "is_authenticated", False):
        return alerts.none()
    if sees_all(user):
        return alerts
    return alerts.filter(server_id__in=alert_servers(user)).exclude(type=AlertType.NODE_OFFLINE)


def alert_for(user, alert_id) -> Alert:
    """The alert `user` sees (NotFound for another's, a node's, or a made-up id)."""
    alert = None
    if is_uuid(alert_id):
        alert = (
            alerts_visible_to(user)
            .select_related("server", "node", "resolved_by")
            .filter(pk=alert_id)
            .first()
        )
    if alert is None:
        raise NotFound("Alert not found.")
    return alert


def may_resolve(user, alert: Alert) -> bool:
    if has_permission(user, "alert.resolve"):
        return True
    return alert.server is not None and can(user, "alert.resolve", alert.server)


def check_resolve(user, alert: Alert) -> None:
    if not may_resolve(user, alert):
        raise NotAllowed("You do not have permission to perform this action (requires alert.resolve)")


def resolvable_by(user, alerts: QuerySet) -> QuerySet:
    """Among `alerts` (already the visible ones), those `user` may resolve."""
    if has_permission(user, "alert.resolve"):
        return alerts
    return alerts.filter(server_id__in=alert_servers(user, "alert.resolve"))
