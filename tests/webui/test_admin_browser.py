"""The admin in a real browser: staff create a server through the add form (placement, the owner picked
with the autocomplete, variables), the panel's worker installs it on the real test engine, and the
admin's dashboard counts it. Same real panel processes as test_browser.py."""

import docker
import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from servers.models import Server
from tests.fixtures import PASSWORD, require_env
from tests.fixtures.browser import SLOW, sign_in
from tests.polling import wait_for

SCREENSHOT_NAME = "admin-dashboard.png"


@pytest.fixture
def staff(admin, settings):
    """The administrator, with a password the panel processes can check (the suite hashes with MD5)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    admin.set_password(PASSWORD)
    admin.save(update_fields=["password"])
    return admin


@pytest.fixture
def leaves_no_containers(transactional_db):
    """Removes the containers of the servers this test made (only those: other runs share the engine)."""
    yield
    ours = {str(pk) for pk in Server.objects.values_list("pk", flat=True)}
    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    for container in engine.containers.list(all=True, filters={"label": "hearth.server"}):
        if container.labels.get("hearth.server") in ours:
            container.remove(force=True)
    engine.close()


@pytest.fixture
def online_node(game_node):
    """Made before the browser starts (the ORM refuses to run once Playwright's loop does)."""
    return game_node()


def dashboard_count(page, panel, status: str) -> str:
    page.goto(panel.url + "/admin/")
    return page.locator(f'#dashboard-servers tr[data-status="{status}"] td.count').inner_text()


def test_staff_create_a_server_in_the_admin_and_see_it_on_the_dashboard(
    leaves_no_containers,
    panel,
    staff,
    customer,
    online_node,
    game_template,
    browser,
):
    node = online_node
    page = browser.new_context(viewport={"width": 1320, "height": 1000}).new_page()
    sign_in(page, panel, staff, path="/admin/")
    expect(page).to_have_url(panel.url + "/admin/")
    expect(page.locator(f'#dashboard-nodes tr[data-node="{node.name}"] .state-online')).to_have_text("online")
    expect(page.locator('#dashboard-servers tr[data-status="stopped"] td.count')).to_have_text("0")

    page.goto(panel.url + "/admin/servers/server/add/")
    expect(page.locator("h1")).to_have_text("Add server")
    owner = page.locator("#id_owner + .select2 .select2-selection")
    try:  # the admin's jQuery builds the widget once its scripts load, slowly on a busy machine
        expect(owner).to_be_visible(timeout=SLOW)
    except AssertionError:
        pytest.fail(f"no autocomplete on the add page:\n{page.content()[-3000:]}\n{panel.log('web')}")
    page.fill("#id_name", "admin-made")
    owner.click()  # the autocomplete asks the panel
    page.locator(".select2-search__field").fill("customer@")
    page.locator(".select2-results__option", has_text=customer.email).click()
    page.select_option("#id_template", label=game_template.name)
    page.fill("#id_allocated_memory_mb", "256")
    page.fill("#id_allocated_cpu_cores", "1")
    page.fill("#id_allocated_disk_mb", "512")
    page.fill("#id_environment", '{"MOTD": "made in the admin"}')
    expect(page.locator("#id_install")).to_be_checked()
    page.locator('input[name="_save"]').click()
    expect(page.locator(".messagelist")).to_contain_text(f"Created “admin-made” on node {node.name}.")
    expect(page.locator(".field-owner .readonly")).to_have_text(customer.email)

    # The panel's own worker installs it; the dashboard then counts one stopped server.
    def installed() -> bool:
        assert dashboard_count(page, panel, "install_failed") == "0", "the install failed"
        return dashboard_count(page, panel, "stopped") == "1"

    wait_for(installed, SLOW / 1000, "the server to finish installing", interval=1)
    expect(page.locator("#dashboard-servers caption")).to_contain_text("(1)")
    page.locator('#dashboard-servers tr[data-status="stopped"] a').click()
    expect(page.locator("#result_list")).to_contain_text("admin-made")
    page.goto(panel.url + "/admin/")
    page.screenshot(path=str(panel.logs / SCREENSHOT_NAME), full_page=True)
