"""Self-registration is on by default; HEARTH_REGISTRATION_ENABLED=0 closes it without creating anyone."""

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db
BODY = {"email": "new@example.com", "password": "correct-horse-battery", "username": "newbie"}


def test_registration_is_open_by_default(api, roles):
    response = api.post("/api/auth/register", BODY, format="json")
    assert response.status_code == 200
    user = User.objects.get(email="new@example.com")
    assert [r.name for r in user.roles.all()] == ["Customer"]
    assert "server.resources" not in response.json()["data"].get("permissions", [])


def test_a_closed_registration_is_a_403_and_creates_nobody(api, roles, settings):
    settings.REGISTRATION_ENABLED = False
    response = api.post("/api/auth/register", BODY, format="json")
    assert response.status_code == 403
    assert response.json()["message"] == "Registration is closed. Ask an administrator for an account."
    assert not User.objects.filter(email="new@example.com").exists()


def test_no_default_role_but_administrator_may_set_resources(roles, make_user):
    from accounts.permissions import can

    assert can(make_user(role="Administrator"), "server.resources")
    for name in set(roles) - {"Administrator"}:
        assert not can(make_user(role=name), "server.resources"), name
