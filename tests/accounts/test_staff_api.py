"""Roles, users and the audit log through the admin API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import audit, audit_prune
from accounts.models import AuditLog, LoginSession, Role, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client_for, admin):
    return client_for(admin)


class TestRoles:
    def test_create_list_update_delete(self, staff):
        created = staff.post(
            "/api/roles", {"name": "Moderator", "permissions": ["server.console", "file.*"]}, format="json"
        )
        assert created.status_code == 201
        role = created.json()["data"]
        assert role["permissions"] == ["server.console", "file.*"]
        assert role["userCount"] == 0

        names = [r["name"] for r in staff.get("/api/roles").json()["data"]]
        assert "Moderator" in names

        updated = staff.patch(f"/api/roles/{role['id']}", {"requiresTwoFactor": True}, format="json")
        assert updated.json()["data"]["requiresTwoFactor"] is True

        assert staff.delete(f"/api/roles/{role['id']}").status_code == 200
        assert not Role.objects.filter(pk=role["id"]).exists()
        actions = list(AuditLog.objects.filter(resource_id=role["id"]).values_list("action", flat=True))
        assert sorted(actions) == ["role.create", "role.delete", "role.update"]

    def test_unknown_permissions_are_refused(self, staff):
        response = staff.post(
            "/api/roles", {"name": "Bad", "permissions": ["server.teleport"]}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["message"] == "permissions: Unknown permissions: server.teleport"

    def test_duplicate_names_are_refused(self, staff, roles):
        response = staff.post("/api/roles", {"name": "customer", "permissions": []}, format="json")
        assert response.status_code == 400

    def test_nobody_grants_what_they_do_not_hold(self, client_for, make_user, roles):
        writer = client_for(make_user(permissions=["admin.read", "admin.write"]))
        response = writer.post("/api/roles", {"name": "Escalate", "permissions": ["*"]}, format="json")
        assert response.status_code == 403
        assert "cannot grant" in response.json()["message"]
        admin_role = roles["Administrator"]
        assert writer.patch(f"/api/roles/{admin_role.pk}", {"name": "x"}, format="json").status_code == 403
        assert writer.delete(f"/api/roles/{admin_role.pk}").status_code == 403

    def test_unknown_role_is_a_404(self, staff):
        assert staff.get("/api/roles/00000000-0000-0000-0000-000000000000").status_code == 404


class TestUsers:
    def test_create_with_roles_and_log_in(self, staff, api, roles):
        response = staff.post(
            "/api/admin/users",
            {
                "email": "Ops@Example.com",
                "username": "ops",
                "password": "long-enough-1",
                "roleIds": [str(roles["Support"].pk)],
            },
            format="json",
        )
        assert response.status_code == 201
        data = response.json()["data"]
        assert data["email"] == "ops@example.com"
        assert [r["name"] for r in data["roles"]] == ["Support"]
        login = api.post(
            "/api/auth/login", {"email": "ops@example.com", "password": "long-enough-1"}, format="json"
        )
        assert login.status_code == 200

    def test_refusals(self, staff, customer):
        duplicate = staff.post(
            "/api/admin/users",
            {"email": customer.email, "username": "x1", "password": "long-enough-1"},
            format="json",
        )
        assert duplicate.status_code == 400
        weak = staff.post(
            "/api/admin/users",
            {"email": "w@example.com", "username": "w", "password": "short"},
            format="json",
        )
        assert weak.status_code == 400 and "password" in weak.json()["fields"]
        missing = staff.post("/api/admin/users", {"email": "m@example.com", "username": "m"}, format="json")
        assert missing.json()["fields"] == {"password": ["This field is required."]}

    def test_deactivating_ends_every_session(self, staff, client_for, customer):
        victim = client_for(customer)
        response = staff.patch(f"/api/admin/users/{customer.pk}", {"isActive": False}, format="json")
        assert response.status_code == 200
        assert victim.get("/api/auth/me").status_code == 401
        assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()

    def test_setting_a_password_ends_every_session(self, staff, client_for, customer):
        victim = client_for(customer)
        staff.patch(f"/api/admin/users/{customer.pk}", {"password": "a-brand-new-one"}, format="json")
        assert victim.get("/api/auth/me").status_code == 401

    def test_assigning_roles(self, staff, customer, roles):
        response = staff.patch(
            f"/api/admin/users/{customer.pk}", {"roleIds": [str(roles["Support"].pk)]}, format="json"
        )
        assert [r["name"] for r in response.json()["data"]["roles"]] == ["Support"]

    def test_nobody_assigns_a_role_above_their_own(self, client_for, make_user, customer, roles):
        writer = client_for(make_user(permissions=["admin.read", "admin.write"]))
        response = writer.patch(
            f"/api/admin/users/{customer.pk}", {"roleIds": [str(roles["Administrator"].pk)]}, format="json"
        )
        assert response.status_code == 403
        assert not customer.roles.filter(name="Administrator").exists()

    def test_admins_cannot_delete_or_deactivate_themselves(self, staff, admin):
        assert staff.delete(f"/api/admin/users/{admin.pk}").status_code == 400
        assert (
            staff.patch(f"/api/admin/users/{admin.pk}", {"isActive": False}, format="json").status_code == 400
        )

    def test_delete(self, staff, customer):
        assert staff.delete(f"/api/admin/users/{customer.pk}").status_code == 200
        assert not User.objects.filter(pk=customer.pk).exists()
        assert AuditLog.objects.filter(action="user.delete", resource_id=str(customer.pk)).exists()


class TestAuditLog:
    def test_it_lists_newest_first_with_the_contract_fields(self, staff, admin, customer):
        audit("server.start", actor=customer, resource_type="server", resource_id="s1", serverName="lobby")
        audit("server.stop", actor=admin, resource_type="server", resource_id="s1")
        data = staff.get("/api/admin/audit-logs").json()["data"]
        assert [row["action"] for row in data[:2]] == ["server.stop", "server.start"]
        row = data[1]
        assert set(row) == {
            "id",
            "userId",
            "username",
            "action",
            "resourceType",
            "resourceId",
            "metadata",
            "ipAddress",
            "createdAt",
        }
        assert row["metadata"] == {"serverName": "lobby"}
        assert row["userId"] == str(customer.pk)

    def test_filters(self, staff, admin, customer):
        audit("server.start", actor=customer, resource_type="server", resource_id="s1")
        audit("role.create", actor=admin, resource_type="role", resource_id="r1")
        old = audit("server.stop", actor=customer, resource_type="server", resource_id="s1")
        AuditLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))

        def actions(query):
            return sorted(r["action"] for r in staff.get(f"/api/admin/audit-logs?{query}").json()["data"])

        assert actions(f"userId={customer.pk}") == ["server.start", "server.stop"]
        assert actions("action=role.create") == ["role.create"]
        assert actions("action=server.*") == ["server.start", "server.stop"]
        since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
        assert actions(f"userId={customer.pk}&from={since}") == ["server.start"]
        assert len(staff.get("/api/admin/audit-logs?limit=1").json()["data"]) == 1

    def test_the_default_page_is_100(self, staff):
        assert staff.get("/api/admin/audit-logs").json()["pagination"]["limit"] == 100

    def test_a_bad_date_is_a_400(self, staff):
        assert staff.get("/api/admin/audit-logs?from=yesterday").status_code == 400

    def test_it_records_the_ip_address(self, staff, admin):
        staff.post(
            "/api/roles", {"name": "Traced", "permissions": []}, format="json", REMOTE_ADDR="192.0.2.9"
        )
        assert AuditLog.objects.get(action="role.create").ip_address == "192.0.2.9"

    def test_retention_prunes_old_rows(self, settings, customer):
        settings.AUDIT_LOG_RETENTION_DAYS = 30
        keep = audit("server.start", actor=customer)
        gone = audit("server.stop", actor=customer)
        AuditLog.objects.filter(pk=gone.pk).update(created_at=timezone.now() - timedelta(days=31))
        assert audit_prune() == 1
        assert list(AuditLog.objects.values_list("pk", flat=True)) == [keep.pk]
