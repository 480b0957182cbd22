# ruff: noqa: F811 - the fixtures of tests/alerts/api_rows.py, imported, are arguments here
"""/api/servers/<id>/notifications: a customer subscribes their own server (a Discord webhook, an
email), and every refusal: 404 another's server or notification, 403 without alert.subscribe, 423
while suspended (reading stays allowed), 400 each bad input, the cap per server; audit rows."""

import pytest

from accounts.models import AuditLog
from alerts.models import AlertDelivery, ServerNotification
from alerts.notifications import MAX_PER_SERVER
from alerts.rules import secret_of
from servers.models import Server, ServerMember
from tests.alerts.api_rows import HOOK, alert_node, alert_server, crash  # noqa: F401

pytestmark = pytest.mark.django_db


def path(server, notification=None, tail=""):
    base = f"/api/servers/{server.pk}/notifications"
    return base + (f"/{notification}" if notification else "") + tail


def test_an_owner_subscribes_lists_changes_and_removes(client_for, customer, alert_server):
    server = alert_server()
    api = client_for(customer)
    made = api.post(
        path(server), {"url": HOOK, "format": "discord", "events": ["server_crashed"]}, format="json"
    )
    assert made.status_code == 201, made.content
    data = made.json()["data"]
    row = ServerNotification.objects.get(pk=data["id"])
    assert data["kind"] == "webhook" and data["url"] == HOOK and data["events"] == ["server_crashed"]
    assert data["signingSecret"] == secret_of(row) and data["enabled"] is True and row.created_by == customer
    email = api.post(path(server), {"kind": "email", "email": "me@example.com"}, format="json").json()["data"]
    assert email["email"] == "me@example.com" and email["url"] == "" and email["events"] == []
    listed = api.get(path(server)).json()["data"]
    assert [n["id"] for n in listed] == [data["id"], email["id"]]
    assert api.get(path(server, data["id"])).json()["data"]["format"] == "discord"
    changed = api.patch(path(server, data["id"]), {"enabled": False, "events": []}, format="json")
    assert changed.status_code == 200 and changed.json()["data"]["enabled"] is False
    gone = api.delete(path(server, email["id"]))
    assert gone.json() == {"success": True, "message": "Notification deleted"}
    assert list(ServerNotification.objects.values_list("pk", flat=True)) == [row.pk]
    actions = sorted(
        AuditLog.objects.filter(action__startswith="server_notification.").values_list("action", flat=True)
    )
    assert actions == ["server_notification.create"] * 2 + [
        "server_notification.delete",
        "server_notification.update",
    ]


def test_another_users_server_and_notification_are_404(client_for, customer, stranger, alert_server):
    mine, theirs = alert_server(), alert_server(owner=stranger, name="theirs")
    theirs_row = ServerNotification.objects.create(server=theirs, url=HOOK)
    api = client_for(customer)
    for call in (
        lambda: api.get(path(theirs)),
        lambda: api.post(path(theirs), {"url": HOOK}, format="json"),
        lambda: api.get(path(theirs, theirs_row.pk)),
        lambda: api.delete(path(theirs, theirs_row.pk)),
        lambda: api.post(path(theirs, theirs_row.pk, "/test")),
    ):
        response = call()
        assert response.status_code == 404 and response.json()["message"] == "Server not found."
    for call in (  # their notification through my server: not found either
        lambda: api.get(path(mine, theirs_row.pk)),
        lambda: api.patch(path(mine, theirs_row.pk), {"enabled": False}, format="json"),
    ):
        response = call()
        assert response.status_code == 404 and response.json()["message"] == "Notification not found."
    assert ServerNotification.objects.get().enabled is True


