"""Register, login, refresh, logout and me, including every refusal the contract lists."""

import jwt
import pytest
from django.conf import settings

from accounts.models import User
from tests.conftest import PASSWORD, tokens_for

pytestmark = pytest.mark.django_db


def register(api, **overrides):
    body = {"email": "new@example.com", "username": "newbie", "password": "long-enough-1", **overrides}
    return api.post("/api/auth/register", body, format="json")


def login(api, email, password=PASSWORD):
    return api.post("/api/auth/login", {"email": email, "password": password}, format="json")


def claims(token: str) -> dict:
    return jwt.decode(token, settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])


class TestRegister:
    def test_it_creates_a_customer_and_returns_the_contract_fields(self, api, roles):
        response = register(api)
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        assert set(body["data"]) >= {"userId", "email", "username", "token", "refreshToken"}
        assert body["data"]["email"] == "new@example.com"
        user = User.objects.get(email="new@example.com")
        assert [r.name for r in user.roles.all()] == ["Customer"]

    def test_it_refuses_a_duplicate_email_whatever_its_case(self, api, customer):
        response = register(api, email="CUSTOMER@example.com")
        assert response.status_code == 400
        assert response.json()["fields"]["email"] == ["Email already exists"]

    def test_it_refuses_an_invalid_email(self, api, roles):
        response = register(api, email="not-an-email")
        assert response.status_code == 400
        assert response.json()["message"] == "email: Invalid email format"

    def test_it_refuses_a_password_under_eight_characters(self, api, roles):
        response = register(api, password="short")
        assert response.status_code == 400
        assert response.json()["fields"]["password"] == ["Password too weak (min 8 characters)"]

    def test_it_names_every_missing_field(self, api, roles):
        response = api.post("/api/auth/register", {}, format="json")
        assert response.status_code == 400
        assert set(response.json()["fields"]) == {"email", "username", "password"}


class TestLogin:
    def test_it_returns_a_token_with_the_contract_claims(self, api, customer):
        response = login(api, "customer@example.com")
        assert response.status_code == 200
        data = response.json()["data"]
        token = claims(data["token"])
        assert token["userId"] == str(customer.pk)
        assert token["email"] == "customer@example.com"
        assert token["username"] == "customer"
        assert token["permissions"] == ["server.create"]
        assert {"iat", "exp"} <= set(token)

    def test_it_accepts_the_email_in_any_case(self, api, customer):
        assert login(api, "Customer@Example.com").status_code == 200

    def test_wrong_password_and_unknown_email_read_alike(self, api, customer):
        wrong = login(api, "customer@example.com", "wrong-password")
        unknown = login(api, "nobody@example.com")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["message"] == unknown.json()["message"] == "Invalid email or password"

    def test_it_refuses_a_deactivated_account(self, api, customer):
        customer.is_active = False
        customer.save()
        response = login(api, "customer@example.com")
        assert response.status_code == 401
        assert "deactivated" in response.json()["message"]


class TestMe:
    def test_it_returns_the_user_and_their_permissions(self, client_for, admin):
        response = client_for(admin).get("/api/auth/me")
        assert response.status_code == 200
        data = response.json()["data"]
        assert data["id"] == str(admin.pk)
        assert data["email"] == "admin@example.com"
        assert "createdAt" in data
        assert data["permissions"] == ["*"]
        assert data["roles"][0]["name"] == "Administrator"

    def test_it_needs_a_token(self, api):
        response = api.get("/api/auth/me")
        assert response.status_code == 401
        assert response.json() == {
            "error": "Unauthorized",
            "statusCode": 401,
            "message": "Authentication credentials were not provided.",
        }

    def test_it_refuses_a_forged_token(self, api, customer):
        forged = jwt.encode(
            {"userId": str(customer.pk), "token_type": "access"},
            "not-our-signing-key-but-long-enough-to-be-plausible",
            algorithm="HS256",
        )
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        response = api.get("/api/auth/me")
        assert response.status_code == 401
        assert response.json()["message"] == "Invalid or expired token"

    def test_it_refuses_an_expired_token(self, api, customer, settings):
        token = claims(tokens_for(customer)["token"])
        token["exp"] = token["iat"] - 10
        expired = jwt.encode(token, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
        assert api.get("/api/auth/me").status_code == 401

    def test_a_refresh_token_is_not_an_access_token(self, api, customer):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(customer)['refresh_token']}")
        assert api.get("/api/auth/me").status_code == 401

    def test_a_deactivated_user_is_refused_at_once(self, client_for, customer):
        client = client_for(customer)
        User.objects.filter(pk=customer.pk).update(is_active=False)
        response = client.get("/api/auth/me")
        assert response.status_code == 401


