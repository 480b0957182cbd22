"""The Files tab in a real browser (Debian's chromium, driven by Playwright) against the real panel, whose
file operations run in the server's helper container on the local test engine: browse, edit with
highlighting, upload (input and drag and drop), download, rename, delete, archives, the read-only view
of a member without file.write, and hostile file names, at desktop and phone width."""

import re

import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from servers.files import service
from servers.models import ServerMember
from tests.fixtures import PASSWORD
from tests.fixtures.browser import ROOT, sign_in
from tests.webui.test_csp_browser import RECORD_VIOLATIONS

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
HOSTILE = "<img src=x onerror=window.__xss=1>.txt"
HOSTILE_DIR = '"><svg onload=window.__xss=2>'  # a folder: its name goes into breadcrumbs and the address
SCREENSHOTS = ROOT / "bench/out"
PROPERTIES = "# Minecraft server properties\nmotd=A Hearth server\nmax-players=20\n"


def with_password(user, settings):
    """A password the panel processes can check (the suite hashes with MD5 for speed)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def customer(customer, settings):
    return with_password(customer, settings)


@pytest.fixture
def upload_cap(monkeypatch):
    """The panel's processes (started after this) cap uploads at 1 MB: the page refuses bigger files."""
    monkeypatch.setenv("HEARTH_FILES_UPLOAD_MAX_BYTES", str(1_000_000))


@pytest.fixture
def server(files_server, customer):
    """A server with a config, a plugins folder and a file whose name is markup, on the local engine."""
    server = files_server()
    for path, content in [
        ("/server.properties", PROPERTIES),
        ("/plugins/Essentials/config.yml", "spawn:\n  x: 1\n"),
        (f"/{HOSTILE}", "not markup\n"),
        (f"/{HOSTILE_DIR}/inside.txt", "in a hostile folder\n"),
    ]:
        service.file_create(server=server, actor=customer, path=path, content=content)
    service.file_create(server=server, actor=customer, path="/world", is_directory=True)
    return server


@pytest.fixture
def reader(make_user, server, settings):
    """A member who may read the files and nothing more."""
    user = with_password(make_user(email="reader@example.com", username="reader"), settings)
    ServerMember.objects.create(server=server, user=user, permissions=["server.read", "file.read"])
    return user


def open_files(context, panel, user, server):
    context.add_init_script(RECORD_VIOLATIONS)  # CodeMirror too must run under the page's CSP
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: m.type == "error" and "Content Security Policy" in m.text and errors.append(m.text),
    )
    sign_in(page, panel, user, path=f"/servers/{server.pk}")
    expect(page).to_have_url(f"{panel.url}/servers/{server.pk}")
    page.get_by_role("tab", name="Files").click()
    expect(page).to_have_url(re.compile(r"#files=/$"))
    expect(rows(page).first).to_be_visible()
    return page, errors


def rows(page):
    return page.locator("#files-rows tr")


