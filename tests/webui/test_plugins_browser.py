"""The Plugins tab in a real browser (chromium, Playwright) against the real panel (web and worker
processes) whose marketplace is the local stand-in (tests/standins/marketplace.py) and whose files are
on the local test engine: search (a failing source named beside the others' results), the install plan
with its dependency, the install job followed to its end, disable and uninstall; an older version
chosen, then updated; a member who may only read the files sees no control that writes."""

import re

import pytest
from playwright.sync_api import expect

from servers.files import service
from servers.models import ServerMember
from templates_app.models import Template
from tests.fixtures.browser import sign_in
from tests.fixtures.servers import stopped_server
from tests.webui.test_csp_browser import RECORD_VIOLATIONS
from tests.webui.test_files_browser import DESKTOP, PHONE, SCREENSHOTS, fits, with_password

MARKETPLACE_SETTINGS = ("MODRINTH_URL", "HANGAR_URL", "SPIGET_URL", "CURSEFORGE_URL", "CURSEFORGE_API_KEY")


@pytest.fixture
def customer(customer, settings):
    return with_password(customer, settings)


@pytest.fixture
def marketplace_env(marketplace, settings, monkeypatch):
    """The panel's processes (started after this) ask the stand-in, as this process's settings say."""
    for name in MARKETPLACE_SETTINGS:
        monkeypatch.setenv(f"HEARTH_{name}", getattr(settings, name))
    monkeypatch.setenv("HEARTH_OUTBOUND_ALLOW", ",".join(settings.OUTBOUND_ALLOW))
    return marketplace


@pytest.fixture
def paper_server(game_node, game_template, customer, _no_leftover_containers):
    """A stopped Paper 1.20.1 server of `customer`'s on the local engine (its template says so, as
    itzg's images do: TYPE and MINECRAFT_VERSION)."""
    template = Template.objects.create(
        name="Paper 1.20.1",
        docker_image=game_template.docker_image,
        start_command=game_template.start_command,
        stop_command="stop",
        data_path=game_template.data_path,
        environment={"TYPE": "PAPER", "MINECRAFT_VERSION": "1.20.1"},
    )
    return stopped_server(node=game_node(), template=template, owner=customer, name="paper")


def open_plugins(browser, panel, user, server, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, panel, user, path=f"/servers/{server.pk}")
    page.get_by_role("tab", name="Plugins").click()
    expect(page).to_have_url(re.compile(r"#plugins$"))
    return page, errors


