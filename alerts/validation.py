"""What an alert rule and a server notification may say, checked in one place for the API, the admin
and the web UI: InvalidInput (400) naming the field and what is wrong with it.

A rule: type in the three alert types; target server|node (node_offline only on nodes, server_crashed
only on servers); target_id `*` or an existing server's or node's id; conditions exact for
resource_threshold and `{}` for the event types; actions a list of webhooks (URL checked by
config.outbound.check_url, the same check that runs again at connect time) and emails.
"""

import ipaddress
import math
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from alerts.models import AlertRule, AlertType, ServerNotification, Severity
from config.errors import DomainError, InvalidInput
from nodes.models import Node
from servers.models import Server

TYPES = tuple(AlertType.values)
METRICS = ("cpu", "memory", "disk")
OPERATORS = (">", "<", ">=", "<=", "==")
FORMATS = ("auto", "discord", "slack", "json")
MAX_DURATION = 86_400
MAX_ACTIONS = 10
MAX_RECIPIENTS = 10
MAX_DEDUPE = 7 * 86_400
# What a server raises (its notifications may subscribe to these).
SERVER_EVENTS = (AlertType.RESOURCE_THRESHOLD, AlertType.SERVER_CRASHED, AlertType.SERVER_EXPIRING)

RULE_FIELDS = (
    "name",
    "type",
    "target",
    "target_id",
    "conditions",
    "actions",
    "enabled",
    "severity",
    "auto_resolve",
    "dedupe_seconds",
)
NOTIFICATION_FIELDS = ("kind", "url", "email", "format", "events", "enabled")


def refuse_unknown(data: dict, allowed, where: str = "") -> None:
    """InvalidInput naming the keys of `data` that are not in `allowed` (the views call it before
    anything else: a body key must never reach a service as a keyword argument of its own)."""
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise InvalidInput(
            {where or extra[0]: f"Unknown field(s): {', '.join(extra)}. Allowed: {', '.join(allowed)}."}
        )


_unknown = refuse_unknown


