"""The web UI, the admin and the API docs work in a real browser under the Content-Security-Policy."""

import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from tests.fixtures import PASSWORD
from tests.fixtures.browser import sign_in

# Recorded before any script of the page runs, so nothing the page does escapes it.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture
def staff(admin, settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    admin.set_password(PASSWORD)
    admin.save(update_fields=["password"])
    return admin


def test_pages_run_without_a_single_violation(panel, staff, browser):
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console_errors = []
    page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    sign_in(page, panel, staff)
    expect(page).to_have_url(panel.url + "/")
    visited = {}
    for path, ready in [
        ("/", "main"),
        ("/admin/", "#content"),
        ("/admin/accounts/user/", "#result_list"),
        (f"/admin/accounts/user/{staff.pk}/change/", "#user_form"),
        ("/admin/accounts/role/add/", "#role_form"),
        ("/api/docs/", ".swagger-ui .information-container"),
    ]:
        response = page.goto(panel.url + path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        expect(page.locator(ready).first).to_be_visible(timeout=30_000)
        visited[path] = page.evaluate("window.__csp")
    assert all(not v for v in visited.values()), visited
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
