# ruff: noqa: F811 - the fixtures of tests/alerts/api_rows.py, imported, are arguments here
"""/api/alerts: who sees which alerts (staff all; a customer their servers', never a node's), the
filters, one alert, resolve and bulk-resolve with every refusal, and the stats."""

from urllib.parse import urlsplit

import pytest

from accounts.models import AuditLog
from alerts import delivery
from alerts.models import Alert, AlertDelivery, ServerNotification
from servers.models import ServerMember
from tests.alerts.api_rows import alert_node, alert_server, crash, offline, threshold  # noqa: F401

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "serverId", "nodeId", "type", "severity", "title", "message", "metadata", "resolved",
    "resolvedAt", "resolvedBy", "resolution", "createdAt", "occurrences", "lastSeenAt", "ruleId",
}  # fmt: skip


@pytest.fixture
def world(alert_server, alert_node, stranger):
    mine = alert_server(name="mine")
    theirs = alert_server(owner=stranger, name="theirs")
    return {
        "mine": mine,
        "theirs": theirs,
        "my_crash": crash(mine),
        "my_cpu": threshold(mine),
        "their_crash": crash(theirs),
        "node_down": offline(alert_node),
    }


def ids(response) -> set:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["data"]}


def test_a_customer_sees_their_servers_alerts_and_staff_see_all(client_for, customer, admin, world):
    body = client_for(customer).get("/api/alerts").json()
    assert body["success"] is True and body["pagination"]["total"] == 2
    assert {row["id"] for row in body["data"]} == {str(world["my_crash"].pk), str(world["my_cpu"].pk)}
    row = next(r for r in body["data"] if r["type"] == "server_crashed")
    assert set(row) == FIELDS
    assert row["serverId"] == str(world["mine"].pk) and row["metadata"] == {"exit_code": 1, "oom": False}
    assert row["resolved"] is False and row["resolvedAt"] is None and row["resolvedBy"] is None
    assert len(ids(client_for(admin).get("/api/alerts"))) == 4
    assert (
        ids(client_for(admin).get("/api/alerts?limit=1"))
        and ids(client_for(admin).get("/api/alerts?page=9")) == set()
    )


def test_a_member_sees_alerts_only_when_granted_alert_read(client_for, make_user, world):
    reader, other = make_user(), make_user()
    ServerMember.objects.create(server=world["mine"], user=reader, permissions=["alert.read"])
    ServerMember.objects.create(server=world["mine"], user=other, permissions=["server.read"])
    assert len(ids(client_for(reader).get("/api/alerts"))) == 2
    assert ids(client_for(other).get("/api/alerts")) == set()
    support = make_user(role="Support")  # alert.read globally: staff
    assert len(ids(client_for(support).get("/api/alerts"))) == 4


def test_the_filters(client_for, customer, admin, world):
    staff, mine = client_for(admin), client_for(customer)
    assert ids(staff.get(f"/api/alerts?serverId={world['theirs'].pk}")) == {str(world["their_crash"].pk)}
    assert ids(mine.get(f"/api/alerts?serverId={world['theirs'].pk}")) == set()  # hidden: nothing
    assert ids(staff.get("/api/alerts?type=node_offline")) == {str(world["node_down"].pk)}
    assert ids(mine.get("/api/alerts?type=node_offline")) == set()
    node = world["mine"].node_id
    assert len(ids(staff.get(f"/api/alerts?nodeId={node}"))) == 4
    assert ids(mine.get("/api/alerts?severity=warning")) == {str(world["my_cpu"].pk)}
    Alert.objects.filter(pk=world["my_cpu"].pk).update(resolved=True)
    assert ids(mine.get("/api/alerts?resolved=true")) == {str(world["my_cpu"].pk)}
    assert ids(mine.get("/api/alerts?resolved=false")) == {str(world["my_crash"].pk)}
    for query, field, text in [
        ("serverId=nope", "serverId", "id"),
        ("nodeId=1", "nodeId", "id"),
        ("type=fire", "type", "resource_threshold"),
        ("severity=huge", "severity", "critical"),
        ("resolved=maybe", "resolved", "true or false"),
        ("page=0", "page", "whole number"),
    ]:
        response = mine.get(f"/api/alerts?{query}")
        assert response.status_code == 400, query
        assert field in response.content.decode() and text in response.content.decode(), response.content


