"""Health transitions against a real sshd that the test stops and starts again."""

import pytest

from nodes.health import node_check_health
from nodes.models import NodeEvent
from tests.nodes.conftest import testenv

# These stop and start engine 2 and its sshd: scripts/run-tests.sh runs them alone, after the rest.
pytestmark = [pytest.mark.django_db, pytest.mark.stops_services]


@pytest.fixture
def sshd2_stopped():
    testenv("stop-sshd", "2")
    try:
        yield
    finally:
        testenv("start-sshd", "2")


def test_three_failures_mark_a_node_offline_and_one_success_online_again(make_node, settings):
    settings.NODE_CONNECT_TIMEOUT_SECONDS = 2.0
    node = make_node(engine=2)
    assert node_check_health(node=node)["ok"]
    node.refresh_from_db()
    assert node.is_online

    testenv("stop-sshd", "2")
    try:
        for failures in (1, 2):
            assert not node_check_health(node=node)["ok"]
            node.refresh_from_db()
            assert node.is_online and node.consecutive_failures == failures
        report = node_check_health(node=node)
        node.refresh_from_db()
        assert not node.is_online
        assert f"Node '{node.name}' is unreachable" in report["error"]
        assert node.last_health["ok"] is False
    finally:
        testenv("start-sshd", "2")

    assert node_check_health(node=node)["ok"]
    node.refresh_from_db()
    assert node.is_online and node.consecutive_failures == 0
    assert list(
        NodeEvent.objects.filter(node=node, kind__in=["online", "offline"])
        .order_by("created_at")
        .values_list("kind", flat=True)
    ) == [
        "online",
        "offline",
        "online",
    ]


def test_the_api_answers_503_naming_the_unreachable_node(make_node, client_for, admin, sshd2_stopped):
    node = make_node(engine=2)
    response = client_for(admin).post(f"/api/nodes/{node.pk}/test")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "Service Unavailable"
    assert body["message"].startswith(f"Node '{node.name}' is unreachable")


def test_a_stopped_engine_behind_a_live_sshd_is_unhealthy(make_node):
    node = make_node(engine=2)
    testenv("stop-engine", "2")
    try:
        report = node_check_health(node=node)
    finally:
        testenv("start-engine", "2")
    assert not report["ok"]
    assert node.name in report["error"]
