"""The web process as the Procfile starts it (uvicorn): a forged X-Forwarded-For reaches no control.

With daphne's --proxy-headers (as before) the header became the connection's address: a login
with `X-Forwarded-For: not-an-ip` answered 500 and the audit log took any string. uvicorn believes
X-Forwarded-For from 127.0.0.1 unless told --no-proxy-headers; config/addresses.py alone decides which
proxies to trust.
"""

import json
import urllib.error
import urllib.request

from accounts.models import AuditLog, User
from tests.conftest import PASSWORD


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


def test_forwarding_headers_from_a_client_are_ignored(web_process):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    # Hashed the way the web process checks it (the suite's own hasher is a fast one).
    User.objects.create(
        email="p@example.com", username="p", password=PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt")
    )
    for headers in FORGED:
        status, body = post(
            web_process.url, "/api/auth/login", {"email": "p@example.com", "password": PASSWORD}, headers
        )
        assert status == 200, (headers, body)
    recorded = AuditLog.objects.filter(action="auth.login").values_list("ip_address", flat=True)
    assert list(recorded) == ["127.0.0.1"] * len(FORGED)