def _bool(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput({field: "Must be true or false."})
    return value


def _int(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput({field: f"Must be a whole number from {low} to {high}."})
    return value


def name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput({"name": "Give the rule a name (1 to 100 characters)."})
    if len(value.strip()) > 100:
        raise InvalidInput({"name": "At most 100 characters."})
    return value.strip()


def conditions(type_: str, value) -> dict:
    """Exact `{metric, operator, value, duration}` for resource_threshold; `{}` for the event types."""
    if not isinstance(value, dict):
        raise InvalidInput({"conditions": "Must be an object."})
    if type_ != AlertType.RESOURCE_THRESHOLD:
        if value:
            raise InvalidInput({"conditions": f"A {type_} rule takes no conditions: send {{}}."})
        return {}
    _unknown(value, ("metric", "operator", "value", "duration"), "conditions")
    missing = [key for key in ("metric", "operator", "value") if key not in value]
    if missing:
        raise InvalidInput(
            {"conditions": f"Missing {', '.join(missing)} (metric, operator, value, duration)."}
        )
    if value["metric"] not in METRICS:
        raise InvalidInput({"conditions.metric": f"Must be one of {', '.join(METRICS)}."})
    if value["operator"] not in OPERATORS:
        raise InvalidInput({"conditions.operator": f"Must be one of {' '.join(OPERATORS)}."})
    number = value["value"]
    if (  # the range before isfinite: a huge integer would overflow converting to a float
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or not 0 <= number <= 100
        or not math.isfinite(number)
    ):
        raise InvalidInput({"conditions.value": "Must be a number from 0 to 100 (percent)."})
    duration = _int(value.get("duration", 0), "conditions.duration", 0, MAX_DURATION)
    return {"metric": value["metric"], "operator": value["operator"], "value": number, "duration": duration}


def webhook_url(value, field: str = "url", known=()) -> str:
    """An http(s) URL whose host resolves to allowed (public) addresses; the refusal is the message.
    A URL in `known` (the stored row's) is not looked up again: a change to something else (disabling
    a rule, say) must not fail because a webhook's DNS does now; connecting checks it anyway."""
    from config.outbound import OutboundRefused, check_url

    if not isinstance(value, str) or not value:
        raise InvalidInput({field: "Give the webhook's URL (http:// or https://)."})
    if len(value) > 2048:
        raise InvalidInput({field: "At most 2048 characters."})
    if value in known:
        return value
    try:
        check_url(value)
    except OutboundRefused as exc:
        raise InvalidInput({field: exc.without_address()}) from exc
    except DomainError as exc:  # a name that does not resolve (OutboundFailed): bad input here
        raise InvalidInput({field: exc.message}) from exc
    return value


def webhook_format(value, field: str = "format") -> str:
    if value not in FORMATS:
        raise InvalidInput({field: f"Must be one of {', '.join(FORMATS)}."})
    return value


def email_address(value, field: str) -> str:
    try:
        if not isinstance(value, str) or len(value) > 254:
            raise ValidationError("bad")
        validate_email(value)
    except ValidationError as exc:
        raise InvalidInput({field: f"{str(value)[:80]!r} is not a valid email address."}) from exc
    domain = value.rpartition("@")[2].lower().rstrip(".")
    if domain.startswith("[") or _is_ip(domain) or "." not in domain or domain.endswith("localhost"):
        raise InvalidInput(
            {field: f"{value[:80]!r}: give an address at a public domain name (not localhost or an IP)."}
        )
    return value


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _stored_urls(instance) -> set:
    if instance is None:
        return set()
    if isinstance(instance, ServerNotification):
        return {instance.url} if instance.url else set()
    return {a.get("url") for a in instance.actions or [] if isinstance(a, dict) and a.get("url")}


def actions(value, known=()) -> list[dict]:
    if not isinstance(value, list):
        raise InvalidInput({"actions": "Must be a list of {type: webhook, url} and {type: email, to}."})
    if len(value) > MAX_ACTIONS:
        raise InvalidInput({"actions": f"At most {MAX_ACTIONS} actions."})
    cleaned = []
    for i, action in enumerate(value):
        where = f"actions[{i}]"
        if not isinstance(action, dict) or action.get("type") not in ("webhook", "email"):
            raise InvalidInput({where: "Each action is {type: webhook, url, format?} or {type: email, to}."})
        if action["type"] == "webhook":
            _unknown(action, ("type", "url", "format"), where)
            cleaned.append(
                {
                    "type": "webhook",
                    "url": webhook_url(action.get("url"), f"{where}.url", known),
                    "format": webhook_format(action.get("format", "auto"), f"{where}.format"),
                }
            )
        else:
            _unknown(action, ("type", "to"), where)
            to = action.get("to")
            if isinstance(to, str):
                to = [to]
            if not isinstance(to, list) or not to or len(to) > MAX_RECIPIENTS:
                raise InvalidInput({f"{where}.to": f"Give 1 to {MAX_RECIPIENTS} email addresses."})
            cleaned.append({"type": "email", "to": [email_address(a, f"{where}.to") for a in to]})
    return cleaned


def _target_exists(target: str, target_id) -> str:
    if target_id == "*":
        return "*"
    model = Server if target == AlertRule.Target.SERVER else Node
    try:
        exists = model.objects.filter(pk=uuid.UUID(str(target_id))).exists()
    except ValueError:
        exists = False
    if not exists:
        raise InvalidInput({"targetId": f"No {target} with id {str(target_id)[:64]!r}: give its id or *."})
    return str(uuid.UUID(str(target_id)))


def rule(data: dict, instance: AlertRule | None = None) -> dict:
    """The cleaned fields of a new rule (instance None) or of a change to `instance` (only the fields
    given, each checked against the rule as it will be)."""
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object.")
    _unknown(data, RULE_FIELDS)
    current = {field: getattr(instance, field) for field in RULE_FIELDS} if instance else {}
    merged = {**current, **data}
    for required in ("name", "type", "target"):
        if required not in merged:
            raise InvalidInput({required: "This field is required."})
    if merged["type"] not in TYPES:
        raise InvalidInput({"type": f"Must be one of {', '.join(TYPES)}."})
    if merged["target"] not in AlertRule.Target.values:
        raise InvalidInput({"target": "Must be server or node."})
    type_, target = merged["type"], merged["target"]
    if type_ == AlertType.NODE_OFFLINE and target != "node":
        raise InvalidInput({"target": "A node_offline rule watches nodes: target must be node."})
    if type_ in (AlertType.SERVER_CRASHED, AlertType.SERVER_EXPIRING) and target != "server":
        raise InvalidInput({"target": f"A {type_} rule watches servers: target must be server."})
    if "conditions" not in merged:
        if type_ == AlertType.RESOURCE_THRESHOLD:
            raise InvalidInput(
                {"conditions": "Required for resource_threshold: {metric, operator, value, duration}."}
            )
        merged["conditions"] = {}
    cleaned = {
        "name": name(merged["name"]),
        "type": type_,
        "target": target,
        "target_id": _target_exists(target, merged.get("target_id", "*")),
        "conditions": conditions(type_, merged["conditions"]),
        "actions": actions(merged.get("actions", []), _stored_urls(instance)),
    }
    if "severity" in merged:
        if merged["severity"] not in Severity.values:
            raise InvalidInput({"severity": f"Must be one of {', '.join(Severity.values)}."})
        cleaned["severity"] = merged["severity"]
    for flag in ("enabled", "auto_resolve"):
        if flag in merged:
            cleaned[flag] = _bool(merged[flag], "autoResolve" if flag == "auto_resolve" else flag)
    if "dedupe_seconds" in merged:
        cleaned["dedupe_seconds"] = _int(merged["dedupe_seconds"], "dedupeSeconds", 0, MAX_DEDUPE)
    return cleaned


def notification(data: dict, instance: ServerNotification | None = None) -> dict:
    """The cleaned fields of a server's new subscription, or of a change to `instance`."""
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object.")
    _unknown(data, NOTIFICATION_FIELDS)
    current = {field: getattr(instance, field) for field in NOTIFICATION_FIELDS} if instance else {}
    merged = {**current, **data}
    kind = merged.get("kind", "webhook")
    if kind not in ServerNotification.Kind.values:
        raise InvalidInput({"kind": "Must be webhook or email."})
    cleaned = {"kind": kind}
    if kind == "webhook":
        cleaned["url"] = webhook_url(merged.get("url"), known=_stored_urls(instance))
        cleaned["format"] = webhook_format(merged.get("format", "auto") or "auto")
        cleaned["email"] = ""
    else:
        cleaned["email"] = email_address(merged.get("email"), "email")
        cleaned["url"] = ""
        cleaned["format"] = "auto"
    events = merged.get("events", [])
    if not isinstance(events, list):
        raise InvalidInput({"events": "Must be a list of alert types (empty means all)."})
    for event in events:
        if event not in SERVER_EVENTS:
            raise InvalidInput(
                {
                    "events": f"{str(event)[:40]!r} is not an alert a server raises: use {', '.join(SERVER_EVENTS)}."
                }
            )
    cleaned["events"] = sorted(set(events))
    if "enabled" in merged:
        cleaned["enabled"] = _bool(merged["enabled"], "enabled")
    return cleaned
