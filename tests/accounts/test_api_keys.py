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
