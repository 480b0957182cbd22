"""Where an alert goes: its rules' actions, then its server's enabled subscriptions to its type (never a
node alert: customers never see nodes), each (channel, URL or address) once. Rows and sending are
alerts/delivery.py's."""

from alerts import formats
from alerts.models import Alert, AlertDelivery, AlertRule, ServerNotification

D = AlertDelivery
# Node alerts are the operator's: a server's subscription never receives them (customers never see nodes).
NOT_FOR_SUBSCRIPTIONS = {"node_offline"}
# Told to the server's owner by email whatever they subscribed to: their server is about to stop.
TO_THE_OWNER = {"server_expiring"}


def _rule_destinations(rule: AlertRule) -> list[dict]:
    found = []
    for action in rule.actions or []:
        if not isinstance(action, dict):
            continue
        if action.get("type") == "webhook" and action.get("url"):
            found.append(_webhook(action["url"], action.get("format"), rule=rule))
        elif action.get("type") == "email":
            to = action.get("to") or []
            for address in [to] if isinstance(to, str) else to:
                if address:
                    found.append(
                        {"channel": D.Channel.EMAIL, "destination": address, "format": "email", "rule": rule}
                    )
    return found


def _webhook(url: str, fmt, **source) -> dict:
    try:
        resolved = formats.resolve(url, fmt)
    except ValueError:
        resolved = formats.resolve(url)
    return {"channel": D.Channel.WEBHOOK, "destination": url, "format": resolved, **source}


def _notification_destinations(notification: ServerNotification) -> list[dict]:
    if notification.kind == ServerNotification.Kind.EMAIL:
        if not notification.email:
            return []
        return [
            {
                "channel": D.Channel.EMAIL,
                "destination": notification.email,
                "format": "email",
                "notification": notification,
            }
        ]
    return (
        [_webhook(notification.url, notification.format, notification=notification)]
        if notification.url
        else []
    )


def destinations(alert: Alert, rules) -> list[dict]:
    """Every place `alert` goes: its rules' actions, then its server's enabled subscriptions to its
    type; the same (channel, URL or address) once, the first source winning."""
    found = [d for rule in rules for d in _rule_destinations(rule)]
    if alert.type in TO_THE_OWNER and alert.server_id and alert.server.owner.email:
        found.append({"channel": D.Channel.EMAIL, "destination": alert.server.owner.email, "format": "email"})
    if alert.server_id and alert.type not in NOT_FOR_SUBSCRIPTIONS:
        for notification in ServerNotification.objects.filter(server_id=alert.server_id, enabled=True):
            if not notification.events or alert.type in notification.events:
                found.extend(_notification_destinations(notification))
    unique = {}
    for d in found:
        key = (
            d["channel"],
            d["destination"].strip().lower() if d["channel"] == D.Channel.EMAIL else d["destination"],
        )
        unique.setdefault(key, d)
    return list(unique.values())
