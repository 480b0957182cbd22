"""HTML pages carry a strict Content-Security-Policy; HSTS is sent when HEARTH_HTTPS is on."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";")}


@pytest.mark.parametrize("path", ["/login", "/admin/login/", "/api/docs/", "/no/such/page"])
def test_html_pages_carry_a_strict_policy(client, path):
    response = client.get(path, follow=True)
    assert "text/html" in response["Content-Type"]
    policy = directives(response)
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["base-uri"] == "base-uri 'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_the_console_socket_of_the_same_host_is_allowed(client):
    policy = directives(client.get("/login", HTTP_HOST="localhost:8000"))
    assert policy["connect-src"] == "connect-src 'self' ws://localhost:8000 wss://localhost:8000"


def test_json_answers_need_no_policy(client):
    assert "Content-Security-Policy" not in client.get("/api/health")


def test_no_template_of_ours_has_inline_script_or_style():
    import re

    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path  # onclick= and friends


def test_the_api_docs_load_their_setup_script_from_a_url(client):
    page = client.get("/api/docs/").content.decode()
    assert "<style>" not in page
    assert 'src="/api/docs/?script="' in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


def hsts_header(env: dict) -> str:
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/login', secure=True);"
        "print(r.headers.get('Strict-Transport-Security', 'none'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def test_hsts_is_sent_with_hearth_https():
    assert hsts_header({"HEARTH_HTTPS": "true"}) == "max-age=31536000"
    assert hsts_header({"HEARTH_HTTPS": "true", "HEARTH_HSTS_SECONDS": "600"}) == "max-age=600"
    assert hsts_header({"HEARTH_HTTPS": "false"}) == "none"


def run_check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_https_without_a_trusted_proxy_is_warned_about():
    result = run_check({"HEARTH_HTTPS": "true", "HEARTH_TRUSTED_PROXIES": ""})
    assert "hearth.W001" in result.stderr + result.stdout
    result = run_check({"HEARTH_HTTPS": "true", "HEARTH_TRUSTED_PROXIES": "127.0.0.1/32"})
    assert "hearth.W001" not in result.stderr + result.stdout
