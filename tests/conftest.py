"""Fixtures shared by the whole suite. Services are real: see scripts/testenv.sh."""

import os

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import LoginSession, Role, User
from accounts.services import roles_ensure_defaults
from accounts.tokens import issue_tokens

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Tests serve /api/docs/ without running collectstatic first.
    # Hashing passwords at full strength would dominate the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with empty rate-limit windows (the Redis is the test environment's own)."""
    cache.clear()
    yield


@pytest.fixture
def roles(db):
    return {role.name: role for role in roles_ensure_defaults()}


@pytest.fixture
def make_user(db, roles):
    counter = iter(range(1, 10_000))

    def make(*, role: str | None = "Customer", permissions: list[str] | None = None, **fields) -> User:
        n = next(counter)
        fields.setdefault("email", f"user{n}@example.com")
        fields.setdefault("username", f"user{n}")
        user = User.objects.create_user(password=PASSWORD, **fields)
        if role:
            user.roles.add(roles[role])
        if permissions is not None:
            custom = Role.objects.create(name=f"custom-{n}", permissions=permissions)
            user.roles.add(custom)
        return user

    return make


@pytest.fixture
def customer(make_user):
    return make_user(email="customer@example.com", username="customer")


@pytest.fixture
def stranger(make_user):
    return make_user(email="stranger@example.com", username="stranger")


@pytest.fixture
def admin(make_user):
    return make_user(email="admin@example.com", username="admin", role="Administrator")


def tokens_for(user: User) -> dict:
    return issue_tokens(user, LoginSession.objects.create(user=user))


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_for():
    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['token']}")
        return client

    return make


@pytest.fixture
def signed_in():
    """A test client (Django's, or DRF's with `api=True`) signed in through the login page, as a person is."""

    def make(user: User, *, api: bool = False) -> Client:
        client = APIClient() if api else Client()
        response = client.post("/login", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content
        return client

    return make


def require_env(name: str) -> str:
    """A test that needs a service fails, loudly, when the test environment does not provide it."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `make test` (scripts/testenv.sh provides it).")
    return value


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup, django_db_blocker):
    """Threads (the monitor, Channels' executors) keep their own connections; end them before the test
    database is dropped, so teardown never finds it "being accessed by other users"."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
