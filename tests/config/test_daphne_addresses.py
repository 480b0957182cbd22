"""The web process as the Procfile starts it: a forged X-Forwarded-For reaches no control.

With daphne's --proxy-headers (as before) the header became the connection's address: a login
with `X-Forwarded-For: not-an-ip` answered 500 and the audit log took any string.
"""

import json
import os
import shlex
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import AuditLog, User
from tests.conftest import PASSWORD
from tests.fixtures.browser import free_port
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]


def procfile_web_command(port: int) -> list[str]:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    command = (
        line.removeprefix("web:").replace("$HEARTH_HOST", "127.0.0.1").replace("$HEARTH_PORT", str(port))
    )
    return shlex.split(command)


@pytest.fixture
def web(transactional_db, tmp_path):
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    port = free_port()
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        procfile_web_command(port),
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return True
        except OSError:
            return False

    wait_for(up, 60, "daphne to answer")
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait(10)
    log.close()


def post(base: str, path: str, body: dict, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - our own http:// address
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


FORGED = [
    {"X-Forwarded-For": "not-an-ip"},
    {"X-Forwarded-For": "203.0.113.7"},
    {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"},
    {"X-Real-IP": "203.0.113.7"},
    {"Forwarded": "for=203.0.113.7"},
    {"X-Forwarded-For": "[2001:db8::7]:443"},
]


def test_forwarding_headers_from_a_client_are_ignored(web):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    # Hashed the way the web process checks it (the suite's own hasher is a fast one).
    User.objects.create(
        email="p@example.com", username="p", password=PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt")
    )
    for headers in FORGED:
        status, body = post(web, "/api/auth/login", {"email": "p@example.com", "password": PASSWORD}, headers)
        assert status == 200, (headers, body)
    recorded = AuditLog.objects.filter(action="auth.login").values_list("ip_address", flat=True)
    assert list(recorded) == ["127.0.0.1"] * len(FORGED)
