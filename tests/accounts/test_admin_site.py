"""The Django admin answers to the same permission rule as the API."""

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from accounts import twofactor
from accounts.apikeys import apikey_create
from accounts.models import ApiKey, AuditLog, LoginSession, Role
from tests.conftest import PASSWORD, tokens_for

pytestmark = pytest.mark.django_db


def test_customers_cannot_use_the_admin(signed_in, customer):
    client = signed_in(customer)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"needs the admin.read permission" in response.content


def test_support_staff_may_look_but_not_change(make_user, roles):
    support = make_user(role="Support")
    client = Client()
    response = client.post("/login", {"email": support.email, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert client.get("/admin/accounts/role/").status_code == 200
    assert client.get(f"/admin/accounts/role/{roles['Customer'].pk}/change/").status_code == 200
    assert client.get("/admin/accounts/role/add/").status_code == 403


def test_roles_are_edited_with_a_permission_picker(signed_in, admin):
    client = signed_in(admin)
    page = client.get("/admin/accounts/role/add/").content.decode()
    assert 'type="checkbox"' in page and 'value="server.start"' in page and 'value="file.*"' in page
    response = client.post(
        "/admin/accounts/role/add/",
        {"name": "Helpdesk", "description": "", "permissions": ["server.console", "server.read"]},
    )
    assert response.status_code == 302, response.content
    assert Role.objects.get(name="Helpdesk").permissions == ["server.console", "server.read"]
    assert AuditLog.objects.filter(action="role.create", metadata__via="admin").exists()


def test_the_revoke_action_revokes_keys(signed_in, admin, customer):
    key, _ = apikey_create(user=customer, name="ci")
    response = signed_in(admin).post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_the_deactivate_action_logs_users_out(signed_in, admin, customer):
    tokens_for(customer)
    signed_in(admin).post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [str(customer.pk)]}
    )
    customer.refresh_from_db()
    assert not customer.is_active
    assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()
    assert AuditLog.objects.filter(action="user.update", resource_id=str(customer.pk)).exists()


def test_the_audit_log_is_read_only(signed_in, admin):
    client = signed_in(admin)
    assert client.get("/admin/accounts/auditlog/").status_code == 200
    assert client.get("/admin/accounts/auditlog/add/").status_code == 403


class TestAdminLogin:
    """The admin has no password form of its own: it signs in through the panel's login (limits, 2FA)."""

    def test_an_anonymous_visitor_is_sent_to_the_panel_login(self, client):
        response = client.get("/admin/nodes/node/", follow=True)
        assert response.redirect_chain[-1][0] == "/login?next=/admin/nodes/node/"

    def test_staff_with_two_factor_need_the_code_for_the_admin_too(self, client, admin):
        secret = twofactor.twofactor_setup(user=admin)["secret"]
        twofactor.twofactor_enable(user=admin, code=pyotp.TOTP(secret).now())
        response = client.post("/login", {"email": admin.email, "password": PASSWORD, "next": "/admin/"})
        assert response.status_code == 200 and "_auth_user_id" not in client.session  # asks for the code
        assert client.get("/admin/").status_code == 302
        assert (
            client.post("/admin/login/", {"username": admin.email, "password": PASSWORD}).status_code == 302
        )
        assert "_auth_user_id" not in client.session  # the old password-only form is gone

    def test_a_session_not_made_by_the_panel_login_is_refused(self, client, admin):
        client.force_login(admin)  # no login session behind it
        response = client.get("/admin/")
        assert response.status_code == 302 and response.url.startswith("/admin/login/")

    def test_a_login_revoked_by_staff_ends_the_admin_session(self, signed_in, admin):
        client = signed_in(admin)
        assert client.get("/admin/").status_code == 200
        LoginSession.objects.filter(user=admin).update(revoked_at=timezone.now())
        assert client.get("/admin/").status_code == 302
        assert "_auth_user_id" not in client.session

    def test_logout_is_a_post_that_ends_the_login(self, signed_in, admin):
        client = signed_in(admin)
        assert client.get("/admin/logout/").status_code == 405
        response = client.post("/admin/logout/")
        assert response.status_code == 302 and response.url == "/login"
        assert LoginSession.objects.get(user=admin).revoked_at is not None
        assert client.get("/admin/").status_code == 302


def test_a_role_newly_requiring_two_factor_ends_browser_sessions_on_the_api(signed_in, customer):
    client = signed_in(customer, api=True)
    assert client.get("/api/auth/me").status_code == 200
    Role.objects.filter(name="Customer").update(requires_two_factor=True)
    assert client.get("/api/auth/me").status_code == 401
    assert "_auth_user_id" not in client.session
