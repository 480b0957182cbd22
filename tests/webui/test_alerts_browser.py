"""Alerts in a real browser (Debian's chromium, driven by Playwright) against the real web process: a
customer adds a Discord webhook to their server's Notifications tab, sees their server's alert (and not
another's) on the Alerts page, and resolves it; a hostile title stays text; nothing breaks the CSP."""

import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from alerts.services import raise_alert
from servers.models import Server
from tests.fixtures import PASSWORD
from tests.fixtures.browser import Panel, database_env, sign_in
from tests.webui.test_csp_browser import RECORD_VIOLATIONS

HOOK = "https://162.159.128.233/api/webhooks/1/token"  # a public address: checked without DNS, never sent to
HOSTILE = "<img src=x onerror=window.__xss=1>"


@pytest.fixture
def web_only(transactional_db, static_root, tmp_path):
    """The web process alone (the alerts pages need no worker or monitor), with the collected static files."""
    panel = Panel(env={**database_env(), "HEARTH_STATIC_ROOT": str(static_root)}, logs=tmp_path)
    try:
        panel.start_web()
        yield panel
    finally:
        for name in list(panel.procs):
            panel.stop(name)


def crashed(server: Server, title: str):
    return raise_alert(
        type="server_crashed",
        fingerprint=f"server_crashed:server:{server.pk}",
        title=title,
        message="exit code 137 (out of memory)",
        severity="critical",
        server=server,
        node=server.node,
        dedupe_seconds=0,
    )


@pytest.fixture
def server(customer, stranger, make_server, settings):
    """The customer's running server with a crash alert, and another's with one (before the browser)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the panel's process checks it
    customer.set_password(PASSWORD)
    customer.save(update_fields=["password"])
    server = make_server(customer, status=Server.Status.RUNNING)
    crashed(server, f"survival crashed {HOSTILE}")
    crashed(make_server(stranger, name="theirs"), "theirs crashed")
    return server


def test_a_customer_subscribes_their_server_and_resolves_its_alert(customer, server, web_only, browser):

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, web_only, customer, path=f"/servers/{server.pk}")
    page.get_by_role("tab", name="Notifications").click()
    expect(page.locator("#notifications-empty")).to_be_visible()
    page.get_by_label("Webhook URL").fill("http://10.0.0.1/hook")
    page.get_by_role("button", name="Add notification").click()
    expect(page.locator("#notification-error")).to_contain_text("private")
    page.get_by_label("Webhook URL").fill(HOOK)
    page.get_by_label("Message format").select_option("discord")
    page.get_by_role("button", name="Add notification").click()
    row = page.locator("#notifications-rows tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(HOOK)
    expect(row).to_contain_text("discord")

    page.get_by_role("link", name="Alerts").click()
    alerts = page.locator("#alerts-rows tr")
    expect(alerts).to_have_count(1)  # theirs is not shown
    expect(alerts).to_contain_text(f"survival crashed {HOSTILE}")  # as text, never markup
    expect(alerts).to_contain_text("survival")
    alerts.get_by_role("button", name="Resolve").click()
    expect(page.locator("#alerts-empty")).to_be_visible()
    page.get_by_label("Show").select_option("true")
    expect(alerts).to_have_count(1)
    expect(alerts).to_contain_text("Resolved")
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__csp") == [] and errors == []
    context.close()
