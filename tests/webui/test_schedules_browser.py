"""The Schedules tab in a real browser (Debian's chromium, driven by Playwright) against the real panel
(its web process and worker): the next five run times appear as a cron expression is typed and a bad one
is explained, a chain is made with the steps editor, run now, and its history shows each step; a hostile
task name stays text; nothing breaks the page's CSP."""

import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from servers.models import Server
from tests.fixtures import PASSWORD
from tests.fixtures.browser import SLOW, sign_in
from tests.webui.test_csp_browser import RECORD_VIOLATIONS

HOSTILE = "<img src=x onerror=window.__xss=1>"


@pytest.fixture
def owner(customer, settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the panel's processes check it
    customer.set_password(PASSWORD)
    customer.save(update_fields=["password"])
    return customer


@pytest.fixture
def server(make_server, owner):
    return make_server(owner, status=Server.Status.RUNNING)


def test_a_customer_schedules_a_chain_previews_its_runs_runs_it_and_reads_its_history(
    panel, owner, server, browser
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, panel, owner, path=f"/servers/{server.pk}")
    page.get_by_role("tab", name="Schedules").click()
    expect(page.locator("#panel-schedules")).to_be_visible()
    expect(page.locator("#panel-console")).to_be_hidden()
    expect(page.locator("#schedules-empty")).to_be_visible()

    page.get_by_role("button", name="New task").click()
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")  # the browser's own
    cron = page.get_by_label("Schedule (cron)")
    cron.fill("0 25 * * *")
    expect(page.locator("#task-schedule-error")).to_contain_text("not a valid cron expression")
    cron.fill("*/15 * * * *")
    runs = page.locator("#task-next-runs li")
    expect(runs).to_have_count(5)
    expect(page.locator("#task-schedule-error")).to_be_hidden()

    page.get_by_label("Task name").fill(f"Announce {HOSTILE}")
    first = page.locator("#task-steps li").first
    first.get_by_label("Action").select_option("command")
    first.get_by_label("Command, or the backup's name").fill("say the server restarts soon")
    page.get_by_role("button", name="Add step").click()
    second = page.locator("#task-steps li").nth(1)
    second.get_by_label("Command, or the backup's name").fill("say now")
    second.get_by_label("Delay after the previous step, seconds").fill("1")
    page.get_by_role("button", name="Save task").click()

    row = page.locator("#schedules-rows tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"Announce {HOSTILE}")  # as text, never markup
    expect(row).to_contain_text("*/15 * * * *")
    expect(row).to_contain_text("wait 1 s, command “say now”")

    row.get_by_role("button", name="Run now").click()
    history = page.locator("#schedules-runs > li").first
    for _ in range(10):  # the worker runs the chain: the second step a second after the first
        page.get_by_role("button", name="History").click()
        if history.get_attribute("data-status", timeout=SLOW) == "succeeded":
            break
        page.wait_for_timeout(1000)
    expect(history).to_have_attribute("data-status", "succeeded")
    expect(history).to_contain_text("manual")
    expect(history.locator("ol li")).to_have_text(
        ["command: succeeded — Sent: say the server restarts soon", "command: succeeded — Sent: say now"]
    )
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__csp") == [] and errors == []
    context.close()
