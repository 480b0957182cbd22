# ruff: noqa: F811 - the fixtures of tests/alerts/api_rows.py, imported, are arguments here
"""Alerts in the admin: rules made and changed through alerts.rules (validation refusals shown on the
form), enable/disable and "send a test"; alerts listed with filters, resolved by staff (audited), their
deliveries inline with masked destinations; notifications read-only; customers kept out."""

import pytest
from django.contrib.messages import get_messages

from accounts.models import AuditLog
from alerts.models import Alert, AlertDelivery, AlertRule, ServerNotification
from alerts.rules import rule_create
from tests.alerts.api_rows import HOOK, alert_node, alert_server, crash, offline  # noqa: F401

pytestmark = pytest.mark.django_db

FORM = {
    "name": "High CPU",
    "type": "resource_threshold",
    "target": "server",
    "target_id": "*",
    "conditions": '{"metric": "cpu", "operator": ">", "value": 90, "duration": 60}',
    "actions": f'[{{"type": "webhook", "url": "{HOOK}"}}]',
    "enabled": "on",
    "severity": "warning",
    "auto_resolve": "on",
    "dedupe_seconds": "300",
}


def test_staff_make_a_rule_through_the_form_and_bad_input_is_refused(signed_in, admin):
    client = signed_in(admin)
    bad = client.post("/admin/alerts/alertrule/add/", {**FORM, "conditions": '{"metric": "gpu"}'})
    assert bad.status_code == 200 and "Missing operator, value" in bad.content.decode()
    bad = client.post(
        "/admin/alerts/alertrule/add/",
        {**FORM, "actions": '[{"type": "webhook", "url": "http://10.1.1.1/"}]'},
    )
    assert bad.status_code == 200 and "private" in bad.content.decode()
    assert not AlertRule.objects.exists()
    made = client.post("/admin/alerts/alertrule/add/", FORM)
    assert made.status_code == 302, made.content.decode()[-2000:]
    rule = AlertRule.objects.get()
    assert rule.signing_secret and rule.created_by == admin and rule.actions[0]["format"] == "auto"
    changed = client.post(f"/admin/alerts/alertrule/{rule.pk}/change/", {**FORM, "severity": "critical"})
    assert changed.status_code == 302
    assert AlertRule.objects.get().severity == "critical"
    client.post("/admin/alerts/alertrule/", {"action": "disable", "_selected_action": [str(rule.pk)]})
    assert AlertRule.objects.get().enabled is False
    listing = client.get("/admin/alerts/alertrule/").content.decode()
    assert "High CPU" in listing and "resource_threshold" in listing
    assert set(AuditLog.objects.filter(resource_id=str(rule.pk)).values_list("action", flat=True)) == {
        "alert_rule.create",
        "alert_rule.update",
    }


def test_send_a_test_shows_each_delivery(signed_in, admin):
    rule = rule_create(actor=admin, name="ops", type="server_crashed", target="server",
                       actions=[{"type": "email", "to": ["ops@example.com"]}])  # fmt: skip
    page = signed_in(admin).post(
        "/admin/alerts/alertrule/", {"action": "send_test", "_selected_action": [str(rule.pk)]}, follow=True
    )
    text = page.content.decode()
    assert "Ops → o***@example.com: " in text, text[text.find("messagelist") - 50 :][:1500]


def test_alerts_are_filtered_and_resolved_by_staff(signed_in, admin, make_user, alert_server, alert_node):
    server = alert_server(name="survival")
    crashed, down = crash(server), offline(alert_node)
    AlertDelivery.objects.create(alert=crashed, channel="webhook", destination=HOOK, status="failed",
                                 status_code=500, error="server error")  # fmt: skip
    support = signed_in(make_user(role="Support"))  # reads the admin; resolves nothing
    assert "survival crashed" in support.get("/admin/alerts/alert/").content.decode()
    support.post(
        "/admin/alerts/alert/", {"action": "resolve_selected", "_selected_action": [str(crashed.pk)]}
    )
    assert not Alert.objects.filter(resolved=True).exists()
    client = signed_in(admin)
    listing = client.get("/admin/alerts/alert/?type=node_offline").content.decode()
    assert "alerts-node is offline" in listing and "survival crashed" not in listing
    assert "survival crashed" in client.get("/admin/alerts/alert/?q=survival").content.decode()
    page = client.get(f"/admin/alerts/alert/{crashed.pk}/change/").content.decode()
    assert "https://162.159.128.233/…" in page and "secret-token" not in page and "server error" in page
    client.post(
        "/admin/alerts/alert/",
        {"action": "resolve_selected", "_selected_action": [str(crashed.pk), str(down.pk)]},
    )
    assert Alert.objects.filter(resolved=True, resolved_by=admin).count() == 2
    assert AuditLog.objects.filter(action="alert.resolve", user=admin).count() == 2


def test_notifications_are_listed_masked_and_customers_are_kept_out(signed_in, admin, customer, alert_server):
    ServerNotification.objects.create(server=alert_server(), url=HOOK)
    listing = signed_in(admin).get("/admin/alerts/servernotification/").content.decode()
    assert "162.159.128.233" in listing and "secret-token" not in listing
    outsider = signed_in(customer)
    for page in ("alertrule", "alert", "servernotification"):
        assert outsider.get(f"/admin/alerts/{page}/").status_code in (302, 403)


def test_disable_reports_a_rule_it_cannot_change_and_skips_dns_for_stored_urls(signed_in, admin):
    broken = rule_create(actor=admin, name="broken", type="server_crashed", target="server", actions=[])
    AlertRule.objects.filter(pk=broken.pk).update(target_id="00000000-0000-0000-0000-000000000001")
    gone = rule_create(actor=admin, name="gone", type="server_crashed", target="server", actions=[])
    AlertRule.objects.filter(pk=gone.pk).update(
        actions=[{"type": "webhook", "url": "https://hook.invalid/x"}]
    )
    page = signed_in(admin).post(
        "/admin/alerts/alertrule/",
        {"action": "disable", "_selected_action": [str(broken.pk), str(gone.pk)]},
    )
    shown = [(m.level_tag, str(m)) for m in get_messages(page.wsgi_request)]
    assert page.status_code == 302 and "Disabled 1 rule(s)." in [text for _, text in shown], shown
    assert any(level == "error" and text.startswith("broken: ") and "No server with id" in text
               for level, text in shown), shown  # fmt: skip
    assert list(AlertRule.objects.filter(enabled=False).values_list("name", flat=True)) == ["gone"]


def test_support_reads_rules_with_masked_urls_and_errors_are_scrubbed(
    signed_in, admin, make_user, alert_server
):
    rule = rule_create(actor=admin, name="ops", type="server_crashed", target="server",
                       actions=[{"type": "webhook", "url": HOOK}])  # fmt: skip
    support = signed_in(make_user(role="Support"))
    page = support.get(f"/admin/alerts/alertrule/{rule.pk}/change/")
    assert page.status_code == 200 and "162.159.128.233" in page.content.decode()
    assert "secret-token" not in page.content.decode()
    assert (
        "secret-token" in signed_in(admin).get(f"/admin/alerts/alertrule/{rule.pk}/change/").content.decode()
    )
    crashed = crash(alert_server())
    AlertDelivery.objects.create(alert=crashed, channel="webhook", destination=HOOK, status="failed",
                                 error=f"Could not fetch {HOOK}: timed out")  # fmt: skip
    shown = signed_in(admin).get(f"/admin/alerts/alert/{crashed.pk}/change/").content.decode()
    assert "timed out" in shown and "secret-token" not in shown
