"""What a hostile receiver or user-chosen text cannot do to a delivery (no worker: `send` is called
directly, with one attempt allowed so no retry is queued): a redirect is not followed, a refused name
does not show its addresses, a webhook's token never lands in the delivery log, an over-long URL is not
cut and sent, a bad email header is final, node alerts never reach a server's subscriptions; beside
them the task's time limits and the stale-redo window."""

import socket

import pytest

from alerts import delivery, tasks
from alerts.models import AlertDelivery, ServerNotification
from tests.alerts.conftest import ALLOWED, make_alert, make_rule
from tests.fixtures.servers import stopped_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def once(settings):
    settings.ALERT_DELIVERY_ATTEMPTS = 1


def _send(*actions, **alert_fields) -> AlertDelivery:
    rule = make_rule(actions=list(actions))
    (row,) = delivery.deliver_on_commit(make_alert(rule=rule, **alert_fields), [rule])
    if row.status == "pending":
        delivery.send(row.pk)
    return AlertDelivery.objects.get(pk=row.pk)


def test_a_redirect_is_a_failed_delivery_and_never_followed(receiver, once):
    elsewhere = f"http://127.0.0.1:{receiver.port}/stolen?with=body"
    receiver.script({"status": 308, "headers": {"Location": elsewhere}})
    row = _send({"type": "webhook", "url": receiver.url("/hook"), "format": "json"})
    assert (row.status, row.attempts, row.status_code) == ("failed", 1, 308)
    assert row.error == (
        f"The receiver redirected to http://127.0.0.1:{receiver.port}; webhooks are not redirected."
    )
    assert [r["path"] for r in receiver.requests()] == ["/hook"]


def test_a_refused_name_is_named_without_its_addresses(receiver, once):
    row = _send({"type": "webhook", "url": f"http://localhost:{receiver.port}/hook", "format": "json"})
    assert row.status == "failed"
    assert row.error == (
        "localhost resolves to a non-public address (loopback); the panel only sends to public addresses."
    )
    assert receiver.requests() == []


def test_the_webhook_token_never_lands_in_the_delivery_log(receiver, once):
    unused = socket.create_server((ALLOWED, 0))
    port = unused.getsockname()[1]
    unused.close()  # nothing listens there: connection refused, an error naming the URL's host
    row = _send({"type": "webhook", "url": f"http://{ALLOWED}:{port}/api/webhooks/123/TOKEN"})
    assert row.status == "failed" and f"http://{ALLOWED}:{port}" in row.error
    assert "TOKEN" not in row.error and "webhooks/123" not in row.error

    hook = receiver.url("/api/webhooks/456/SECRETTOKEN")
    receiver.script({"status": 400, "body": f"unknown webhook {hook}"})  # a receiver echoing the URL
    row = _send({"type": "webhook", "url": hook, "format": "json"})
    assert row.status_code == 400 and "SECRETTOKEN" not in row.error and "webhooks/456" not in row.error
    assert row.error.startswith("The receiver answered 400: unknown webhook http://")


def test_a_url_over_2048_characters_is_refused_not_cut(receiver):
    long = receiver.url("/" + "x" * 2100)
    row = _send({"type": "webhook", "url": long, "format": "json"})
    assert (row.status, row.attempts) == ("failed", 0)
    assert row.error == "Not sent: the URL is longer than 2048 characters."
    assert receiver.requests() == []


def test_line_breaks_in_a_title_become_spaces_and_a_bad_header_is_final(receiver, mailoutbox):
    row = _send({"type": "email", "to": ["ops@example.com"]}, title="survival\rcrashed\u2028again\x85")
    assert row.status == "delivered"
    assert mailoutbox[-1].subject == "[Hearth] CRITICAL: survival crashed again "

    row = _send({"type": "email", "to": ["ops@example.com\nBcc: everyone@example.com"]})
    assert (row.status, row.attempts) == ("failed", 1)  # not retried: the same header next time
    assert row.error.startswith("Could not send the email: Header values can't contain newlines")


def test_node_alerts_never_reach_a_servers_subscriptions(make_node, game_template, customer, receiver):
    server = stopped_server(node=make_node(engine=1, via="unix"), template=game_template, owner=customer)
    notification = ServerNotification.objects.create(
        server=server, url=receiver.url(), events=["node_offline", "server_crashed"], signing_secret="x"
    )
    ServerNotification.objects.create(server=server, url=receiver.url("/all"), events=[])
    alert = make_alert(type="node_offline", server=server, node=server.node)
    assert delivery.destinations(alert, []) == []
    crash = make_alert(server=server)
    assert [d["destination"] for d in delivery.destinations(crash, [])] == [
        receiver.url(),
        receiver.url("/all"),
    ]
    assert delivery._subscription_type(notification) == "server_crashed"


def test_the_task_is_time_limited_and_a_stale_attempt_outlasts_the_hard_limit(settings):
    soft, hard = delivery.time_limits()
    assert soft == settings.ALERT_DELIVERY_TIMEOUT_SECONDS + 30 and hard > soft
    assert tasks.alerts_deliver_task.soft_time_limit == soft
    assert tasks.alerts_deliver_task.time_limit == hard
    assert delivery._stale_after().total_seconds() > hard
    assert settings.CELERY_BEAT_SCHEDULE["alerts-sweep-deliveries"]["schedule"] == 120.0
