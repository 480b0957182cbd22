"""admin.write does not reach users who hold more: no password, email, roles, active flag, sessions,
two-factor or deletion for anyone holding a permission the staff member does not hold."""

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import LoginSession, TwoFactorDevice, User
from config.crypto import encrypt
from tests.conftest import PASSWORD, tokens_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(make_user):
    """Staff who may change users, but is not an Administrator."""
    return make_user(role=None, permissions=["admin.read", "admin.write"])


@pytest.fixture
def writer_api(client_for, writer):
    return client_for(writer)


@pytest.fixture
def writer_browser(writer):
    client = Client()
    response = client.post("/login", {"email": writer.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.mark.parametrize(
    "change",
    [
        {"password": "taken-over-now"},
        {"email": "attacker@example.com"},
        {"username": "pwned"},
        {"roleIds": []},
        {"isActive": False},
    ],
)
def test_admin_write_cannot_change_an_administrator(writer_api, admin, change):
    before = User.objects.get(pk=admin.pk)
    response = writer_api.patch(f"/api/admin/users/{admin.pk}", change, format="json")
    assert response.status_code == 403, response.json()
    assert "holds permissions you do not hold" in response.json()["message"]
    after = User.objects.get(pk=admin.pk)
    assert (after.password, after.email, after.username, after.is_active) == (
        before.password,
        before.email,
        before.username,
        before.is_active,
    )
    assert after.roles.filter(name="Administrator").exists()


def test_nor_a_deactivated_one(writer_api, admin):
    User.objects.filter(pk=admin.pk).update(is_active=False)
    response = writer_api.patch(
        f"/api/admin/users/{admin.pk}", {"password": "taken-over-now", "isActive": True}, format="json"
    )
    assert response.status_code == 403
    assert not User.objects.get(pk=admin.pk).is_active


def test_nor_delete_one(writer_api, admin):
    assert writer_api.delete(f"/api/admin/users/{admin.pk}").status_code == 403
    assert User.objects.filter(pk=admin.pk).exists()


def test_a_peer_with_one_permission_more_is_out_of_reach_too(writer_api, make_user):
    peer = make_user(role=None, permissions=["admin.read", "admin.write", "server.suspend"])
    response = writer_api.patch(f"/api/admin/users/{peer.pk}", {"password": "x" * 12}, format="json")
    assert response.status_code == 403
    assert "server.suspend" in response.json()["message"]


def test_users_holding_less_can_still_be_managed(writer_api, make_user):
    lesser = make_user(role=None, permissions=["admin.read"])
    response = writer_api.patch(f"/api/admin/users/{lesser.pk}", {"password": "a-new-one-1"}, format="json")
    assert response.status_code == 200


def test_an_administrator_still_manages_everyone(client_for, admin, writer):
    response = client_for(admin).patch(f"/api/admin/users/{writer.pk}", {"isActive": False}, format="json")
    assert response.status_code == 200


class TestDjangoAdmin:
    def test_the_change_and_password_pages_are_refused(self, writer_browser, admin):
        page = writer_browser.get(f"/admin/accounts/user/{admin.pk}/change/")
        assert page.status_code == 200 and b'name="email"' not in page.content  # read-only view
        post = writer_browser.post(
            f"/admin/accounts/user/{admin.pk}/change/", {"email": "x@example.com", "username": "x"}
        )
        assert post.status_code == 403
        password = writer_browser.post(
            f"/admin/accounts/user/{admin.pk}/password/",
            {"password1": "taken-over-now", "password2": "taken-over-now"},
        )
        assert password.status_code == 403
        assert User.objects.get(pk=admin.pk).check_password(PASSWORD)
        assert (
            writer_browser.post(f"/admin/accounts/user/{admin.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )

    @pytest.mark.parametrize("action", ["deactivate", "end_sessions"])
    def test_actions_skip_users_who_hold_more(self, writer_browser, admin, action):
        tokens_for(admin)
        writer_browser.post("/admin/accounts/user/", {"action": action, "_selected_action": [str(admin.pk)]})
        assert User.objects.get(pk=admin.pk).is_active
        assert LoginSession.objects.filter(user=admin, revoked_at__isnull=True).exists()

    def test_their_login_sessions_cannot_be_ended(self, writer_browser, admin):
        session = LoginSession.objects.create(user=admin)
        writer_browser.post(
            "/admin/accounts/loginsession/", {"action": "revoke", "_selected_action": [str(session.pk)]}
        )
        assert LoginSession.objects.get(pk=session.pk).revoked_at is None

    def test_their_two_factor_cannot_be_reset(self, writer_browser, admin):
        device = TwoFactorDevice.objects.create(
            user=admin, secret=encrypt("A" * 32), confirmed_at=timezone.now()
        )
        assert (
            writer_browser.post(
                f"/admin/accounts/twofactordevice/{device.pk}/delete/", {"post": "yes"}
            ).status_code
            == 403
        )
        writer_browser.post(
            "/admin/accounts/twofactordevice/",
            {"action": "delete_selected", "_selected_action": [str(device.pk)], "post": "yes"},
        )
        assert TwoFactorDevice.objects.filter(pk=device.pk).exists()

    def change_self(self, client, writer, **fields):
        return client.post(
            f"/admin/accounts/user/{writer.pk}/change/",
            {
                "email": writer.email,
                "username": writer.username,
                "is_active": "on",
                "roles": [str(r.pk) for r in writer.roles.all()],
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
                "api_keys-TOTAL_FORMS": "0",
                "api_keys-INITIAL_FORMS": "0",
                **fields,
            },
        )

    def test_nobody_makes_themselves_superuser(self, writer_browser, writer):
        response = self.change_self(writer_browser, writer, is_superuser="on", is_staff="on")
        assert response.status_code == 302  # saved, without the flags
        writer.refresh_from_db()
        assert not writer.is_superuser and not writer.is_staff

    def test_nobody_gives_themselves_the_administrator_role(self, writer_browser, writer, roles):
        mine = [str(r.pk) for r in writer.roles.all()]
        response = self.change_self(writer_browser, writer, roles=[*mine, str(roles["Administrator"].pk)])
        assert response.status_code == 200
        assert b"You cannot grant permissions you do not hold" in response.content
        assert not writer.roles.filter(name="Administrator").exists()

    def test_nobody_widens_a_role_in_the_admin(self, writer_browser, writer):
        role = writer.roles.get()
        response = writer_browser.post(
            f"/admin/accounts/role/{role.pk}/change/",
            {"name": role.name, "description": "", "permissions": ["*"]},
        )
        assert response.status_code == 200  # the form again, with the reason
        assert b"You cannot grant permissions you do not hold" in response.content
        role.refresh_from_db()
        assert role.permissions == ["admin.read", "admin.write"]

    def test_the_administrator_role_is_read_only_to_them(self, writer_browser, roles):
        admin_role = roles["Administrator"]
        response = writer_browser.post(
            f"/admin/accounts/role/{admin_role.pk}/change/", {"name": "Renamed", "permissions": ["*"]}
        )
        assert response.status_code == 403
