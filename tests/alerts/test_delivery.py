"""Sending on a real Celery worker (a thread on the test Redis, as production's): retries with backoff
and Retry-After, final failures, nothing sent for a rolled-back alert, never twice for one delivery;
email through Django's mail; a rule's test send. The receiver is the stand-in process."""

import base64
import time

import pytest
from django.core import mail
from django.db import transaction

from accounts.models import AuditLog
from alerts import delivery, services, signing
from alerts.models import Alert, AlertDelivery, ServerNotification
from config.errors import InvalidInput
from tests.alerts.conftest import SECRET, make_alert, make_rule
from tests.fixtures.servers import stopped_server
from tests.polling import wait_for

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _worker(_worker_idle_after):
    yield


def settled(row: AlertDelivery, timeout: float = 15) -> AlertDelivery:
    def done():
        row.refresh_from_db()
        return row.status != AlertDelivery.Status.PENDING

    wait_for(done, timeout, lambda: f"delivery {row.destination} to settle ({row.status}, {row.error})")
    return row


def deliver(*actions, **alert_fields) -> list[AlertDelivery]:
    """An alert of a rule with these actions, opened as the events open one: queued on commit."""
    rule = make_rule(actions=list(actions))
    with transaction.atomic():
        alert = make_alert(rule=rule, **alert_fields)
        return delivery.deliver_on_commit(alert, [rule])


def verified(request: dict) -> bool:
    headers = request["headers"]
    body = base64.b64decode(request["body_b64"])
    return signing.verify(SECRET, body, headers["X-Hearth-Timestamp"], headers["X-Hearth-Signature"])


def test_500_500_200_is_delivered_on_the_third_attempt_each_signed(receiver):
    receiver.script(500, 500, 200)
    (row,) = deliver({"type": "webhook", "url": receiver.url()})
    row = settled(row)
    assert (row.status, row.attempts, row.status_code, row.error) == ("delivered", 3, 200, "")
    assert row.delivered_at and row.last_attempt_at and row.duration_ms is not None
    got = receiver.requests()
    assert len(got) == 3 and all(verified(r) for r in got)
    assert {r["headers"]["X-Hearth-Delivery"] for r in got} == {str(row.pk)}  # one id: receivers dedupe
    assert got[0]["headers"]["X-Hearth-Event"] == "alert.created"
    assert got[0]["headers"]["Content-Type"] == "application/json"


def test_a_400_fails_at_once_with_the_receivers_answer(receiver):
    receiver.script({"status": 400, "body": "unknown channel"})
    (row,) = deliver({"type": "webhook", "url": receiver.url()})
    row = settled(row)
    assert (row.status, row.attempts, row.status_code) == ("failed", 1, 400)
    assert row.error == "The receiver answered 400: unknown channel"
    time.sleep(0.3)
    assert len(receiver.requests()) == 1


def test_it_gives_up_after_the_attempts_setting(receiver, settings):
    settings.ALERT_DELIVERY_ATTEMPTS = 3
    receiver.script(503)
    (row,) = deliver({"type": "webhook", "url": receiver.url()})
    row = settled(row)
    assert (row.status, row.attempts, row.status_code) == ("failed", 3, 503)
    assert row.error.startswith("Gave up after 3 attempts: The receiver answered 503")
    assert len(receiver.requests()) == 3


def test_retry_after_is_honoured_on_a_429(receiver, settings):
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 0.01
    receiver.script({"status": 429, "headers": {"Retry-After": "0.8"}}, 204)
    (row,) = deliver({"type": "webhook", "url": receiver.url(), "format": "discord"})
    started = time.monotonic()
    row = settled(row)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert time.monotonic() - started >= 0.8
    assert "X-Hearth-Signature" not in receiver.requests()[0]["headers"]  # Discord's URL is its secret


def test_a_rolled_back_alert_sends_nothing(receiver):
    rule = make_rule(actions=[{"type": "webhook", "url": receiver.url()}])
    with pytest.raises(RuntimeError), transaction.atomic():
        services.raise_alert(
            type="server_crashed", fingerprint="rolled-back", title="t", rules=[rule], dedupe_seconds=0
        )
        assert AlertDelivery.objects.count() == 1
        raise RuntimeError("the crash's transaction failed")
    assert not Alert.objects.exists() and not AlertDelivery.objects.exists()
    time.sleep(0.5)
    assert receiver.requests() == []


def test_a_delivery_is_sent_once_however_often_it_is_queued(receiver):
    (row,) = deliver({"type": "webhook", "url": receiver.url()})
    delivery.queue(row.pk, 0)  # queued twice for the same attempt (a double queue, a redelivery)
    delivery.queue(row.pk)
    row = settled(row)
    delivery.queue(row.pk, 0)  # after it was delivered
    time.sleep(0.5)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("delivered", 1)
    assert len(receiver.requests()) == 1
    assert delivery.send(row.pk, 0) is None  # the claim refuses: nothing is sent


def test_email_goes_through_django_mail(receiver):
    rows = deliver({"type": "email", "to": ["ops@example.com", "oncall@example.com"]})
    assert [r.destination for r in rows] == ["ops@example.com", "oncall@example.com"]
    for row in rows:
        assert settled(row).status == "delivered"
    assert sorted(m.to[0] for m in mail.outbox) == ["oncall@example.com", "ops@example.com"]
    assert mail.outbox[0].subject == "[Hearth] CRITICAL: survival crashed"
    assert "exitCode: 1" in mail.outbox[0].body


