"""The Django admin answers to the same permission rule as the API."""

import pytest
from django.test import Client

from accounts.apikeys import apikey_create
from accounts.models import ApiKey, AuditLog, LoginSession, Role
from tests.conftest import PASSWORD, tokens_for

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_customers_cannot_log_in_to_the_admin(customer):
    response = Client().post("/admin/login/", {"username": customer.email, "password": PASSWORD})
    assert response.status_code == 200
    assert b"needs the admin.read permission" in response.content


def test_support_staff_may_look_but_not_change(make_user, roles):
    support = make_user(role="Support")
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": support.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/accounts/role/").status_code == 200
    assert client.get(f"/admin/accounts/role/{roles['Customer'].pk}/change/").status_code == 200
    assert client.get("/admin/accounts/role/add/").status_code == 403


def test_roles_are_edited_with_a_permission_picker(admin):
    client = logged_in(admin)
    page = client.get("/admin/accounts/role/add/").content.decode()
    assert 'type="checkbox"' in page and 'value="server.start"' in page and 'value="file.*"' in page
    response = client.post(
        "/admin/accounts/role/add/",
        {"name": "Helpdesk", "description": "", "permissions": ["server.console", "server.read"]},
    )
    assert response.status_code == 302, response.content
    assert Role.objects.get(name="Helpdesk").permissions == ["server.console", "server.read"]
    assert AuditLog.objects.filter(action="role.create", metadata__via="admin").exists()


def test_the_revoke_action_revokes_keys(admin, customer):
    key, _ = apikey_create(user=customer, name="ci")
    response = logged_in(admin).post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_the_deactivate_action_logs_users_out(admin, customer):
    tokens_for(customer)
    logged_in(admin).post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [str(customer.pk)]}
    )
    customer.refresh_from_db()
    assert not customer.is_active
    assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()
    assert AuditLog.objects.filter(action="user.update", resource_id=str(customer.pk)).exists()


def test_the_audit_log_is_read_only(admin):
    client = logged_in(admin)
    assert client.get("/admin/accounts/auditlog/").status_code == 200
    assert client.get("/admin/accounts/auditlog/add/").status_code == 403
