"""Where an alert is sent and how: a delivery row per destination (a rule's webhook or email action, a
subscription of the alert's server), created with the alert and sent by Celery after it commits.

Sending one delivery (`send`, from alerts.tasks.alerts_deliver_task) is one attempt: claimed first with
a conditional update on (status pending, attempts = the attempt the message was queued for), so a
message that arrives twice (acks_late redelivery, a double queue) sends once and a delivered delivery
is never sent again. Webhooks go through config/outbound.py (SSRF checks at connect time, redirects
re-checked, time and size caps), never following a redirect (a 3xx fails: a webhook's body and
signature go only where its owner said). 2xx is delivered; 429, 5xx, no connection or a timeout is
retried with backoff (ALERT_DELIVERY_BACKOFF_SECONDS doubling, or the receiver's Retry-After, capped)
until ALERT_DELIVERY_ATTEMPTS; another 4xx or a refused address fails at once. What a delivery records
never holds its URL's path (webhook tokens) nor the addresses a refused name resolved to. `sweep()`
(beat) re-queues a pending delivery whose message was lost (a broker error on commit or on retry).
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from urllib.parse import urljoin as _urljoin

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import BadHeaderError, send_mail
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from alerts import formats, signing
from alerts.destinations import (  # destinations re-exported: delivery.destinations()
    NOT_FOR_SUBSCRIPTIONS,
    _notification_destinations,
    _rule_destinations,
    destinations,
)
from alerts.masking import mask_destination, scrub
from alerts.models import Alert, AlertDelivery, AlertRule, ServerNotification
from config import outbound
from config.crypto import decrypt
from config.errors import InvalidInput

logger = logging.getLogger(__name__)
D = AlertDelivery
READ_BYTES = 4096  # of a receiver's answer, for the error message
ERROR_CHARS = 500
TEST_FINGERPRINT = "test:"  # a test send's alert: kept for its delivery log, left out of the stats
MAX_URL = 2048  # AlertDelivery.destination's length: a longer URL is refused, never cut
TIME_LIMIT_MARGIN = 30  # seconds past the timeout before the task is stopped (soft), and killed (2x)
SWEEP_MARGIN = 60  # seconds past an attempt's longest possible wait before the sweeper re-queues it


@dataclass
class Outcome:
    delivered: bool
    status_code: int | None = None
    error: str = ""
    retry: bool = False
    retry_after: float | None = None


def _create(alert: Alert, found: list[dict]) -> list[AlertDelivery]:
    rows = [
        AlertDelivery(
            alert=alert,
            rule=d.get("rule"),
            notification=d.get("notification"),
            channel=d["channel"],
            destination=d["destination"][:MAX_URL],
            format=d["format"],
            **_too_long(d),
        )
        for d in found
    ]
    AlertDelivery.objects.bulk_create(rows)
    for row in rows:
        if row.status == D.Status.PENDING:  # robust: a broker error leaves it to sweep(), not the commit
            transaction.on_commit(partial(queue, row.pk), robust=True)
    return rows


def _too_long(d: dict) -> dict:
    if len(d["destination"]) <= MAX_URL:
        return {}
    what = "address" if d["channel"] == D.Channel.EMAIL else "URL"
    return {"status": D.Status.FAILED, "error": f"Not sent: the {what} is longer than {MAX_URL} characters."}


def deliver_on_commit(alert: Alert, rules) -> list[AlertDelivery]:
    """Create the alert's deliveries (inside the caller's transaction) and send them once it commits;
    a rolled-back alert sends nothing."""
    return _create(alert, destinations(alert, rules))


def queue(delivery_id, attempt: int = 0, countdown: float | None = None) -> None:
    from alerts.tasks import alerts_deliver_task

    alerts_deliver_task.apply_async((str(delivery_id), attempt), countdown=countdown)


# ---- sending --------------------------------------------------------------------------------------


def time_limits() -> tuple[float, float]:
    """(soft, hard) time limits of one attempt's task: past its timeout, then twice the margin."""
    timeout = settings.ALERT_DELIVERY_TIMEOUT_SECONDS
    return timeout + TIME_LIMIT_MARGIN, timeout + 2 * TIME_LIMIT_MARGIN


def _stale_after() -> timedelta:
    """An attempt claimed this long ago that recorded nothing died with its worker: it may be redone
    (longer than the hard time limit, so an attempt still running is never redone beside itself)."""
    return timedelta(seconds=time_limits()[1] + TIME_LIMIT_MARGIN)


