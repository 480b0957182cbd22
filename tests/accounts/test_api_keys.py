import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditLog

pytestmark = pytest.mark.django_db


def create_key(client, **body):
    response = client.post("/api/api-keys", {"name": "deploy", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def key_client(key: str, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_the_secret_is_shown_once_and_stored_hashed(client_for, customer):
    client = client_for(customer)
    data = create_key(client)
    assert data["key"].startswith("hth_")
    stored = ApiKey.objects.get(pk=data["id"])
    assert stored.secret_hash == hashlib.sha256(data["key"].encode()).hexdigest()
    assert data["key"] not in str(stored.__dict__)
    listed = client.get("/api/api-keys").json()["data"]
    assert "key" not in listed[0] and listed[0]["prefix"] == data["prefix"]


def test_a_key_authenticates_api_requests_and_records_its_use(client_for, customer):
    data = create_key(client_for(customer))
    response = key_client(data["key"]).get("/api/auth/me", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    assert response.json()["data"]["email"] == customer.email
    key = ApiKey.objects.get(pk=data["id"])
    assert key.last_used_at is not None
    assert key.last_used_ip == "198.51.100.7"


def test_a_wrong_secret_with_a_real_prefix_is_refused(client_for, customer):
    data = create_key(client_for(customer))
    forged = data["key"][:-4] + "AAAA"
    response = key_client(forged).get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


def test_revocation_takes_effect_on_the_next_request(client_for, customer):
    owner = client_for(customer)
    data = create_key(owner)
    client = key_client(data["key"])
    assert client.get("/api/auth/me").status_code == 200
    assert owner.delete(f"/api/api-keys/{data['id']}").status_code == 200
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["message"] == "This API key was revoked"
    assert AuditLog.objects.filter(action="apikey.revoke").count() == 1


def test_an_expired_key_is_refused(client_for, customer):
    data = create_key(client_for(customer))
    ApiKey.objects.filter(pk=data["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert key_client(data["key"]).get("/api/auth/me").json()["message"] == "This API key has expired"


def test_an_expiry_in_the_past_is_a_400(client_for, customer):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = client_for(customer).post("/api/api-keys", {"name": "x", "expiresAt": past}, format="json")
    assert response.status_code == 400
    assert "expiresAt" in response.json()["fields"]


def test_allowed_ranges_are_enforced(client_for, customer):
    data = create_key(client_for(customer), allowedIps=["203.0.113.0/24", "2001:db8::/32"])
    assert key_client(data["key"]).get("/api/auth/me", REMOTE_ADDR="203.0.113.50").status_code == 200
    assert key_client(data["key"]).get("/api/auth/me", REMOTE_ADDR="2001:db8::1").status_code == 200
    refused = key_client(data["key"]).get("/api/auth/me", REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 401
    assert refused.json()["message"] == "This API key may not be used from 198.51.100.1"


def test_a_bad_range_is_a_400(client_for, customer):
    response = client_for(customer).post(
        "/api/api-keys", {"name": "x", "allowedIps": ["10.0.0.0/33"]}, format="json"
    )
    assert response.status_code == 400
    assert "allowedIps" in response.json()["fields"]


def test_a_scoped_key_holds_only_its_permissions(client_for, admin):
    data = create_key(client_for(admin), permissions=["admin.read"])
    client = key_client(data["key"])
    assert client.get("/api/admin/users").status_code == 200
    assert client.post("/api/roles", {"name": "x", "permissions": []}, format="json").status_code == 403
    assert client.get("/api/auth/me").json()["data"]["permissions"] == ["admin.read"]


def test_a_key_cannot_hold_more_than_its_owner(client_for, customer):
    response = client_for(customer).post(
        "/api/api-keys", {"name": "x", "permissions": ["admin.write"]}, format="json"
    )
    assert response.status_code == 400
    assert "admin.write" in response.json()["message"]


def test_a_key_may_name_server_permissions_the_owner_holds_on_their_servers(client_for, customer):
    create_key(client_for(customer), permissions=["server.start", "file.read"])


def test_unknown_permissions_are_a_400(client_for, customer):
    response = client_for(customer).post(
        "/api/api-keys", {"name": "x", "permissions": ["server.fly"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"]["permissions"] == ["Unknown permissions: server.fly"]


def test_other_users_keys_are_invisible(client_for, customer, stranger):
    data = create_key(client_for(customer))
    other = client_for(stranger)
    assert other.get(f"/api/api-keys/{data['id']}").status_code == 404
    assert other.delete(f"/api/api-keys/{data['id']}").status_code == 404
    assert other.get("/api/api-keys").json()["data"] == []


def test_a_deactivated_owner_s_key_stops_working(client_for, customer):
    data = create_key(client_for(customer))
    customer.is_active = False
    customer.save()
    assert key_client(data["key"]).get("/api/auth/me").status_code == 401


def test_a_key_cannot_change_the_password_or_two_factor(client_for, customer):
    client = key_client(create_key(client_for(customer))["key"])
    response = client.post(
        "/api/auth/password", {"currentPassword": "x", "newPassword": "y" * 10}, format="json"
    )
    assert response.status_code == 403
    assert "not an API key" in response.json()["message"]
    assert client.post("/api/auth/2fa/setup").status_code == 403


def test_logout_with_a_key_is_harmless(client_for, customer):
    client = key_client(create_key(client_for(customer))["key"])
    assert client.post("/api/auth/logout", {}, format="json").status_code == 200
    assert client.get("/api/auth/me").status_code == 200


def test_a_key_obeys_the_two_factor_requirement_of_its_owner(client_for, customer, roles):
    data = create_key(client_for(customer))
    roles["Customer"].requires_two_factor = True
    roles["Customer"].save()
    response = key_client(data["key"]).get("/api/admin/users")
    assert response.status_code == 403
    assert "Two-factor authentication is required" in response.json()["message"]


class TestKeysMadeWithAKey:
    """A key may only create keys within itself: permissions, addresses and expiry."""

    def test_a_scoped_key_asking_for_no_permissions_gets_its_own_scope_not_everything(
        self, client_for, admin
    ):
        parent = key_client(create_key(client_for(admin), permissions=["admin.read"])["key"])
        child = create_key(parent)
        assert child["permissions"] == ["admin.read"]
        client = key_client(child["key"])
        assert client.get("/api/admin/users").status_code == 200
        assert client.post("/api/roles", {"name": "x", "permissions": []}, format="json").status_code == 403

    @pytest.mark.parametrize(
        "asked", [["admin.write"], ["admin.read", "admin.write"], ["*"], ["admin.*"], ["server.read"]]
    )
    def test_a_scoped_key_cannot_ask_for_more(self, client_for, admin, asked):
        parent = key_client(create_key(client_for(admin), permissions=["admin.read"])["key"])
        response = parent.post("/api/api-keys", {"name": "x", "permissions": asked}, format="json")
        assert response.status_code == 403, response.json()
        assert "within its own permissions" in response.json()["message"]
        assert ApiKey.objects.count() == 1

    @pytest.mark.parametrize("asked", [["server.console"], ["file.*"], ["server.*"], None])
    def test_server_permissions_are_not_exempt(self, client_for, customer, asked):
        parent = key_client(create_key(client_for(customer), permissions=["server.read"])["key"])
        body = {"name": "x"} if asked is None else {"name": "x", "permissions": asked}
        response = parent.post("/api/api-keys", body, format="json")
        if asked is None:  # omitted: inherited
            assert response.status_code == 201
            assert response.json()["data"]["permissions"] == ["server.read"]
        else:
            assert response.status_code == 403, response.json()

    def test_a_key_may_create_a_narrower_key(self, client_for, customer):
        parent = key_client(create_key(client_for(customer), permissions=["file.*", "server.read"])["key"])
        assert create_key(parent, permissions=["server.read", "file.read"])["permissions"] == [
            "server.read",
            "file.read",
        ]

    def test_an_unscoped_key_may_create_any_key_its_owner_could(self, client_for, customer):
        parent = key_client(create_key(client_for(customer))["key"])
        assert create_key(parent)["permissions"] is None
        response = parent.post("/api/api-keys", {"name": "x", "permissions": ["admin.read"]}, format="json")
        assert response.status_code == 400

    def test_addresses_are_inherited_and_cannot_widen(self, client_for, customer):
        parent = key_client(create_key(client_for(customer), allowed_ips=["127.0.0.0/8"])["key"])
        assert create_key(parent)["allowedIps"] == ["127.0.0.0/8"]
        assert create_key(parent, allowed_ips=["127.0.0.1/32"])["allowedIps"] == ["127.0.0.1/32"]
        for wider in (["0.0.0.0/0"], ["127.0.0.0/7"], ["::/0"], ["127.0.0.1", "10.0.0.1"]):
            response = parent.post("/api/api-keys", {"name": "x", "allowedIps": wider}, format="json")
            assert response.status_code == 403, (wider, response.json())
            assert "allowed addresses" in response.json()["message"]

    def test_expiry_is_inherited_and_cannot_be_extended(self, client_for, customer):
        ends = timezone.now() + timedelta(days=1)
        parent_data = create_key(client_for(customer), expires_at=ends.isoformat())
        parent = key_client(parent_data["key"])
        assert create_key(parent)["expiresAt"] == parent_data["expiresAt"]
        sooner = (timezone.now() + timedelta(hours=1)).isoformat()
        assert create_key(parent, expires_at=sooner)["expiresAt"]
        later = (ends + timedelta(days=1)).isoformat()
        response = parent.post("/api/api-keys", {"name": "x", "expiresAt": later}, format="json")
        assert response.status_code == 403
        assert "expire no later" in response.json()["message"]

    def test_the_audit_log_says_which_key_made_the_key(self, client_for, customer):
        parent_data = create_key(client_for(customer), permissions=["server.read"])
        create_key(key_client(parent_data["key"]))
        entry = AuditLog.objects.filter(action="apikey.create").order_by("-created_at").first()
        assert entry.metadata["by_key"] == parent_data["prefix"]


def test_a_login_may_name_every_permission_an_owner_holds_on_their_servers(client_for, customer):
    assert create_key(client_for(customer), permissions=["file.*", "server.console"])["permissions"]
    response = client_for(customer).post(
        "/api/api-keys", {"name": "x", "permissions": ["server.*"]}, format="json"
    )
    assert response.status_code == 400  # server.* includes server.transfer and server.suspend
    assert "server.*" in response.json()["message"]