class TestRefresh:
    def test_it_rotates_and_refuses_a_used_refresh_token(self, api, customer):
        first = tokens_for(customer)
        response = api.post("/api/auth/refresh", {"refreshToken": first["refresh_token"]}, format="json")
        assert response.status_code == 200
        second = response.json()["data"]
        assert second["refreshToken"] != first["refresh_token"]
        assert claims(second["token"])["userId"] == str(customer.pk)

        again = api.post("/api/auth/refresh", {"refreshToken": first["refresh_token"]}, format="json")
        assert again.status_code == 401
        assert "already used" in again.json()["message"]

    def test_new_tokens_carry_current_permissions(self, api, customer, roles):
        first = tokens_for(customer)
        customer.roles.add(roles["Support"])
        response = api.post("/api/auth/refresh", {"refreshToken": first["refresh_token"]}, format="json")
        assert "admin.read" in claims(response.json()["data"]["token"])["permissions"]

    def test_it_refuses_garbage(self, api, db):
        response = api.post("/api/auth/refresh", {"refreshToken": "garbage"}, format="json")
        assert response.status_code == 401

    def test_it_requires_the_field(self, api, db):
        response = api.post("/api/auth/refresh", {}, format="json")
        assert response.status_code == 400
        assert "refreshToken" in response.json()["fields"]


class TestLogout:
    def test_it_ends_the_access_token_and_the_refresh_token(self, api, customer):
        tokens = tokens_for(customer)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
        response = api.post("/api/auth/logout", {"refreshToken": tokens["refresh_token"]}, format="json")
        assert response.status_code == 200
        assert response.json() == {"success": True, "message": "Logged out"}

        assert api.get("/api/auth/me").status_code == 401
        api.credentials()
        refresh = api.post("/api/auth/refresh", {"refreshToken": tokens["refresh_token"]}, format="json")
        assert refresh.status_code == 401

    def test_other_sessions_keep_working(self, api, client_for, customer):
        other = client_for(customer)
        tokens = tokens_for(customer)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
        api.post("/api/auth/logout", {}, format="json")
        assert other.get("/api/auth/me").status_code == 200

    def test_it_needs_authentication(self, api, db):
        assert api.post("/api/auth/logout", {}, format="json").status_code == 401


class TestAudit:
    def test_register_login_and_logout_are_audited_with_the_address(self, api, roles):
        from accounts.models import AuditLog

        api.post(
            "/api/auth/register",
            {"email": "new@example.com", "username": "newbie", "password": "long-enough-1"},
            format="json",
            REMOTE_ADDR="192.0.2.44",
        )
        data = api.post(
            "/api/auth/login",
            {"email": "new@example.com", "password": "long-enough-1"},
            format="json",
            REMOTE_ADDR="192.0.2.44",
        ).json()["data"]
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {data['token']}")
        api.post("/api/auth/logout", {}, format="json")
        rows = list(AuditLog.objects.order_by("created_at").values_list("action", "ip_address"))
        assert rows == [("auth.register", "192.0.2.44"), ("auth.login", "192.0.2.44"), ("auth.logout", None)]
