"""Webhooks never reach the panel's own network: each address of the issue's list is a failed
delivery naming why, and the receiver (listening on loopback, so it would see a request that got
through) gets nothing; its own address, allowed by the test-only allowlist, gets the allowed ones.
Sent by calling the delivery service directly (a refusal is final: no retry is queued)."""

import pytest

from alerts import delivery
from alerts.models import AlertDelivery
from tests.alerts.conftest import make_alert, make_rule

pytestmark = pytest.mark.django_db

REFUSED = [
    ("http://127.0.0.1:{port}/hook", "loopback"),
    ("http://[::1]:{port}/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback"),
    ("http://0.0.0.0:{port}/hook", "unspecified"),
    ("http://10.1.2.3:{port}/hook", "private"),
    ("http://172.17.0.1:{port}/hook", "private"),  # 172.16/12 (Docker's bridge)
    ("http://172.31.255.254:{port}/hook", "private"),
    ("http://192.168.1.1:{port}/hook", "private"),
    ("http://100.64.0.1:{port}/hook", "carrier-grade NAT"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://2130706433:{port}/hook", "loopback"),  # 127.0.0.1 written as one decimal number
    ("http://localhost:{port}/hook", "loopback"),  # a name resolving to loopback
]


def _send_all(urls):
    rule = make_rule(actions=[{"type": "webhook", "url": url, "format": "json"} for url in urls])
    alert = make_alert()
    rows = delivery.deliver_on_commit(alert, [rule])
    for row in rows:
        delivery.send(row.pk)
    return {row.destination: AlertDelivery.objects.get(pk=row.pk) for row in rows}


def test_the_ssrf_list_is_refused_and_the_allowed_receiver_gets_its_requests(receiver):
    urls = [template.format(port=receiver.port) for template, _ in REFUSED]
    results = _send_all([*urls, receiver.url("/allowed")])
    for url, (_, reason) in zip(urls, REFUSED, strict=True):
        row = results[url]
        assert (row.status, row.attempts, row.status_code) == ("failed", 1, None), url
        assert "resolves to a non-public address" in row.error and reason in row.error, (url, row.error)
    allowed = results[receiver.url("/allowed")]
    assert (allowed.status, allowed.status_code, allowed.error) == ("delivered", 204, "")
    got = receiver.requests()
    assert [(r["path"], r["local"]) for r in got] == [
        ("/allowed", receiver.url().split("//")[1].split(":")[0])
    ]


def test_a_redirect_from_the_allowed_receiver_to_loopback_is_refused(receiver):
    stolen = f"http://127.0.0.1:{receiver.port}/stolen"
    receiver.script({"status": 307, "headers": {"Location": stolen}})
    row = _send_all([receiver.url("/redirects")])[receiver.url("/redirects")]
    assert row.status == "failed" and row.attempts == 1  # webhooks never follow a redirect
    assert (
        row.error
        == f"The receiver redirected to http://127.0.0.1:{receiver.port}; webhooks are not redirected."
    )
    assert [r["path"] for r in receiver.requests()] == ["/redirects"]  # never /stolen


def test_without_the_allowlist_the_receiver_itself_is_refused(receiver, settings):
    settings.OUTBOUND_ALLOW = []
    row = _send_all([receiver.url()])[receiver.url()]
    assert row.status == "failed" and "loopback" in row.error
    assert receiver.requests() == []