def claim(delivery_id, attempt: int | None = None) -> AlertDelivery | None:
    """Take attempt number `attempt` (0-based: the attempts made before it) of a pending delivery, or
    None when it is not this message's to make (delivered, failed, taken by another message)."""
    row = AlertDelivery.objects.filter(pk=delivery_id, status=D.Status.PENDING).first()
    if row is None:
        return None
    now = timezone.now()
    expected = row.attempts if attempt is None else attempt
    pending = AlertDelivery.objects.filter(pk=delivery_id, status=D.Status.PENDING)
    if row.attempts == expected:
        claimed = pending.filter(attempts=expected).update(
            attempts=expected + 1, last_attempt_at=now, duration_ms=None
        )
    elif (
        row.attempts == expected + 1
        and row.duration_ms is None
        and row.last_attempt_at
        and row.last_attempt_at < now - _stale_after()
    ):  # this message's attempt was claimed and never finished (its worker died): redo it
        claimed = pending.filter(attempts=expected + 1, last_attempt_at=row.last_attempt_at).update(
            last_attempt_at=now
        )
    else:
        claimed = 0
    if not claimed:
        return None
    return AlertDelivery.objects.select_related("alert__server", "alert__node", "rule", "notification").get(
        pk=delivery_id
    )


def send(delivery_id, attempt: int | None = None) -> str | None:
    """Make one attempt of a delivery; queue the next one when it may be retried. Returns the status
    after it (pending when a retry is queued), or None when this message had nothing to do."""
    delivery = claim(delivery_id, attempt)
    if delivery is None:
        return None
    started = time.monotonic()
    try:
        outcome = _email(delivery) if delivery.channel == D.Channel.EMAIL else _post(delivery)
    except SoftTimeLimitExceeded:
        outcome = Outcome(False, error="The attempt ran out of time.", retry=True)
    except Exception as exc:  # a bug must not leave the attempt claimed forever
        logger.exception("Delivery %s failed unexpectedly", delivery_id)
        outcome = Outcome(False, error=f"Unexpected error: {exc}")
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(delivery, outcome, duration_ms)


def _record(delivery: AlertDelivery, outcome: Outcome, duration_ms: int) -> str:
    now = timezone.now()
    fields = {
        "status_code": outcome.status_code,
        "duration_ms": duration_ms,
        "error": scrub(outcome.error, delivery.destination)[:ERROR_CHARS],
    }
    outcome.error = fields["error"]
    delay = None
    if outcome.delivered:
        fields.update(status=D.Status.DELIVERED, delivered_at=now, error="")
    elif outcome.retry and delivery.attempts < settings.ALERT_DELIVERY_ATTEMPTS:
        fields["status"] = D.Status.PENDING
        delay = _delay(delivery.attempts, outcome.retry_after)
        fields["error"] = f"{outcome.error} (attempt {delivery.attempts}; retrying in {delay:g} s)"[
            :ERROR_CHARS
        ]
    else:
        fields["status"] = D.Status.FAILED
        if outcome.retry:
            fields["error"] = f"Gave up after {delivery.attempts} attempts: {outcome.error}"[:ERROR_CHARS]
    AlertDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(**fields)
    if delay is not None:
        try:
            queue(delivery.pk, delivery.attempts, countdown=delay)
        except Exception:  # the broker is down: the row stays pending and sweep() queues it again
            logger.exception("Could not queue the retry of delivery %s", delivery.pk)
    log = logger.info if outcome.delivered else logger.warning
    log(
        "Alert delivery %s (%s) attempt %d: %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        fields["status"],
    )
    return fields["status"]


