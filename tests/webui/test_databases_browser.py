"""The Databases tab in a real browser (chromium, Playwright) against the real panel and the test
environment's MariaDB: create, the connection details shown and copied (and working), a new password
after a confirmation, delete; a refusal shown as the API says it; a reader sees no controls."""

import re

import pytest
from playwright.sync_api import expect

from databases.services import database_create
from tests.fixtures.browser import sign_in
from tests.fixtures.databases import connect_as, on_host
from tests.webui.test_csp_browser import RECORD_VIOLATIONS
from tests.webui.test_files_browser import DESKTOP, with_password


@pytest.fixture
def customer(customer, settings):
    return with_password(customer, settings)


def listed(page, server) -> list[dict]:
    """The server's databases as the page's own API call reads them (no ORM once the browser runs)."""
    answer = page.evaluate("(path) => Hearth.api('GET', path)", f"/api/servers/{server.pk}/databases")
    return answer["body"]["data"]


@pytest.fixture
def server(customer, make_server, database_host):
    return make_server(customer, database_limit=2)


def test_the_owner_creates_copies_rotates_and_deletes_a_database(
    panel, customer, server, database_host, browser
):
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, panel, customer, path=f"/servers/{server.pk}")
    page.get_by_role("tab", name="Databases").click()
    expect(page).to_have_url(re.compile(r"#databases$"))
    expect(page.locator("#databases-empty")).to_be_visible()
    expect(page.locator("#databases-count")).to_have_text("0 databases of 2")

    page.get_by_label("Connections from").fill("' OR 1=1 --")
    page.get_by_label("Database name").fill("luckperms")
    page.get_by_role("button", name="Create database").click()
    expect(page.locator("#databases-notice")).to_contain_text("remote:")
    assert listed(page, server) == []

    page.get_by_label("Connections from").fill("")
    page.get_by_role("button", name="Create database").click()
    name = f"s{server.pk.hex[:8]}_luckperms"
    row = page.locator("#databases-rows tr").filter(has_text=name)
    expect(row).to_have_count(1)
    [made] = listed(page, server)
    expect(row.locator(".database-password code")).to_have_text("••••••••")
    row.get_by_role("button", name=f"Show the password of {name}").click()
    expect(row.locator(".database-password code")).to_have_text(made["password"])
    row.get_by_role("button", name=f"Copy the password of {name}").click()
    assert page.evaluate("navigator.clipboard.readText()") == made["password"]
    expect(row).to_contain_text(f"{database_host.host}:{database_host.port}")
    connect_as(made["username"], made["password"], made["name"]).close()

    row.get_by_role("button", name="New password…").click()
    dialog = page.locator("#databases-dialog")
    expect(dialog).to_contain_text("stops working at once")
    dialog.get_by_role("button", name="Set a new password").click()
    expect(page.locator("#databases-notice")).to_contain_text(f"New password set for {made['username']}")
    [made] = listed(page, server)
    row.get_by_role("button", name=f"Show the password of {name}").click()
    expect(row.locator(".database-password code")).to_have_text(made["password"])

    row.get_by_role("button", name="Delete…").click()
    expect(dialog).to_contain_text("dropped for good")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#databases-empty")).to_be_visible()
    assert not on_host(name)
    assert not errors, errors
    assert page.evaluate("window.__csp") == []


@pytest.fixture
def shared(customer, make_user, make_server, share, database_host, settings):
    server = make_server(customer)
    database_create(server=server, actor=customer, name="shared")
    reader = with_password(make_user(), settings)
    share(server, reader, ["database.read"])
    return server, reader


def test_a_reader_sees_the_details_but_no_controls(panel, shared, browser):
    server, reader = shared
    page = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(page, panel, reader, path=f"/servers/{server.pk}")
    page.get_by_role("tab", name="Databases").click()
    row = page.locator("#databases-rows tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("_shared")
    assert page.locator("#database-create").count() == 0
    assert row.get_by_role("button", name="New password…").count() == 0
    assert row.get_by_role("button", name="Delete…").count() == 0
