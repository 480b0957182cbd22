"""A refresh token works once; presenting a spent one again means a copy exists, so its login ends."""

import pytest

from accounts.models import AuditLog, LoginSession
from tests.conftest import tokens_for

pytestmark = pytest.mark.django_db


def refresh(api, token):
    return api.post("/api/auth/refresh", {"refreshToken": token}, format="json")


def test_reusing_a_rotated_refresh_token_ends_the_login_session(api, customer):
    first = tokens_for(customer)
    second = refresh(api, first["refresh_token"]).json()["data"]
    reused = refresh(api, first["refresh_token"])  # the thief (or the owner) comes second
    assert reused.status_code == 401
    assert "this login has ended" in reused.json()["message"]
    session = LoginSession.objects.get(user=customer)
    assert session.revoked_at is not None
    # Both holders are out: the newest refresh token and the access tokens no longer work.
    assert refresh(api, second["refreshToken"]).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second['token']}")
    assert api.get("/api/auth/me").status_code == 401
    assert AuditLog.objects.filter(action="auth.refresh_reuse", user=customer).count() == 1


def test_other_logins_of_the_user_are_untouched(api, customer):
    stolen, other = tokens_for(customer), tokens_for(customer)
    refresh(api, stolen["refresh_token"])
    refresh(api, stolen["refresh_token"])
    assert refresh(api, other["refresh_token"]).status_code == 200


def test_a_token_spent_by_logout_ends_nothing_more(api, customer):
    tokens = tokens_for(customer)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
    api.post("/api/auth/logout", {"refreshToken": tokens["refresh_token"]}, format="json")
    api.credentials()
    assert refresh(api, tokens["refresh_token"]).status_code == 401
    assert not AuditLog.objects.filter(action="auth.refresh_reuse").exists()


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_forged_tokens_end_nothing(api, customer, token):
    tokens_for(customer)
    assert refresh(api, token).status_code in (400, 401)
    assert not LoginSession.objects.filter(revoked_at__isnull=False).exists()


def test_an_access_token_presented_as_a_refresh_token_ends_nothing(api, customer):
    tokens = tokens_for(customer)
    assert refresh(api, tokens["token"]).status_code == 401
    assert not LoginSession.objects.filter(revoked_at__isnull=False).exists()
