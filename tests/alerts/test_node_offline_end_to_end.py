"""End to end: the test sshd of node 2 stopped, the health checker marks the node offline, and the
`node_offline` alert of a rule on that node is delivered (signed) to the receiver by a real worker;
the node back online resolves it. Stops a service: scripts/run-tests.sh runs it alone."""

import base64
import json

import pytest

from alerts import signing
from alerts.models import Alert, AlertDelivery
from nodes.health import node_check_health
from tests.alerts.conftest import SECRET, make_rule
from tests.fixtures.nodes import testenv as drive_testenv  # not test*: pytest would collect it
from tests.polling import wait_for

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True), pytest.mark.stops_services]


@pytest.fixture(autouse=True)
def _worker(_worker_idle_after):
    yield


def test_a_stopped_node_is_delivered_as_node_offline_and_resolves_when_back(make_node, receiver, settings):
    settings.NODE_CONNECT_TIMEOUT_SECONDS = 2.0
    node = make_node(engine=2)
    assert node_check_health(node=node)["ok"]
    make_rule(
        name="node 2",
        type="node_offline",
        target="node",
        target_id=str(node.pk),
        actions=[{"type": "webhook", "url": receiver.url("/nodes")}],
    )
    drive_testenv("stop-sshd", "2")
    try:
        report = node_check_health(node=node, failures_to_offline=1)
        assert not report["ok"]
        (request,) = receiver.wait_requests(1, timeout=30)
    finally:
        drive_testenv("start-sshd", "2")

    body = base64.b64decode(request["body_b64"])
    headers = request["headers"]
    assert signing.verify(SECRET, body, headers["X-Hearth-Timestamp"], headers["X-Hearth-Signature"])
    payload = json.loads(body)["alert"]
    alert = Alert.objects.get(type="node_offline", node=node)
    assert (payload["id"], payload["type"], payload["nodeId"]) == (
        str(alert.pk),
        "node_offline",
        str(node.pk),
    )
    assert payload["metadata"]["reason"] == report["error"] and not alert.resolved
    wait_for(lambda: AlertDelivery.objects.filter(alert=alert, status="delivered").exists(), 10, "delivered")

    assert node_check_health(node=node)["ok"]
    alert.refresh_from_db()
    assert alert.resolved and alert.resolution == "The node is online again."