def test_one_alert_and_the_404s(client_for, customer, admin, make_user, world):
    mine = client_for(customer)
    shown = mine.get(f"/api/alerts/{world['my_crash'].pk}").json()["data"]
    assert shown["title"] == "mine crashed" and shown["deliveries"] == []  # only their notifications'
    support = client_for(make_user(role="Support"))
    assert support.get(f"/api/alerts/{world['my_crash'].pk}").json()["data"]["deliveries"] == []
    for hidden in (world["their_crash"], world["node_down"]):
        response = mine.get(f"/api/alerts/{hidden.pk}")
        assert response.status_code == 404 and response.json()["message"] == "Alert not found."
    assert mine.get("/api/alerts/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client_for(admin).get(f"/api/alerts/{world['node_down'].pk}").json()["data"]["deliveries"] == []


def test_resolving_one_alert(client_for, customer, admin, make_user, stranger, world):
    reader = make_user()
    ServerMember.objects.create(server=world["mine"], user=reader, permissions=["alert.read"])
    alert = world["my_crash"]
    assert client_for(stranger).post(f"/api/alerts/{alert.pk}/resolve").status_code == 404
    refused = client_for(reader).post(f"/api/alerts/{alert.pk}/resolve")
    assert refused.status_code == 403 and "alert.resolve" in refused.json()["message"]
    answer = client_for(customer).post(f"/api/alerts/{alert.pk}/resolve")
    assert answer.status_code == 200 and answer.json() == {"success": True, "message": "Alert resolved"}
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == customer and alert.resolved_at is not None
    assert AuditLog.objects.filter(action="alert.resolve", resource_id=str(alert.pk), user=customer).exists()
    shown = client_for(customer).get(f"/api/alerts/{alert.pk}").json()["data"]
    assert shown["resolvedBy"] == str(customer.pk) and shown["resolved"] is True
    again = client_for(customer).post(f"/api/alerts/{alert.pk}/resolve")
    assert again.status_code == 409 and "already resolved" in again.json()["message"]
    # staff resolve any alert, a node's too; a customer never reaches a node's
    assert client_for(customer).post(f"/api/alerts/{world['node_down'].pk}/resolve").status_code == 404
    assert client_for(admin).post(f"/api/alerts/{world['node_down'].pk}/resolve").status_code == 200


def test_bulk_resolve_resolves_only_what_the_caller_may(client_for, customer, admin, make_user, world):
    reader = make_user()
    ServerMember.objects.create(server=world["mine"], user=reader, permissions=["alert.read"])
    every = [str(world[k].pk) for k in ("my_crash", "my_cpu", "their_crash", "node_down")]
    assert client_for(reader).post("/api/alerts/bulk-resolve", {"alertIds": every}, format="json").json() == {
        "success": True,
        "resolved": 0,
    }
    answer = client_for(customer).post("/api/alerts/bulk-resolve", {"alertIds": every}, format="json")
    assert answer.status_code == 200 and answer.json() == {"success": True, "resolved": 2}
    assert set(Alert.objects.filter(resolved=True).values_list("pk", flat=True)) == {
        world["my_crash"].pk,
        world["my_cpu"].pk,
    }
    assert AuditLog.objects.filter(action="alert.resolve", user=customer).count() == 2
    assert (
        client_for(admin)
        .post("/api/alerts/bulk-resolve", {"alertIds": every}, format="json")
        .json()["resolved"]
        == 2
    )  # the two others; the resolved ones are not counted again
    for body, text in [
        ({"alertIds": ["not-an-id"]}, "valid UUID"),
        ({"alertIds": []}, "alertIds"),
        ({}, "alertIds"),
        ({"alertIds": "x"}, "alertIds"),
    ]:
        response = client_for(customer).post("/api/alerts/bulk-resolve", body, format="json")
        assert response.status_code == 400 and text in response.content.decode(), (body, response.content)


def test_the_stats_count_what_the_caller_sees(client_for, customer, admin, world):
    Alert.objects.filter(pk=world["my_cpu"].pk).update(resolved=True)
    delivery.send_test(notification=ServerNotification.objects.create(server=world["my_cpu"].server,
                       kind="email", email="me@example.com"), actor=customer)  # fmt: skip
    mine = client_for(customer).get("/api/alerts/stats").json()
    assert mine == {
        "success": True,
        "data": {
            "total": 2,
            "unresolved": 1,
            "byType": {"resource_threshold": 1, "node_offline": 0, "server_crashed": 1, "server_expiring": 0},
            "bySeverity": {"info": 0, "warning": 1, "critical": 1},
        },
    }
    staff = client_for(admin).get("/api/alerts/stats").json()["data"]
    assert staff["total"] == 4 and staff["unresolved"] == 3 and staff["bySeverity"]["critical"] == 3


def test_anonymous_is_refused(api, world):
    assert api.get("/api/alerts").status_code == 401
    assert api.get("/api/alerts/stats").status_code == 401


def test_a_delivery_error_and_destination_never_show_the_urls_secret(client_for, admin, world):
    alert = world["my_crash"]
    for url in ("https://h.example?token=SECRET", "https://h.example#SECRET", "https://h.example/p/SECRET"):
        AlertDelivery.objects.create(alert=alert, channel="webhook", destination=url, status="failed",
                                     error=f"POST {urlsplit(url).path or '/'}: could not fetch {url}")  # fmt: skip
    shown = client_for(admin).get(f"/api/alerts/{alert.pk}").json()["data"]["deliveries"]
    assert len(shown) == 3 and all(d["destination"].startswith("https://h.example/") for d in shown)
    assert "SECRET" not in str(shown), shown
    assert all("https://h.example/" in d["error"] for d in shown)
