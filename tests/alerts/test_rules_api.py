# ruff: noqa: F811 - the fixtures of tests/alerts/api_rows.py, imported, are arguments here
"""/api/alert-rules: staff-only CRUD as the contract shows it, the signing secret shown once (create,
rotate), every validation refusal naming its field, audit rows, and the test action."""

import pytest

from accounts.models import AuditLog
from alerts.models import AlertRule
from alerts.rules import secret_of
from tests.alerts.api_rows import HOOK, alert_node, alert_server  # noqa: F401

pytestmark = pytest.mark.django_db

CPU = {
    "name": "High CPU Alert",
    "type": "resource_threshold",
    "target": "server",
    "targetId": "*",
    "conditions": {"metric": "cpu", "operator": ">", "value": 90, "duration": 300},
    "actions": [{"type": "webhook", "url": HOOK}],
    "enabled": True,
}


def test_staff_create_list_change_and_delete_a_contract_rule(staff, admin):
    made = staff.post("/api/alert-rules", CPU, format="json")
    assert made.status_code == 201, made.content
    data = made.json()["data"]
    rule = AlertRule.objects.get(pk=data["id"])
    assert data["signingSecret"] == secret_of(rule) and len(data["signingSecret"]) >= 40
    assert rule.signing_secret != data["signingSecret"]  # encrypted at rest
    assert data["conditions"] == CPU["conditions"] and data["targetId"] == "*"
    assert data["actions"] == [{"type": "webhook", "url": HOOK, "format": "auto"}]
    assert rule.created_by == admin and data["severity"] == "warning" and data["autoResolve"] is True
    listed = staff.get("/api/alert-rules").json()["data"]
    assert [r["id"] for r in listed] == [data["id"]] and "signingSecret" not in listed[0]
    assert staff.get(f"/api/alert-rules/{rule.pk}").json()["data"]["hasSigningSecret"] is True
    changed = staff.patch(
        f"/api/alert-rules/{rule.pk}", {"severity": "critical", "enabled": False}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["data"]["severity"] == "critical"
    put = staff.put(
        f"/api/alert-rules/{rule.pk}",
        {"conditions": {"metric": "disk", "operator": ">=", "value": 95.5, "duration": 0}},
        format="json",
    )
    assert put.json()["data"]["conditions"]["metric"] == "disk"
    rotated = staff.post(f"/api/alert-rules/{rule.pk}/rotate-secret").json()["data"]["signingSecret"]
    assert rotated != data["signingSecret"] and secret_of(AlertRule.objects.get(pk=rule.pk)) == rotated
    gone = staff.delete(f"/api/alert-rules/{rule.pk}")
    assert gone.status_code == 200 and gone.json() == {"success": True, "message": "Alert rule deleted"}
    assert not AlertRule.objects.exists()
    assert staff.get(f"/api/alert-rules/{rule.pk}").status_code == 404
    actions = list(AuditLog.objects.filter(resource_id=str(rule.pk)).values_list("action", flat=True))
    assert sorted(actions) == sorted(
        [
            "alert_rule.create",
            "alert_rule.update",
            "alert_rule.update",
            "alert_rule.rotate_secret",
            "alert_rule.delete",
        ]
    )


def test_event_rules_and_targets(staff, alert_server, alert_node):
    server = alert_server()
    crash = {"name": "Crash", "type": "server_crashed", "target": "server", "targetId": str(server.pk),
             "conditions": {}, "actions": [{"type": "email", "to": ["ops@example.com"]}]}  # fmt: skip
    assert staff.post("/api/alert-rules", crash, format="json").status_code == 201
    down = {"name": "Down", "type": "node_offline", "target": "node", "targetId": str(alert_node.pk)}
    made = staff.post("/api/alert-rules", down, format="json")
    assert made.status_code == 201 and made.json()["data"]["conditions"] == {}


def refusal(staff, body, method="post", path="/api/alert-rules"):
    response = getattr(staff, method)(path, body, format="json")
    assert response.status_code == 400, response.content
    return response.content.decode()


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"type": "fire"}, "type", "resource_threshold"),
        ({"target": "planet"}, "target", "server or node"),
        ({"type": "node_offline", "target": "server", "conditions": {}}, "target", "must be node"),
        ({"type": "server_crashed", "target": "node", "conditions": {}}, "target", "must be server"),
        ({"targetId": "00000000-0000-0000-0000-000000000000"}, "targetId", "No server"),
        ({"targetId": "abc"}, "targetId", "No server"),
        ({"name": ""}, "name", "1 to 100"),
        ({"name": "x" * 101}, "name", "100"),
        ({"conditions": None}, "conditions", "object"),
        ({"conditions": {"metric": "cpu"}}, "conditions", "Missing operator, value"),
        ({"conditions": {**CPU["conditions"], "metric": "gpu"}}, "conditions.metric", "cpu, memory, disk"),
        ({"conditions": {**CPU["conditions"], "operator": "!="}}, "conditions.operator", "one of"),
        ({"conditions": {**CPU["conditions"], "value": 101}}, "conditions.value", "0 to 100"),
        ({"conditions": {**CPU["conditions"], "value": "90"}}, "conditions.value", "number"),
        ({"conditions": {**CPU["conditions"], "value": 10**400}}, "conditions.value", "0 to 100"),
        ({"conditions": {**CPU["conditions"], "duration": 86401}}, "conditions.duration", "0 to 86400"),
        ({"conditions": {**CPU["conditions"], "duration": 1.5}}, "conditions.duration", "whole number"),
        ({"conditions": {**CPU["conditions"], "spike": 1}}, "conditions", "Unknown"),
        ({"type": "server_crashed", "conditions": {"metric": "cpu"}}, "conditions", "no conditions"),
        ({"actions": {"type": "webhook"}}, "actions", "list"),
        ({"actions": [{"type": "sms"}]}, "actions[0]", "webhook"),
        ({"actions": [{"type": "webhook", "url": "http://127.0.0.1/x"}]}, "actions[0].url", "loopback"),
        ({"actions": [{"type": "webhook", "url": "http://169.254.169.254/"}]}, "actions[0].url", "metadata"),
        ({"actions": [{"type": "webhook", "url": "ftp://a/"}]}, "actions[0].url", "http"),
        ({"actions": [{"type": "webhook", "url": HOOK, "format": "xml"}]}, "actions[0].format", "discord"),
        ({"actions": [{"type": "webhook", "url": HOOK, "headers": {}}]}, "actions[0]", "Unknown"),
        ({"actions": [{"type": "email", "to": ["nope"]}]}, "actions[0].to", "not a valid email"),
        ({"actions": [{"type": "email", "to": ["ops@localhost"]}]}, "actions[0].to", "public domain"),
        ({"actions": [{"type": "email", "to": ["ops@[127.0.0.1]"]}]}, "actions[0].to", "public domain"),
        ({"actions": [{"type": "email", "to": ["ops@[IPv6:::1]"]}]}, "actions[0].to", "valid email"),
        ({"actions": [{"type": "email", "to": []}]}, "actions[0].to", "1 to 10"),
        (
            {"actions": [{"type": "email", "to": [f"a{i}@example.com" for i in range(11)]}]},
            "actions[0].to",
            "1 to 10",
        ),
        ({"actions": [{"type": "email", "to": ["a@example.com"]}] * 11}, "actions", "At most 10"),
        ({"severity": "panic"}, "severity", "critical"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"dedupeSeconds": -1}, "dedupeSeconds", "whole number"),
        ({"owner": "me"}, "owner", "Unknown field"),
        ({"server": "x"}, "server", "Unknown field"),  # a service's own argument names: 400, not 500
        ({"actor": "x"}, "actor", "Unknown field"),
        ({"request": "x"}, "request", "Unknown field"),
        ({"rule": "x"}, "rule", "Unknown field"),
    ],
)
def test_each_bad_rule_is_refused_naming_its_field(staff, change, field, text):
    body = refusal(staff, {**CPU, **change})
    assert field in body and text in body, body
    assert not AlertRule.objects.exists()