def _delay(attempts_made: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return max(0.0, min(retry_after, settings.ALERT_DELIVERY_RETRY_AFTER_MAX_SECONDS))
    return settings.ALERT_DELIVERY_BACKOFF_SECONDS * 2 ** (attempts_made - 1)


def _secret(delivery: AlertDelivery) -> str:
    source = delivery.rule or delivery.notification
    return decrypt(source.signing_secret) if source is not None else ""


def _post(delivery: AlertDelivery) -> Outcome:
    alert = delivery.alert
    body = formats.body(alert, delivery.format, delivery.pk)
    headers = {"Content-Type": "application/json"}
    if delivery.format == "json":
        try:
            secret = _secret(delivery)
        except ValueError as exc:
            return Outcome(False, error=str(exc))
        if not secret:
            return Outcome(
                False, error="Not sent: its rule or subscription has no signing secret (or was deleted)."
            )
        headers.update(signing.sign(secret, body))
        headers.update({signing.DELIVERY: str(delivery.pk), signing.EVENT: formats.event(alert)})
    try:
        with outbound.stream(
            delivery.destination,
            method="POST",
            body=body,
            headers=headers,
            max_bytes=settings.ALERT_DELIVERY_MAX_ANSWER_BYTES,
            timeout=settings.ALERT_DELIVERY_TIMEOUT_SECONDS,
            max_redirects=0,
        ) as (response, chunks):
            answer = _read_some(chunks)
    except outbound.OutboundRefused as exc:
        if exc.kind:
            logger.warning("Delivery %s refused: %s", delivery.pk, exc)  # the address, for the operator only
        return Outcome(False, error=exc.without_address())
    except (outbound.OutboundFailed, outbound.OutboundTooLarge) as exc:
        return Outcome(False, error=str(exc), retry=True)
    status = response.status
    if 200 <= status < 300:
        return Outcome(True, status_code=status)
    if status in outbound.REDIRECTS:
        to = outbound.origin(_urljoin(delivery.destination, response.headers.get("Location") or ""))
        return Outcome(False, status, f"The receiver redirected to {to}; webhooks are not redirected.")
    said = answer.decode("utf-8", "replace").strip()
    error = f"The receiver answered {status}" + (f": {said[:200]}" if said else ".")
    if status == 429 or status >= 500:
        return Outcome(False, status, error, retry=True, retry_after=_retry_after(response.headers))
    return Outcome(False, status, error)  # another 4xx (or a 3xx left over) will not change by retrying


def _read_some(chunks) -> bytes:
    got = b""
    try:
        for chunk in chunks:
            got += chunk
            if len(got) >= READ_BYTES:
                break
    except (outbound.OutboundFailed, outbound.OutboundTooLarge):
        pass  # the status is what counts; the answer's body only explains it
    return got[:READ_BYTES]


def _retry_after(headers: dict) -> float | None:
    """Discord and Slack say how long to wait on a 429 (seconds; an HTTP date is ignored)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _email(delivery: AlertDelivery) -> Outcome:
    subject, text = formats.email(delivery.alert)
    try:
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, [delivery.destination], fail_silently=False)
    except BadHeaderError as exc:  # the same headers next time: final
        return Outcome(False, error=f"Could not send the email: {exc}")
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        return Outcome(False, error=f"Could not send the email: {exc}", retry=True)
    return Outcome(True)


# ---- tests and display ----------------------------------------------------------------------------


def send_test(*, rule: AlertRule | None = None, notification: ServerNotification | None = None, actor=None):
    """Send a test alert ("Test alert from Hearth") to a rule's actions or a subscription's destination.
    Recorded as a resolved alert with metadata {"test": true} and its deliveries (the delivery log
    shows how it went); audited `alert_rule.test` / `server_notification.test`."""
    if (rule is None) == (notification is None):
        raise ValueError("send_test takes a rule or a notification.")
    found = _rule_destinations(rule) if rule else _notification_destinations(notification)
    if not found:
        raise InvalidInput("There is nowhere to send a test: add a webhook or email action first.")
    now = timezone.now()
    source = rule or notification
    with transaction.atomic():
        alert = Alert.objects.create(
            rule=rule,
            server=notification.server if notification else None,
            type=rule.type if rule else _subscription_type(notification),
            severity=rule.severity if rule else "info",
            title="Test alert from Hearth",
            message=f"A test of {'the rule ' + repr(rule.name) if rule else 'this server notification'}: "
            "if you can read this, alerts reach you.",
            metadata={"test": True},
            fingerprint=f"{TEST_FINGERPRINT}{uuid.uuid4()}",
            last_seen_at=now,
            created_at=now,
            resolved=True,
            resolved_at=now,
            resolved_by=actor if getattr(actor, "is_authenticated", False) else None,
            resolution="A test alert.",
        )
        deliveries = _create(alert, list({(d["channel"], d["destination"]): d for d in found}.values()))
        audit(
            "alert_rule.test" if rule else "server_notification.test",
            actor=actor,
            resource=source,
            alert=str(alert.pk),
            destinations=[mask_destination(d.destination) for d in deliveries],
        )
    return deliveries


def _subscription_type(notification: ServerNotification) -> str:
    events = [e for e in notification.events or [] if e not in NOT_FOR_SUBSCRIPTIONS]
    return (events or ["server_crashed"])[0]


def sweep(now=None) -> int:
    """Queue again every pending delivery whose next attempt is overdue: its last attempt (or its
    creation) is older than the longest wait it could have been given (backoff x 2^attempts, or the
    longest Retry-After) plus the hard time limit and a margin. Its message was lost (the broker
    failed on commit or on retry) or its worker died; claim() makes a message that was not lost after
    all a no-op, so nothing is sent twice. Returns how many were queued."""
    now = now or timezone.now()
    queued = 0
    for row in AlertDelivery.objects.filter(status=D.Status.PENDING).only(
        "pk", "attempts", "last_attempt_at", "created_at"
    ):
        wait = max(
            settings.ALERT_DELIVERY_BACKOFF_SECONDS * 2**row.attempts,
            settings.ALERT_DELIVERY_RETRY_AFTER_MAX_SECONDS if row.attempts else 0,
        )
        since = row.last_attempt_at or row.created_at
        if since < now - timedelta(seconds=wait + time_limits()[1] + SWEEP_MARGIN):
            try:
                queue(row.pk, row.attempts)
            except Exception:
                logger.exception("Could not queue delivery %s again", row.pk)
                break  # the broker is still down: the next sweep tries
            queued += 1
    if queued:
        logger.warning("Queued %d overdue alert deliveries again", queued)
    return queued