@pytest.mark.django_db  # no worker needed: a plain (faster) test database
def test_destinations_dedupe_and_follow_the_servers_subscriptions(
    make_node, game_template, customer, receiver
):
    server = stopped_server(node=make_node(engine=1, via="unix"), template=game_template, owner=customer)
    hook = receiver.url("/server")
    subscribed = [
        ServerNotification.objects.create(server=server, url=hook, events=[], signing_secret="x"),
        ServerNotification.objects.create(server=server, url=hook + "?crashes", events=["server_crashed"]),
        ServerNotification.objects.create(server=server, kind="email", email="owner@example.com"),
    ]
    ServerNotification.objects.create(server=server, url=hook + "?offline", events=["node_offline"])
    ServerNotification.objects.create(server=server, url=hook + "?off", enabled=False)
    rule = make_rule(
        actions=[
            {"type": "webhook", "url": hook},  # the same URL as a subscription: sent once
            {"type": "webhook", "url": hook, "format": "slack"},
            {"type": "email", "to": ["OWNER@example.com"]},
        ]
    )
    alert = make_alert(server=server, rule=rule)
    found = delivery.destinations(alert, [rule])
    assert [(d["destination"], d["format"], bool(d.get("rule"))) for d in found] == [
        (hook, "json", True),
        ("OWNER@example.com", "email", True),
        (hook + "?crashes", "json", False),
    ]
    assert found[2]["notification"] == subscribed[1]


def test_send_test_reaches_the_rules_destinations_and_is_audited(receiver, admin):
    rule = make_rule(name="crashes", actions=[{"type": "webhook", "url": receiver.url()}])
    (row,) = delivery.send_test(rule=rule, actor=admin)
    assert settled(row).status == "delivered"
    (request,) = receiver.requests()
    assert verified(request) and request["headers"]["X-Hearth-Event"] == "alert.test"
    alert = row.alert
    assert (alert.title, alert.resolved, alert.metadata, alert.rule) == (
        "Test alert from Hearth",
        True,
        {"test": True},
        rule,
    )
    log = AuditLog.objects.get(action="alert_rule.test")
    assert (log.user, log.resource_id) == (admin, str(rule.pk))

    with pytest.raises(InvalidInput, match="nowhere to send a test"):
        delivery.send_test(rule=make_rule(name="empty", actions=[]), actor=admin)


@pytest.mark.django_db  # no worker needed: a plain (faster) test database
def test_an_attempt_whose_worker_died_is_redone_by_its_redelivered_message(receiver):
    from datetime import timedelta

    from django.utils import timezone

    alert = make_alert(rule=make_rule(actions=[]))
    long_ago = timezone.now() - timedelta(minutes=10)
    died = AlertDelivery.objects.create(
        alert=alert,
        rule=alert.rule,
        channel="webhook",
        destination=receiver.url(),
        format="json",
        attempts=1,
        last_attempt_at=long_ago,
    )  # claimed, never recorded: its worker died mid-send, and acks_late redelivers message 0
    finished = AlertDelivery.objects.create(
        alert=alert,
        rule=alert.rule,
        channel="webhook",
        destination=receiver.url(),
        format="json",
        attempts=1,
        last_attempt_at=long_ago,
        duration_ms=12,
    )  # attempt 1 recorded (its retry is queued): an old copy of message 0 must not send again
    assert delivery.send(died.pk, 0) == "delivered"
    assert delivery.send(finished.pk, 0) is None
    assert len(receiver.requests()) == 1
    died.refresh_from_db()
    assert died.attempts == 1


def test_the_sweeper_queues_lost_deliveries_again_and_nothing_is_sent_twice(receiver, settings):
    """A retry whose enqueue failed (attempt 1 recorded long ago, no message) and a delivery whose
    commit-time enqueue failed (attempt 0, created long ago) are queued again by the sweep and sent
    once; a recent pending one is left to its own message; a second sweep and a stale copy of the
    message find nothing to do."""
    from datetime import timedelta

    from django.utils import timezone

    settings.ALERT_DELIVERY_RETRY_AFTER_MAX_SECONDS = 1
    alert = make_alert(rule=make_rule(actions=[]))
    long_ago = timezone.now() - timedelta(hours=1)
    common = {"alert": alert, "rule": alert.rule, "channel": "webhook", "format": "json"}
    lost_retry = AlertDelivery.objects.create(
        destination=receiver.url("/retry"), attempts=1, last_attempt_at=long_ago, duration_ms=5, **common
    )
    lost_first = AlertDelivery.objects.create(destination=receiver.url("/first"), **common)
    AlertDelivery.objects.filter(pk=lost_first.pk).update(created_at=long_ago)
    recent = AlertDelivery.objects.create(destination=receiver.url("/recent"), **common)

    assert delivery.sweep() == 2
    assert (settled(lost_retry).status, lost_retry.attempts) == ("delivered", 2)
    assert (settled(lost_first).status, lost_first.attempts) == ("delivered", 1)
    assert delivery.sweep() == 0
    delivery.queue(lost_retry.pk, 1)  # the lost message turns up after all
    time.sleep(0.5)
    assert sorted(r["path"] for r in receiver.requests()) == ["/first", "/retry"]
    recent.refresh_from_db()
    assert (recent.status, recent.attempts) == ("pending", 0)
    recent.delete()