def test_required_fields_and_a_bad_change(staff):
    for missing in ("name", "type", "target"):
        assert missing in refusal(staff, {k: v for k, v in CPU.items() if k != missing})
    assert "conditions" in refusal(staff, {k: v for k, v in CPU.items() if k != "conditions"})
    rule = staff.post("/api/alert-rules", CPU, format="json").json()["data"]
    assert "must be node" in refusal(
        staff, {"type": "node_offline", "conditions": {}}, "patch", f"/api/alert-rules/{rule['id']}"
    )
    assert AlertRule.objects.get().type == "resource_threshold"  # nothing half-written
    assert (
        staff.patch("/api/alert-rules/00000000-0000-0000-0000-000000000000", {}, format="json").status_code
        == 404
    )


def test_rules_are_staff_only(client_for, make_user, customer):
    assert client_for(customer).get("/api/alert-rules").status_code == 403
    reader = client_for(make_user(permissions=["admin.read"]))
    assert reader.get("/api/alert-rules").status_code == 200
    refused = reader.post("/api/alert-rules", CPU, format="json")
    assert refused.status_code == 403 and "admin.write" in refused.json()["message"]


def test_the_test_action_sends_through_delivery_and_is_audited(staff):
    """alerts.delivery.send_test sends to each action; the answer lists each outcome."""
    rule = staff.post("/api/alert-rules", {**CPU, "actions": [{"type": "email", "to": ["ops@example.com"]}]},
                      format="json").json()["data"]  # fmt: skip
    answer = staff.post(f"/api/alert-rules/{rule['id']}/test")
    assert answer.status_code == 200, answer.content
    deliveries = answer.json()["data"]["deliveries"]
    assert [d["channel"] for d in deliveries] == ["email"] and deliveries[0][
        "destination"
    ] == "o***@example.com"
    assert AuditLog.objects.filter(action="alert_rule.test", resource_id=rule["id"]).exists()


