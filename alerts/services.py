"""The one way an alert is opened, updated or resolved, whoever noticed it (rule evaluation, the
monitor's crash decision, the health checker's offline transition, a person).

An alert is about a `fingerprint` (a rule or an event type, and its server or node). At most one alert
per fingerprint is open (a partial unique index holds it under concurrency); while it is, or when one
was opened within the dedupe window, a repeat only bumps `occurrences` and `last_seen_at` and sends
nothing. An alert that resolved by itself (no person) with one of the caller's `reopen` resolutions
less than the dedupe window ago is reopened by a repeat (a flapping condition or a crash loop is one
alert, sent once); one a person resolved stays resolved. A new alert's deliveries are created in the
same transaction and sent after it commits.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import audit
from alerts import delivery
from alerts.models import Alert

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


def raise_alert(
    *,
    type: str,
    fingerprint: str,
    title: str,
    message: str = "",
    severity: str = "warning",
    metadata: dict | None = None,
    server=None,
    node=None,
    rules: list | tuple = (),
    dedupe_seconds: int,
    reopen: tuple[str, ...] = (),
    now=None,
) -> Alert | None:
    """Open an alert and queue its deliveries (to `rules`' actions and the server's subscriptions), or,
    when it repeats one that is open, that resolved by itself with a `reopen` resolution within
    `dedupe_seconds` (reopened), or that was opened within `dedupe_seconds`, record the repeat on that
    one. Returns the new alert, or None for a repeat."""
    now = now or timezone.now()
    with transaction.atomic():
        current = repeatable(fingerprint, reopen=reopen, dedupe_seconds=dedupe_seconds, now=now)
        if current is not None:
            record_repeat(current, now)
            return None
        recent = Alert.objects.filter(
            fingerprint=fingerprint, created_at__gte=now - timedelta(seconds=dedupe_seconds)
        ).first()
        if recent is not None:
            _repeat(recent, now)
            return None
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    type=type,
                    fingerprint=fingerprint,
                    title=title[:200],
                    message=message,
                    severity=severity,
                    metadata=metadata or {},
                    server=server,
                    node=node,
                    rule=rules[0] if rules else None,
                    created_at=now,
                    last_seen_at=now,
                )
        except IntegrityError:  # another evaluator opened it a moment ago
            _repeat(Alert.objects.get(fingerprint=fingerprint, resolved=False), now)
            return None
        delivery.deliver_on_commit(alert, rules)
    return alert


def repeatable(fingerprint: str, *, reopen=(), dedupe_seconds: int, now) -> Alert | None:
    """The fingerprint's open alert, or else its latest one that resolved by itself with one of the
    `reopen` resolutions less than `dedupe_seconds` ago (locked), or None."""
    alerts = Alert.objects.select_for_update().filter(fingerprint=fingerprint)
    return alerts.filter(resolved=False).first() or (
        alerts.filter(
            resolved=True,
            resolved_by=None,
            resolution__in=list(reopen),
            resolved_at__gte=now - timedelta(seconds=dedupe_seconds),
        )
        .order_by("-resolved_at")
        .first()
        if reopen
        else None
    )


def record_repeat(alert: Alert, now, **changes) -> Alert:
    """Count a repeat on `alert` (from `repeatable`), reopening it if it had resolved, with `changes`
    (fields to update). If another alert of its fingerprint was opened meanwhile, the repeat counts on
    that one instead (without `changes`). Returns the alert it counted on."""
    if alert.resolved:
        changes = {"resolved": False, "resolved_at": None, "resolution": "", **changes}
    try:
        with transaction.atomic():
            _repeat(alert, now, **changes)
    except IntegrityError:  # the partial unique index: another one is open
        alert = Alert.objects.get(fingerprint=alert.fingerprint, resolved=False)
        _repeat(alert, now)
    return alert


def _repeat(alert: Alert, now, **changes) -> None:
    Alert.objects.filter(pk=alert.pk).update(occurrences=F("occurrences") + 1, last_seen_at=now, **changes)


def resolve(alerts, *, by=None, resolution: str = "", request=None) -> int:
    """Resolve the open ones among `alerts` (a queryset); `by` a person, or None when it cleared by
    itself. Returns how many were resolved. A person's resolution is audited."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(alerts.filter(resolved=False).select_for_update(of=("self",)).values_list("pk", flat=True))
        if not ids:
            return 0
        Alert.objects.filter(pk__in=ids).update(
            resolved=True, resolved_at=now, resolved_by=by, resolution=resolution[:200]
        )
        if by is not None:
            for alert_id in ids:
                audit(
                    "alert.resolve",
                    actor=by,
                    request=request,
                    resource_type="alert",
                    resource_id=str(alert_id),
                )
    return len(ids)


def most_severe(severities, default: str) -> str:
    return max(severities, key=SEVERITY_ORDER.__getitem__, default=default)