def test_a_member_needs_alert_subscribe(client_for, make_user, alert_server):
    server = alert_server()
    reader = make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["alert.read", "server.read"])
    refused = client_for(reader).get(path(server))
    assert refused.status_code == 403 and "alert.subscribe" in refused.json()["message"]
    subscriber = make_user()
    ServerMember.objects.create(server=server, user=subscriber, permissions=["alert.subscribe"])
    assert client_for(subscriber).post(path(server), {"url": HOOK}, format="json").status_code == 201


def test_a_suspended_server_keeps_its_list_but_refuses_changes(client_for, customer, alert_server):
    server = alert_server(status=Server.Status.SUSPENDED)
    row = ServerNotification.objects.create(server=server, url=HOOK)
    api = client_for(customer)
    assert api.get(path(server)).status_code == 200
    assert api.get(path(server, row.pk)).status_code == 200
    for response in (
        api.post(path(server), {"url": HOOK}, format="json"),
        api.patch(path(server, row.pk), {"enabled": False}, format="json"),
        api.delete(path(server, row.pk)),
        api.post(path(server, row.pk, "/test")),
    ):
        assert response.status_code == 423 and "suspended" in response.json()["message"]
    assert ServerNotification.objects.filter(pk=row.pk, enabled=True).exists()


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({}, "url", "webhook's URL"),
        ({"url": "http://10.0.0.5/hook"}, "url", "private"),
        ({"url": "http://[::1]/hook"}, "url", "loopback"),
        ({"url": "javascript:alert(1)"}, "url", "http"),
        ({"url": HOOK, "format": "teams"}, "format", "discord"),
        ({"kind": "sms"}, "kind", "webhook or email"),
        ({"kind": "email"}, "email", "not a valid email"),
        ({"kind": "email", "email": "a@b@c"}, "email", "not a valid email"),
        ({"url": HOOK, "events": ["node_offline"]}, "events", "not an alert a server raises"),
        ({"url": HOOK, "events": "server_crashed"}, "events", "list"),
        ({"url": HOOK, "enabled": 1}, "enabled", "true or false"),
        ({"url": HOOK, "secret": "mine"}, "secret", "Unknown field"),
        ({"url": HOOK, "server": "x"}, "server", "Unknown field"),  # a service's own argument: no 500
        ({"url": HOOK, "actor": "x"}, "actor", "Unknown field"),
        ({"url": HOOK, "request": "x"}, "request", "Unknown field"),
        ({"url": "http://localhost:1/x"}, "url", "localhost resolves to a non-public address (loopback)"),
        ({"kind": "email", "email": "me@localhost"}, "email", "public domain"),
        ({"kind": "email", "email": "me@[127.0.0.1]"}, "email", "public domain"),
        ({"kind": "email", "email": "me@intranet"}, "email", "valid email"),
    ],
)
def test_each_bad_notification_is_refused(client_for, customer, alert_server, body, field, text):
    server = alert_server()
    response = client_for(customer).post(path(server), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode() and text in response.content.decode(), response.content
    if "127.0.0.1" not in str(body):  # an address the panel resolved (not one typed) is never named
        assert "127.0.0.1" not in response.json()["message"]
    assert not ServerNotification.objects.exists()


def test_the_cap_per_server(client_for, customer, alert_server):
    server = alert_server()
    ServerNotification.objects.bulk_create(
        [ServerNotification(server=server, url=HOOK) for _ in range(MAX_PER_SERVER)]
    )
    response = client_for(customer).post(path(server), {"url": HOOK}, format="json")
    assert response.status_code == 400 and f"at most {MAX_PER_SERVER}" in response.json()["message"]


def test_the_test_action(client_for, customer, alert_server):
    server = alert_server()
    api = client_for(customer)
    made = api.post(path(server), {"kind": "email", "email": "me@example.com"}, format="json").json()["data"]
    answer = api.post(path(server, made["id"], "/test"))
    assert answer.status_code == 200, answer.content
    assert [d["channel"] for d in answer.json()["data"]["deliveries"]] == ["email"]
    assert AuditLog.objects.filter(action="server_notification.test", resource_id=made["id"]).exists()


def test_test_sends_and_changes_are_rate_limited_per_person(client_for, customer, alert_server, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "alert-test": 2, "alert-notification-change": 3}
    server = alert_server()
    api = client_for(customer)
    made = api.post(path(server), {"kind": "email", "email": "me@example.com"}, format="json").json()["data"]
    assert [api.post(path(server, made["id"], "/test")).status_code for _ in range(2)] == [200, 200]
    limited = api.post(path(server, made["id"], "/test"))
    assert limited.status_code == 429 and limited["Retry-After"]
    assert limited.json()["statusCode"] == 429 and "Too many test sends" in limited.json()["message"]
    assert AuditLog.objects.filter(action="server_notification.test").count() == 2
    assert api.patch(path(server, made["id"]), {"enabled": False}, format="json").status_code == 200
    assert api.post(path(server), {"url": HOOK}, format="json").status_code == 201
    changes = api.patch(path(server, made["id"]), {"enabled": True}, format="json")
    assert changes.status_code == 429 and "Too many notification changes" in changes.json()["message"]
    assert ServerNotification.objects.get(pk=made["id"]).enabled is False


def test_a_patch_with_a_service_argument_is_a_400(client_for, customer, alert_server):
    server = alert_server()
    row = ServerNotification.objects.create(server=server, url=HOOK)
    for key in ("notification", "actor", "server"):
        response = client_for(customer).patch(path(server, row.pk), {key: "x"}, format="json")
        assert response.status_code == 400 and "Unknown field" in response.json()["message"], response.content


def test_a_notification_whose_webhook_no_longer_resolves_can_still_be_disabled(
    client_for, customer, alert_server
):
    server = alert_server()
    row = ServerNotification.objects.create(server=server, url="https://hook.invalid/x")
    response = client_for(customer).patch(path(server, row.pk), {"enabled": False}, format="json")
    assert response.status_code == 200, response.content
    row.refresh_from_db()
    assert row.enabled is False


def test_owners_see_how_their_notifications_deliveries_went(
    client_for, customer, admin, stranger, alert_server
):
    server = alert_server()
    secret_url = "https://h.example?token=SECRET#SECRET2"
    row = ServerNotification.objects.create(server=server, url=HOOK)
    api = client_for(customer)
    assert api.get(path(server, row.pk)).json()["data"]["lastDelivery"] is None
    alert = crash(server)
    AlertDelivery.objects.create(alert=alert, notification=row, channel="webhook", destination=HOOK,
                                 status="delivered", status_code=204)  # fmt: skip
    AlertDelivery.objects.create(alert=alert, notification=row, channel="webhook", destination=secret_url,
                                 status="failed", status_code=500, error=f"Could not fetch {secret_url}: 500")  # fmt: skip
    AlertDelivery.objects.create(alert=alert, channel="webhook", destination="https://staff.example/hook",
                                 status="failed")  # a rule's: staff only  # fmt: skip
    last = api.get(path(server)).json()["data"][0]["lastDelivery"]
    assert last["status"] == "failed" and last["statusCode"] == 500 and "lastAttemptAt" in last
    assert "SECRET" not in last["error"] and "h.example" in last["error"]
    shown = api.get(f"/api/alerts/{alert.pk}").json()["data"]["deliveries"]
    assert sorted(d["status"] for d in shown) == ["delivered", "failed", "pending"]  # crash's own too
    assert not any("SECRET" in str(d) or "staff.example" in str(d) or "secret-token" in str(d) for d in shown)
    assert len(client_for(admin).get(f"/api/alerts/{alert.pk}").json()["data"]["deliveries"]) == 4
    ServerMember.objects.create(server=server, user=stranger, permissions=["alert.read"])  # no subscribe
    assert client_for(stranger).get(f"/api/alerts/{alert.pk}").json()["data"]["deliveries"] is None