def installed_row(page, name):
    return page.locator("#plugins-rows tr").filter(
        has=page.locator(".plugin-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def search_result(page, name):
    return page.locator("#plugins-results li").filter(has=page.get_by_role("heading", name=name, exact=True))


def test_the_owner_finds_installs_disables_and_uninstalls_a_plugin(
    marketplace_env, panel, paper_server, customer, browser
):
    page, errors = open_plugins(browser, panel, customer, paper_server)
    expect(page.locator("#plugins-empty")).to_be_visible()
    expect(page.locator("#plugins-count")).to_have_text("0 files")
    expect(page.get_by_label("Loader")).to_have_value("paper")
    expect(page.get_by_label("Game version")).to_have_value("1.20.1")

    marketplace_env.fault(match="/hangar/api/v1/projects", status=503, times=1)  # the others still answer
    page.get_by_label("Search", exact=True).fill("lucky")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#plugins-status")).to_have_text(re.compile(r"results? for “lucky”"))
    expect(page.locator("#plugins-sources")).to_have_text("Hangar answered 503.")
    result = search_result(page, "LuckyPerms")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("Modrinth")
    expect(result).to_contain_text("A permissions plugin for Minecraft servers.")
    expect(result).to_contain_text("900K downloads")

    result.get_by_role("button", name="Install LuckyPerms").click()
    dialog = page.locator("#plugins-plan")
    expect(dialog).to_be_visible()
    steps = dialog.locator("#plugins-plan-steps li")
    expect(steps).to_have_count(2)
    expect(steps.first).to_contain_text("LuckyPerms 5.4.1")
    expect(steps.first).to_contain_text("/plugins/luckyperms-5.4.1.jar")
    expect(steps.last).to_contain_text("Vaultish 1.7.3")
    expect(steps.last).to_contain_text("needed by LuckyPerms")
    expect(dialog.get_by_label("Version")).to_have_value("v541")
    expect(dialog.locator("#plugins-plan-conflicts")).to_be_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ui-plugins-plan.png"))
    dialog.get_by_role("button", name="Install 2 files").click()
    expect(dialog).to_be_hidden()

    line = page.locator("#plugins-tasks .files-task")
    expect(line).to_contain_text("Installing LuckyPerms 5.4.1 and 1 dependency")
    expect(line.locator(".task-state")).to_have_text("Installed", timeout=60_000)
    expect(page.locator("#plugins-rows .plugin-name")).to_have_text(["LuckyPerms", "Vaultish"])
    luckyperms = installed_row(page, "LuckyPerms")
    expect(luckyperms).to_contain_text("5.4.1")
    expect(luckyperms).to_contain_text("/plugins/luckyperms-5.4.1.jar")
    expect(luckyperms.locator(".plugin-badge")).to_have_text("Modrinth")
    expect(result.locator(".plugin-installed")).to_have_text("Installed (5.4.1)")
    expect(result.get_by_role("button", name="Reinstall LuckyPerms")).to_be_enabled()

    page.screenshot(path=str(SCREENSHOTS / "ui-plugins.png"), full_page=True)
    vaultish = installed_row(page, "Vaultish")
    switch = vaultish.get_by_role("switch", name="Enable Vaultish")
    expect(switch).to_be_checked()
    switch.click()
    expect(vaultish).to_contain_text("/plugins/vaultish-1.7.3.jar.disabled")
    expect(vaultish.get_by_role("switch", name="Enable Vaultish")).not_to_be_checked()
    expect(vaultish.locator(".plugin-state")).to_have_text("Disabled")

    luckyperms.get_by_role("button", name="Uninstall LuckyPerms").click()
    confirm = page.locator("#plugins-dialog")
    expect(confirm).to_contain_text("Uninstall LuckyPerms?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(luckyperms).to_have_count(1)
    luckyperms.get_by_role("button", name="Uninstall LuckyPerms").click()
    confirm.get_by_role("button", name="Uninstall", exact=True).click()
    expect(page.locator("#plugins-notice")).to_contain_text("Uninstalled LuckyPerms.")
    expect(page.locator("#plugins-rows .plugin-name")).to_have_text(["Vaultish"])
    expect(page.locator("#plugins-count")).to_have_text("1 file")

    files = page.evaluate(
        "(path) => Hearth.api('GET', path).then((r) => r.body.data.map((e) => e.name))",
        f"/api/servers/{paper_server.pk}/files?path=/plugins",
    )
    assert files == ["vaultish-1.7.3.jar.disabled"], files
    assert not errors, errors
    assert page.evaluate("window.__csp") == []


def test_the_owner_installs_an_older_version_then_updates_it(
    marketplace_env, panel, paper_server, customer, browser
):
    page, errors = open_plugins(browser, panel, customer, paper_server)
    expect(page.locator("#plugins-status")).to_have_text(re.compile("results? that fit the server"))
    search_result(page, "LuckyPerms").get_by_role("button", name="Install LuckyPerms").click()
    dialog = page.locator("#plugins-plan")
    expect(dialog.locator("#plugins-plan-steps li")).to_have_count(2)
    dialog.get_by_label("Version").select_option(label="5.4.0 (2024-01-15)")
    expect(dialog.locator("#plugins-plan-steps li")).to_have_text(
        ["LuckyPerms 5.4.0 → /plugins/luckyperms-5.4.0.jar"]
    )
    dialog.get_by_role("button", name="Install", exact=True).click()
    expect(page.locator("#plugins-tasks .task-state")).to_have_text("Installed", timeout=60_000)
    row = installed_row(page, "LuckyPerms")
    expect(row.locator(".plugin-version")).to_have_text("5.4.0")

    page.get_by_role("button", name="Check for updates").click()
    expect(page.locator("#plugins-notice")).to_have_text("1 update available.")
    expect(page.get_by_role("button", name="Update all (1)")).to_be_visible()
    row.get_by_role("button", name="Update LuckyPerms to 5.4.1").click()
    line = page.locator("#plugins-tasks .files-task").last
    expect(line).to_contain_text("Updating LuckyPerms to 5.4.1")
    expect(line.locator(".task-state")).to_have_text("Updated", timeout=60_000)
    expect(row.locator(".plugin-version")).to_have_text("5.4.1")
    expect(row).to_contain_text("/plugins/luckyperms-5.4.1.jar")
    # 5.4.1 needs Vaultish: the update brings it.
    expect(page.locator("#plugins-rows .plugin-name")).to_have_text(["LuckyPerms", "Vaultish"])
    expect(page.get_by_role("button", name=re.compile("^Update all"))).to_be_hidden()
    assert not errors, errors
    assert page.evaluate("window.__csp") == []


@pytest.fixture
def reader(make_user, paper_server, customer, settings):
    """A member who may read the files (so list and search) and nothing more; the server has a
    plugin the owner uploaded by hand (which Modrinth does not know)."""
    service.file_create(server=paper_server, actor=customer, path="/plugins/handmade.jar", content="a jar")
    user = with_password(make_user(email="reader@example.com", username="reader"), settings)
    ServerMember.objects.create(server=paper_server, user=user, permissions=["file.read"])
    return user


def test_a_member_who_may_only_read_files_sees_no_install_nor_uninstall(
    marketplace_env, panel, paper_server, customer, reader, browser
):
    page, errors = open_plugins(browser, panel, reader, paper_server, viewport=PHONE)
    handmade = installed_row(page, "handmade.jar")
    expect(handmade).to_have_count(1)
    expect(handmade.locator(".plugin-badge")).to_have_text("uploaded")
    expect(handmade.locator(".plugin-state")).to_have_text("Enabled")
    assert handmade.get_by_role("button").count() == 0
    result = search_result(page, "LuckyPerms")
    expect(result).to_have_count(1)  # the opening search: what fits the server
    assert result.get_by_role("button").count() == 0
    assert page.locator("#plugins-plan").count() == 0
    assert page.locator("#plugins-update-all").count() == 0
    expect(page.get_by_role("button", name="Check for updates")).to_be_visible()
    assert page.locator("#panel-plugins [role=switch]").count() == 0
    assert page.get_by_role("button", name=re.compile("^Uninstall")).count() == 0
    fits(page, PHONE["width"])
    page.screenshot(path=str(SCREENSHOTS / "ui-plugins-phone.png"), full_page=True)
    assert not errors, errors
    assert page.evaluate("window.__csp") == []
