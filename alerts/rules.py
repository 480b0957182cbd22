"""Alert rules are changed here (the API and the admin call these): checked by alerts.validation,
written with their audit row in one transaction. A new rule gets its own signing secret (encrypted at
rest), which its generic JSON webhooks are signed with; rotating it replaces it.

Disabling a rule, changing what it watches (type, target, target id, conditions) or deleting it
resolves its open `rule:<id>:…` alerts ("The rule was disabled." / "… changed." / "… deleted."): no
evaluation would ever resolve them. They resolve as by the system (resolved_by empty); who did it is
in the rule's own audit row, in the same transaction."""

import secrets

from django.db import transaction

from accounts.audit import audit
from alerts import services, validation
from alerts.models import Alert, AlertRule
from config.crypto import decrypt, encrypt

WATCHING = {"type", "target", "target_id", "conditions"}  # a change of these orphans the rule's alerts


def new_secret() -> str:
    """A fresh signing secret, encrypted as stored."""
    return encrypt(secrets.token_urlsafe(32))


def secret_of(obj) -> str:
    """The plain signing secret of a rule or notification ('' when it has none)."""
    return decrypt(obj.signing_secret) if obj.signing_secret else ""


def rule_create(*, actor, request=None, **fields) -> AlertRule:
    cleaned = validation.rule(fields)
    with transaction.atomic():
        rule = AlertRule.objects.create(**cleaned, signing_secret=new_secret(), created_by=actor)
        audit(
            "alert_rule.create",
            actor=actor,
            request=request,
            resource_type="alert_rule",
            resource_id=str(rule.pk),
            name=rule.name,
            type=rule.type,
        )
    return rule


def rule_update(*, rule: AlertRule, actor, request=None, **fields) -> AlertRule:
    cleaned = validation.rule(fields, instance=rule)
    changed = sorted(k for k, v in cleaned.items() if getattr(rule, k) != v)
    with transaction.atomic():
        for key, value in cleaned.items():
            setattr(rule, key, value)
        rule.save()
        if "enabled" in changed and not rule.enabled:
            _resolve_open(rule, "The rule was disabled.")
        elif set(changed) & WATCHING:
            _resolve_open(rule, "The rule was changed.")
        audit(
            "alert_rule.update",
            actor=actor,
            request=request,
            resource_type="alert_rule",
            resource_id=str(rule.pk),
            changed=changed,
        )
    return rule


def rule_rotate_secret(*, rule: AlertRule, actor, request=None) -> str:
    """A new signing secret for the rule; returns it in plain (shown once)."""
    plain = secrets.token_urlsafe(32)
    with transaction.atomic():
        AlertRule.objects.filter(pk=rule.pk).update(signing_secret=encrypt(plain))
        audit(
            "alert_rule.rotate_secret",
            actor=actor,
            request=request,
            resource_type="alert_rule",
            resource_id=str(rule.pk),
        )
    rule.refresh_from_db()
    return plain


def rule_delete(*, rule: AlertRule, actor, request=None) -> None:
    with transaction.atomic():
        audit(
            "alert_rule.delete",
            actor=actor,
            request=request,
            resource_type="alert_rule",
            resource_id=str(rule.pk),
            name=rule.name,
        )
        _resolve_open(rule, "The rule was deleted.")
        rule.delete()


def _resolve_open(rule: AlertRule, resolution: str) -> int:
    """Resolve the rule's open alerts that only its evaluation would ever resolve."""
    return services.resolve(
        Alert.objects.filter(fingerprint__startswith=f"rule:{rule.pk}:"), resolution=resolution
    )
