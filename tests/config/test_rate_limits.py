"""Rate limits are counted in Redis (shared by every process) and announced on every API response."""

import os
import subprocess
import sys
import time

import pytest

from accounts.models import Role

pytestmark = pytest.mark.django_db

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture
def low_limits(settings):
    settings.RATE_LIMITS = {"default": 5, "auth": 3, "health": 4}


def assert_headers(response, limit: int, remaining: int):
    assert all(name in response for name in HEADERS), dict(response.items())
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == str(remaining)
    assert int(response["X-RateLimit-Reset"]) > 0


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/auth/me", "/api/no/such/path", "/api/admin/users", "/api/schema/"]
)
def test_every_api_response_carries_the_headers(api, path):
    response = api.get(path)
    assert all(name in response for name in HEADERS), (path, response.status_code)


def test_auth_endpoints_allow_a_few_attempts_per_client(api, low_limits):
    for remaining in (2, 1, 0):
        response = api.post("/api/auth/login", {"email": "a@example.com", "password": "x" * 8}, format="json")
        assert response.status_code == 401
        assert_headers(response, 3, remaining)
    blocked = api.post("/api/auth/login", {"email": "a@example.com", "password": "x" * 8}, format="json")
    assert blocked.status_code == 429
    assert_headers(blocked, 3, 0)
    assert api.post("/api/auth/register", {}, format="json").status_code == 429


def test_other_clients_are_not_blocked_by_one(api, low_limits):
    for _ in range(4):
        api.post("/api/auth/login", {}, format="json", REMOTE_ADDR="10.0.0.1")
    response = api.post("/api/auth/login", {}, format="json", REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 400


def test_the_default_limit_counts_per_user(client_for, make_user, low_limits):
    first, second = client_for(make_user()), client_for(make_user())
    for remaining in range(4, -1, -1):
        assert_headers(first.get("/api/auth/me"), 5, remaining)
    assert first.get("/api/auth/me").status_code == 429
    assert second.get("/api/auth/me").status_code == 200


def test_health_has_its_own_higher_limit(api, low_limits):
    assert_headers(api.get("/api/health"), 4, 3)


def test_the_bypass_permission_skips_limits(client_for, make_user, low_limits):
    client = client_for(make_user(permissions=["rate-limit.bypass"]))
    for _ in range(8):
        response = client.get("/api/auth/me")
        assert response.status_code == 200


def test_bypass_can_be_granted_by_wildcard(client_for, make_user, low_limits):
    user = make_user()
    user.roles.add(Role.objects.create(name="limitless", permissions=["rate-limit.*"]))
    client = client_for(user)
    assert all(client.get("/api/auth/me").status_code == 200 for _ in range(8))


def test_the_count_is_shared_with_other_processes(client_for, customer, low_limits, settings):
    """Another process charging the same user's window uses up this process's allowance."""
    # Both processes count in one hour-long window, and the test never starts in its last minute:
    # a window that turns between the other process's charges and this request would reset the count.
    settings.RATE_LIMIT_WINDOW_SECONDS = window = 3600
    if window - time.time() % window < 60:
        time.sleep(window - time.time() % window)
    client = client_for(customer)
    script = (
        "import django; django.setup();"
        "from config.api.throttling import charge;"
        f"[charge('default', 'user:{customer.pk}', window={window}) for _ in range(3)]"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    # The other process counted against its own configured limit (200), in the same Redis key.
    assert_headers(client.get("/api/auth/me"), 5, 1)
