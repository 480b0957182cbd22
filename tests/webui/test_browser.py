"""The web UI in a real browser (Debian's chromium, driven by Playwright) against the real panel.

The web process, a Celery worker and the monitor run as processes on the test database, and the game runs on
the local test engine: nothing between the browser and the container is faked.
"""

import re

import docker
import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from servers.lifecycle.create import server_create
from servers.lifecycle.install import server_install
from servers.models import Server
from tests.fixtures import PASSWORD, require_env, wait_status
from tests.fixtures.browser import ROOT, SLOW, sign_in

SCREENSHOT = ROOT / "bench/out/ui-server-page.png"


@pytest.fixture
def customer(customer, settings):
    """The customer, with a password the panel processes can check (the suite hashes with MD5 for speed)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    customer.set_password(PASSWORD)
    customer.save(update_fields=["password"])
    return customer


@pytest.fixture
def installed_server(customer, admin, game_node, game_template, panel):
    """A stopped, installed Test Game server on engine 1 (installed by the worker process)."""
    server = server_create(
        actor=admin,  # choosing the node is staff's (server.resources)
        owner=customer,
        template=game_template,
        node=game_node(),
        name="survival",
        allocated_memory_mb=256,
        allocated_cpu_cores=1,
        allocated_disk_mb=512,
    )
    server_install(server=server, actor=customer)
    server = wait_status(server, Server.Status.STOPPED, Server.Status.INSTALL_FAILED, timeout=120)
    assert server.status == Server.Status.STOPPED, f"{server.status_reason}\n{panel.log('worker')}"
    yield server
    # Only this test's containers: other test runs may be using the same engine right now.
    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    for container in engine.containers.list(all=True, filters={"label": f"hearth.server={server.pk}"}):
        container.remove(force=True)
    engine.close()


def test_a_customer_starts_talks_to_and_stops_a_server_in_the_browser(
    panel, customer, installed_server, browser
):
    server = installed_server
    context = browser.new_context(viewport={"width": 1320, "height": 940})
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))

    # The list, with a live badge per server.
    listing = context.new_page()
    sign_in(listing, panel, customer)
    expect(listing).to_have_url(panel.url + "/")
    list_badge = listing.locator(f'tr[data-server-id="{server.pk}"] [data-status-badge]')
    expect(list_badge).to_have_text("Stopped")
    expect(listing.locator("#connection")).to_have_text("Live")

    # The server page.
    page = context.new_page()
    page.goto(f"{panel.url}/servers/{server.pk}")
    badge = page.locator(".head-status [data-status-badge]")
    console = page.locator("#console")
    expect(page.locator("h1")).to_have_text("survival")
    expect(badge).to_have_text("Stopped")
    expect(page.locator("#connection")).to_have_text("Live")
    expect(console).to_contain_text("Installation requested by customer.")  # the history
    start = page.get_by_role("button", name="Start", exact=True)
    stop = page.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_disabled()

    start.click()
    expect(console).to_contain_text("Done (", timeout=SLOW)
    expect(badge).to_have_text("Running", timeout=SLOW)
    expect(list_badge).to_have_text("Running")  # the other tab follows too
    expect(start).to_be_disabled()
    expect(stop).to_be_enabled()

    command = page.get_by_label("Command")
    command.fill("say hello")
    command.press("Enter")
    expect(console).to_contain_text("[Server] hello")
    expect(command).to_have_value("")
    command.fill("say <b>not bold</b>")
    command.press("Enter")
    expect(console).to_contain_text("> say <b>not bold</b>")  # what was typed is shown as text...
    assert console.locator("b").count() == 0  # ...never as markup
    command.press("ArrowUp")
    expect(command).to_have_value("say <b>not bold</b>")
    command.press("ArrowUp")
    expect(command).to_have_value("say hello")
    command.press("ArrowDown")
    command.press("ArrowDown")
    expect(command).to_have_value("")

    # Resource samples arrive while it runs.
    expect(page.locator("#memory-now")).not_to_have_text("—", timeout=SLOW)
    expect(page.locator("#cpu-chart")).to_have_attribute("aria-label", re.compile(r"^CPU chart, latest \d"))

    # The web process restarts: the page reconnects, subscribes again (the history is replayed) and
    # follows the server live over the new connection.
    panel.stop("web")
    expect(page.locator("#connection")).to_contain_text("Reconnecting")
    panel.start_web()
    expect(page.locator("#connection")).to_have_text("Live", timeout=SLOW)
    expect(console).to_contain_text("[Server] hello")

    stop.click()
    expect(console).to_contain_text("Stop requested by customer.")
    expect(badge).to_have_text("Stopped", timeout=SLOW)
    expect(list_badge).to_have_text("Stopped")
    expect(start).to_be_enabled()
    expect(page.locator("#notice")).to_be_hidden()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    listing.screenshot(path=str(SCREENSHOT.with_name("ui-server-list.png")))
    assert errors == [], errors


def test_a_page_whose_login_ended_goes_back_to_the_login_form(panel, customer, installed_server, browser):
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, panel, customer, path=f"/servers/{installed_server.pk}")
    expect(page).to_have_url(f"{panel.url}/servers/{installed_server.pk}")
    expect(page.locator("#connection")).to_have_text("Live")

    other = context.new_page()
    other.goto(panel.url + "/")
    other.get_by_role("button", name="Sign out").click()
    # The form's redirect, or the page's own socket closed by the logout (4401) first: the login form either way.
    expect(other).to_have_url(re.compile(re.escape(panel.url) + r"/login(\?next=/)?$"))

    # The open socket of the first tab is closed by the logout too (4401) and the page signs in again.
    expect(page).to_have_url(f"{panel.url}/login?next=/servers/{installed_server.pk}", timeout=SLOW)
    page.screenshot(path=str(SCREENSHOT.with_name("ui-login.png")))


def test_console_colours_are_rendered_and_markup_is_not(browser):
    page = browser.new_page()
    page.set_content('<div id="out"></div>')
    page.add_script_tag(path=str(ROOT / "webui/static/webui/js/ansi.js"))
    html = page.evaluate(
        """(data) => {
            const out = document.getElementById("out");
            const state = new Hearth.ansi.State();
            Hearth.ansi.render(data, state, "stream-stdout").forEach((line) => out.appendChild(line));
            return out.innerHTML;
        }""",
        "\x1b[1;31mred\x1b[0m plain <img src=x onerror=alert(1)>\n"
        "\x1b[92mbright\x1b[39m \x1b[38;5;208morange\x1b[38;5;9m nine\x1b[0m\x1b]0;title\x07\x1b[2J\r\x07end\n"
        "still \x1b[33myellow\n"
        "carried over\x1b[m\n",
    )
    assert html == (
        '<div class="line stream-stdout"><span class="ansi-bold ansi-fg-1">red</span>'
        " plain &lt;img src=x onerror=alert(1)&gt;</div>"
        '<div class="line stream-stdout"><span class="ansi-fg-10">bright</span> '
        '<span style="color: rgb(255, 135, 0);">orange</span><span class="ansi-fg-9"> nine</span>end</div>'
        '<div class="line stream-stdout">still <span class="ansi-fg-3">yellow</span></div>'
        '<div class="line stream-stdout"><span class="ansi-fg-3">carried over</span></div>'
    )