def test_a_service_argument_in_a_change_is_a_400(staff):
    rule = staff.post("/api/alert-rules", CPU, format="json").json()["data"]
    for key in ("rule", "actor", "request"):
        body = refusal(staff, {key: "x"}, method="patch", path=f"/api/alert-rules/{rule['id']}")
        assert "Unknown field" in body and key in body


def test_test_sends_are_rate_limited_per_person(staff, client_for, make_user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "alert-test": 2}
    email = {**CPU, "actions": [{"type": "email", "to": ["ops@example.com"]}]}
    rule = staff.post("/api/alert-rules", email, format="json").json()["data"]
    assert [staff.post(f"/api/alert-rules/{rule['id']}/test").status_code for _ in range(2)] == [200, 200]
    limited = staff.post(f"/api/alert-rules/{rule['id']}/test")
    assert limited.status_code == 429 and limited["Retry-After"]
    assert limited.json()["statusCode"] == 429 and "Too many test sends" in limited.json()["message"]
    assert AuditLog.objects.filter(action="alert_rule.test").count() == 2  # nothing sent the third time
    other = client_for(make_user(role="Administrator"))
    assert other.post(f"/api/alert-rules/{rule['id']}/test").status_code == 200  # their own budget


def test_a_rule_whose_webhook_no_longer_resolves_can_still_be_disabled(staff):
    rule = staff.post("/api/alert-rules", CPU, format="json").json()["data"]
    gone = [{"type": "webhook", "url": "https://hook.invalid/x", "format": "auto"}]
    AlertRule.objects.filter(pk=rule["id"]).update(actions=gone)  # its name stopped resolving since
    changed = staff.patch(f"/api/alert-rules/{rule['id']}", {"enabled": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert AlertRule.objects.get(pk=rule["id"]).enabled is False
    moved = [{"type": "webhook", "url": "https://other.invalid/x"}]  # a new URL is looked up
    refused = refusal(staff, {"actions": moved}, method="patch", path=f"/api/alert-rules/{rule['id']}")
    assert "other.invalid" in refused


def test_a_refused_url_names_the_kind_of_address_never_the_address(staff):
    body = refusal(staff, {**CPU, "actions": [{"type": "webhook", "url": "http://localhost:1/x"}]})
    assert "localhost resolves to a non-public address (loopback)" in body, body
    assert "127.0.0.1" not in body and "::1" not in body


def test_readers_without_admin_write_see_webhook_urls_masked(staff, client_for, make_user):
    made = staff.post("/api/alert-rules", CPU, format="json").json()["data"]
    assert staff.get("/api/alert-rules").json()["data"][0]["actions"][0]["url"] == HOOK
    reader = client_for(make_user(role="Support"))
    for answer in (
        reader.get("/api/alert-rules").json()["data"][0],
        reader.get(f"/api/alert-rules/{made['id']}").json()["data"],
    ):
        (action,) = answer["actions"]
        assert action["url"].startswith("https://162.159.128.233/…") and "secret-token" not in action["url"]
