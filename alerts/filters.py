"""The query parameters of GET /api/alerts: serverId, nodeId, type, severity, resolved (true/false).
A malformed value is a 400 naming the parameter; an id the caller cannot see simply matches nothing."""

from django.db.models import QuerySet

from alerts.models import AlertType, Severity
from config.errors import InvalidInput
from config.ids import is_uuid

PARAMETERS = ("serverId", "nodeId", "type", "severity", "resolved")


def filter_alerts(alerts: QuerySet, params) -> QuerySet:
    for name, field in (("serverId", "server_id"), ("nodeId", "node_id")):
        value = params.get(name)
        if value:
            if not is_uuid(value):
                raise InvalidInput({name: "Must be an id."})
            alerts = alerts.filter(**{field: value})
    for name, choices in (("type", AlertType.values), ("severity", Severity.values)):
        value = params.get(name)
        if value:
            if value not in choices:
                raise InvalidInput({name: f"Must be one of {', '.join(choices)}."})
            alerts = alerts.filter(**{name: value})
    resolved = params.get("resolved")
    if resolved:
        if resolved.lower() not in ("true", "false"):
            raise InvalidInput({"resolved": "Must be true or false."})
        alerts = alerts.filter(resolved=resolved.lower() == "true")
    return alerts