def row(page, name):
    return page.locator("#files-rows tr").filter(
        has=page.locator(".file-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def names(page) -> list[str]:
    return page.locator("#files-rows .file-name").all_text_contents()


def fits(page, width: int) -> None:
    """Nothing sticks out sideways (the page does not scroll horizontally); names what does."""
    wider = page.evaluate(
        """(width) => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > width + 1 && e.getClientRects().length)
            .map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""",
        width,
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wider[:10]


def drop_files(page, files: dict[str, str]) -> None:
    """Drag files from the desktop onto the listing: the events a real drop sends, with a DataTransfer."""
    page.evaluate(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, text] of Object.entries(files)) transfer.items.add(new File([text], name));
            const card = document.getElementById("files-card");
            for (const type of ["dragenter", "dragover", "drop"]) {
                card.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        files,
    )


def test_the_owner_browses_edits_uploads_downloads_renames_and_deletes(
    upload_cap, panel, customer, server, browser, tmp_path
):
    context = browser.new_context(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page, errors = open_files(context, panel, customer, server)

    # Folders first, then files; the name that is markup is text.
    expect(page.locator("#files-rows .file-name")).to_have_text(
        [HOSTILE_DIR, "plugins", "world", HOSTILE, "server.properties"]
    )
    assert page.locator("#files-rows img").count() == 0
    assert page.evaluate("window.__xss") is None
    username = f"{customer.username}.{str(server.pk)[:8]}"
    expect(page.locator("#sftp-username")).to_have_text(username)
    page.get_by_role("button", name="Copy").last.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == username

    # Breadcrumbs down and back up.
    page.get_by_role("link", name="plugins", exact=True).click()
    page.get_by_role("link", name="Essentials", exact=True).click()
    expect(page.locator("#files-crumbs")).to_have_text(re.compile(r"Files\s*/\s*plugins\s*/\s*Essentials"))
    expect(page.locator("#files-rows .file-name")).to_have_text(["config.yml"])
    page.locator("#files-crumbs").get_by_role("link", name="plugins").click()
    expect(page.locator("#files-rows .file-name")).to_have_text(["Essentials"])
    page.locator("#files-crumbs").get_by_role("link", name="Files").click()
    expect(page.locator("#files-rows .file-name")).to_have_count(5)

    # The editor: highlighted as properties, saved, and read back.
    page.get_by_role("link", name="server.properties", exact=True).click()
    editor = page.locator("#files-editor .CodeMirror")
    expect(editor).to_be_visible()
    expect(editor.locator(".cm-comment")).to_have_text("# Minecraft server properties")
    expect(editor.locator(".cm-def").first).to_have_text("motd")
    expect(page.locator("#editor-save")).to_be_disabled()
    editor.locator(".CodeMirror-line").last.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("pvp=false")
    expect(page.locator("#editor-state")).to_have_text("Unsaved changes")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#editor-state")).to_have_text("Saved")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ui-files-editor.png"))
    page.get_by_role("button", name="Close").click()
    page.get_by_role("link", name="server.properties", exact=True).click()
    expect(editor).to_contain_text("pvp=false")
    page.get_by_role("button", name="Close").click()

    # Download.
    with page.expect_download() as download:
        row(page, "server.properties").get_by_role("link", name="Download server.properties").click()
    saved = tmp_path / "server.properties"
    download.value.save_as(saved)
    assert saved.read_text() == PROPERTIES + "pvp=false"

    # Upload two files through the picker (each with its bar), then two by drag and drop.
    page.locator("#files-upload-input").set_input_files(
        [
            {"name": "one.txt", "mimeType": "text/plain", "buffer": b"1" * 300_000},
            {"name": "two.json", "mimeType": "application/json", "buffer": b'{"a": 1}'},
        ]
    )
    tasks = page.locator("#files-tasks .files-task")
    expect(tasks).to_have_count(2)
    expect(tasks.locator("progress").first).to_have_attribute("max", "100")
    expect(tasks.locator(".task-state")).to_have_text(["Uploaded", "Uploaded"])
    expect(row(page, "one.txt").locator(".col-size")).to_have_text("293.0 KB")
    page.locator("#files-upload-input").set_input_files(
        [{"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": b"0" * 1_000_001}]
    )
    expect(tasks.last).to_contain_text("Over the upload limit of 976.6 KB")
    expect(row(page, "huge.bin")).to_have_count(0)
    drop_files(page, {"dropped-a.yml": "a: 1\n", "dropped-b.toml": "b = 2\n"})
    expect(row(page, "dropped-a.yml")).to_be_visible()
    expect(row(page, "dropped-b.toml")).to_be_visible()

    # Rename.
    row(page, "two.json").get_by_role("button", name="Rename two.json").click()
    dialog = page.locator("#files-dialog")
    dialog.get_by_label("New name").fill("renamed.json")
    dialog.get_by_role("button", name="Rename").click()
    expect(row(page, "renamed.json")).to_be_visible()
    expect(row(page, "two.json")).to_have_count(0)

    # Delete asks first: cancelled, nothing happens; confirmed, it is gone.
    row(page, "renamed.json").get_by_role("button", name="Delete renamed.json").click()
    expect(dialog).to_contain_text("Delete “renamed.json”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "renamed.json")).to_be_visible()
    row(page, "renamed.json").get_by_role("button", name="Delete renamed.json").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(row(page, "renamed.json")).to_have_count(0)

    # A refusal shows the API's own message: renaming onto a file that exists.
    row(page, "one.txt").get_by_role("button", name="Rename one.txt").click()
    dialog.get_by_label("New name").fill("server.properties")
    dialog.get_by_role("button", name="Rename").click()
    expect(page.locator("#files-notice")).to_contain_text("already exists at /server.properties")
    expect(row(page, "one.txt")).to_be_visible()

    # Archive two entries (the format picks the extension), then extract the archive elsewhere.
    page.get_by_label("Select plugins").check()
    page.get_by_label("Select server.properties").check()
    expect(page.locator("#files-selected-count")).to_have_text("2 items selected")
    page.get_by_role("button", name="Archive…").click()
    dialog.get_by_label("Format").select_option("zip")
    expect(dialog.get_by_label("Archive name")).to_have_value(re.compile(r"^archive-\d{8}-\d{4}\.zip$"))
    dialog.get_by_label("Format").select_option("tar.gz")
    dialog.get_by_label("Archive name").fill("backup.tar.gz")
    dialog.get_by_role("button", name="Archive").click()
    expect(page.locator("#files-tasks .files-task").last).to_contain_text("Finished")
    expect(row(page, "backup.tar.gz")).to_be_visible()
    row(page, "backup.tar.gz").get_by_role("button", name="Extract backup.tar.gz").click()
    dialog.get_by_label("Into folder").fill("/restored")
    dialog.get_by_role("button", name="Extract").click()
    expect(page.locator("#files-tasks .files-task").last).to_contain_text("Finished")
    page.get_by_role("link", name="restored", exact=True).click()
    expect(page.locator("#files-rows .file-name")).to_have_text(["plugins", "server.properties"])
    page.locator("#files-crumbs").get_by_role("link", name="Files").click()

    # The same listing at phone width fits the screen, and the editor opens there too.
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(f"{panel.url}/servers/{server.pk}#files=/")
    expect(phone.locator("#files-rows .file-name").first).to_have_text(HOSTILE_DIR)
    fits(phone, PHONE["width"])
    expect(row(phone, "server.properties").locator(".file-meta")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "ui-files.png"), full_page=True)
    phone.screenshot(path=str(SCREENSHOTS / "ui-files-phone.png"), full_page=True)
    expect(
        row(phone, "server.properties").get_by_role("button", name="Delete server.properties")
    ).to_be_visible()
    phone.get_by_role("link", name="server.properties", exact=True).click()
    expect(phone.locator("#files-editor .CodeMirror")).to_contain_text("pvp=false")
    phone.screenshot(path=str(SCREENSHOTS / "ui-files-editor-phone.png"))
    fits(phone, PHONE["width"])
    assert page.evaluate("window.__csp") == [] and phone.evaluate("window.__csp") == []
    assert errors == [], errors


def test_a_member_without_file_write_sees_the_files_read_only(panel, reader, server, browser):
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport)
        page, errors = open_files(context, panel, reader, server)
        expect(page.locator("#files-read-only")).to_be_visible()
        for control in ("#files-upload-input", "#files-new-file", "#files-new-folder", "#files-select-all"):
            assert page.locator(control).count() == 0, control
        assert page.locator("#files-rows button").count() == 0  # no rename, delete or extract
        download = row(page, "server.properties").get_by_role("link", name="Download server.properties")
        expect(download).to_be_visible()
        expect(row(page, HOSTILE)).to_have_count(1)
        assert page.locator("#files-rows img").count() == 0

        # A folder whose name is markup: text in the listing, the breadcrumbs and the address.
        page.get_by_role("link", name=HOSTILE_DIR, exact=True).click()
        expect(page.locator("#files-rows .file-name")).to_have_text(["inside.txt"])
        expect(page.locator("#files-crumbs .crumb-here")).to_have_text(HOSTILE_DIR)
        assert page.locator("#panel-files svg, #panel-files img").count() == 0
        assert page.evaluate("window.__xss") is None
        page.reload()  # the folder is in the address, decoded back to the same name
        expect(page.locator("#files-crumbs .crumb-here")).to_have_text(HOSTILE_DIR)
        page.locator("#files-crumbs").get_by_role("link", name="Files").click()

        page.get_by_role("link", name="server.properties", exact=True).click()
        editor = page.locator("#files-editor .CodeMirror")
        expect(editor.locator(".cm-def").first).to_have_text("motd")
        expect(page.locator("#editor-state")).to_have_text("Read-only")
        assert page.locator("#editor-save").count() == 0
        editor.locator(".CodeMirror-line").last.click()
        page.keyboard.type("changed=1")
        expect(editor).not_to_contain_text("changed=1")
        fits(page, viewport["width"])
        assert page.evaluate("window.__csp") == []
        assert errors == [], errors
        context.close()
