"""The new-server page in a real browser against the real panel: the plans offered for the chosen game as
cards, the locations the plan allows, the server created on it (and its plan and expiry on its page); and,
where no plan is offered, a size within the maximums, refusals shown as the API words them."""

import re

import pytest
from playwright.sync_api import expect

from plans.models import Plan
from tests.fixtures.browser import sign_in
from tests.webui.test_csp_browser import RECORD_VIOLATIONS
from tests.webui.test_files_browser import DESKTOP, with_password


@pytest.fixture
def customer(customer, settings):
    return with_password(customer, settings)


def test_a_customer_picks_a_plan_and_gets_a_server_on_it(panel, customer, shop, browser):
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, panel, customer, path="/")
    page.get_by_role("link", name="New server").click()
    expect(page).to_have_url(re.compile(r"/servers/new$"))
    cards = page.locator(".plan-card")
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("basic")
    expect(cards.first).to_contain_text("€4 / month")
    expect(cards.first).to_contain_text("runs 30 days")
    expect(page.locator("#new-location option")).to_have_text(["Any", "eu"])  # basic runs in eu only
    page.get_by_label("Game").select_option(label="Other")
    expect(cards).to_have_count(1)  # basic offers Game only
    expect(cards.first).to_contain_text("big")
    expect(page.locator("#new-location option")).to_have_text(["Any", "eu", "us"])
    page.get_by_label("Game").select_option(label="Game")
    expect(cards).to_have_count(2)

    page.get_by_role("button", name="Create and install").click()
    expect(page.locator("#new-notice")).to_contain_text("name")  # the API's 400: no name
    page.get_by_label("Name").fill("survival")
    page.get_by_role("button", name="Create and install").click()
    expect(page).to_have_url(re.compile(r"/servers/[0-9a-f-]{36}$"))
    expect(page.locator(".server-head")).to_contain_text("basic")
    expect(page.locator("#server-expiry")).to_contain_text("expires")
    assert not errors, errors
    assert page.evaluate("window.__csp") == []


@pytest.fixture
def no_plans(shop):
    Plan.objects.update(is_active=False)
    return shop


def test_without_plans_the_customer_sizes_the_server(panel, customer, no_plans, browser, settings):
    page = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(page, panel, customer, path="/servers/new")
    assert page.locator(".plan-card").count() == 0
    page.get_by_label("Name").fill("small")
    page.get_by_label("Memory (MB)").fill("999999")
    page.get_by_role("button", name="Create and install").click()
    expect(page.locator("#new-notice")).to_contain_text("ask staff for more")
    page.get_by_label("Memory (MB)").fill("512")
    page.get_by_role("button", name="Create and install").click()
    expect(page).to_have_url(re.compile(r"/servers/[0-9a-f-]{36}$"))
    expect(page.locator(".server-head")).to_contain_text("512 MB")
