"""The Backups tab in a real browser (chromium, Playwright) against the real panel (web, worker and
monitor processes) and the local test engine: create with progress, download, lock, restore after a
confirmation that names what is replaced (the file changed since comes back), unlock and delete. The
backup's name is markup, and stays text. Needs the backup engine (nodes/client/backups.py)."""

import re

import pytest
from playwright.sync_api import expect

from servers.files import service
from tests.fixtures.browser import SLOW, sign_in
from tests.webui.test_csp_browser import RECORD_VIOLATIONS
from tests.webui.test_files_browser import DESKTOP, with_password

HOSTILE = '<img src=x onerror="window.__xss=1">'
ORIGINAL = "motd=before the backup\n"


@pytest.fixture
def customer(customer, settings):
    return with_password(customer, settings)


@pytest.fixture
def server(files_server, customer):
    server = files_server()
    service.file_create(server=server, actor=customer, path="/server.properties", content=ORIGINAL)
    return server


def api(page, method: str, path: str, body=None):
    return page.evaluate("([m, p, b]) => Hearth.api(m, p, b)", [method, path, body])


def test_the_owner_backs_up_downloads_locks_restores_and_deletes(panel, customer, server, browser, tmp_path):
    content = f"/api/servers/{server.pk}/files/content?path=/server.properties"
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(RECORD_VIOLATIONS)  # the tab runs under the page's Content-Security-Policy
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, panel, customer, path=f"/servers/{server.pk}")
    page.get_by_role("tab", name="Backups").click()
    expect(page).to_have_url(re.compile(r"#backups$"))
    expect(page.locator("#backups-empty")).to_be_visible()

    page.locator("#backup-name").fill(HOSTILE)
    page.get_by_label("Leave out").fill("logs/, *.tmp")
    page.get_by_role("button", name="Create backup").click()
    row = page.locator("#backups-rows tr").filter(has_text=HOSTILE)
    expect(row).to_have_count(1)
    expect(row.locator(".badge").first).to_have_text("Completed", timeout=SLOW)
    assert page.locator("#backups-rows img").count() == 0 and page.evaluate("window.__xss") is None

    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    saved = tmp_path / "backup"
    download.value.save_as(saved)
    assert saved.stat().st_size > 0

    row.get_by_role("button", name="Lock").click()
    expect(row.locator(".backup-locked")).to_be_visible()
    expect(row.get_by_role("button", name="Delete…")).to_be_disabled()

    assert api(page, "PUT", content, {"content": "motd=changed since\n"})["ok"]
    row.get_by_role("button", name="Restore…").click()
    dialog = page.locator("#backups-dialog")
    expect(dialog).to_contain_text(f"every file of {server.name}")
    expect(dialog).to_contain_text(HOSTILE)
    expect(dialog).to_contain_text("are lost")
    dialog.get_by_role("button", name="Replace the files").click()
    expect(page.locator("#backups-notice")).to_contain_text("restored", timeout=SLOW)
    assert api(page, "GET", content)["body"]["data"]["content"] == ORIGINAL

    row.get_by_role("button", name="Unlock").click()
    expect(row.locator(".backup-locked")).to_have_count(0)
    row.get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#backups-empty")).to_be_visible()
    assert not errors, errors
    assert page.evaluate("window.__csp") == []
