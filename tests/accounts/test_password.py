"""Password change and password reset by email, including every refusal."""

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from accounts.models import AuditLog, LoginSession
from tests.conftest import PASSWORD, tokens_for

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase"
RESET_INVALID = "This reset link is invalid or has expired. Ask for a new one."


def login(api, email, password=PASSWORD):
    return api.post("/api/auth/login", {"email": email, "password": password}, format="json")


def change(api, current=PASSWORD, new=NEW_PASSWORD):
    return api.post("/api/auth/password", {"currentPassword": current, "newPassword": new}, format="json")


def request_reset(api, email="customer@example.com"):
    return api.post("/api/auth/password-reset", {"email": email}, format="json")


def confirm(api, uid, token, new=NEW_PASSWORD):
    body = {"uid": uid, "token": token, "newPassword": new}
    return api.post("/api/auth/password-reset/confirm", body, format="json")


def link_parts(message) -> tuple[str, str]:
    match = re.search(r"/reset-password\?uid=([\w-]+)&token=([\w-]+)", message.body)
    assert match, message.body
    return match.group(1), match.group(2)


@pytest.fixture
def authed(api, customer):
    """The customer's client and the tokens of its own login session."""
    tokens = tokens_for(customer)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
    return api, tokens


class TestPasswordChange:
    def test_it_changes_the_password(self, authed, api, customer):
        client, _ = authed
        response = change(client)
        assert response.status_code == 200
        assert response.json()["success"] is True
        client.credentials()
        assert login(api, "customer@example.com", NEW_PASSWORD).status_code == 200
        assert login(api, "customer@example.com", PASSWORD).status_code == 401

    def test_other_sessions_end_and_this_one_keeps_working(self, authed, customer):
        client, current = authed
        other = tokens_for(customer)
        assert change(client).status_code == 200

        other_client = APIClient()
        other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {other['token']}")
        assert other_client.get("/api/auth/me").status_code == 401
        refresh = APIClient().post(
            "/api/auth/refresh", {"refreshToken": other["refresh_token"]}, format="json"
        )
        assert refresh.status_code == 401

        assert client.get("/api/auth/me").status_code == 200
        refresh = APIClient().post(
            "/api/auth/refresh", {"refreshToken": current["refresh_token"]}, format="json"
        )
        assert refresh.status_code == 200

    def test_it_is_audited(self, authed, customer):
        client, _ = authed
        change(client)
        assert AuditLog.objects.filter(action="auth.password_change", user=customer).count() == 1

    def test_it_refuses_a_wrong_current_password(self, authed, api, customer):
        client, _ = authed
        response = change(client, current="not-my-password")
        assert response.status_code == 400
        assert response.json()["fields"] == {"currentPassword": ["Current password is incorrect."]}
        client.credentials()
        assert login(api, "customer@example.com").status_code == 200
        assert not AuditLog.objects.filter(action="auth.password_change").exists()

    def test_it_refuses_a_new_password_under_eight_characters(self, authed):
        client, _ = authed
        response = change(client, new="short")
        assert response.status_code == 400
        assert response.json()["fields"]["newPassword"] == ["Password too weak (min 8 characters)"]

    def test_a_refused_change_leaves_other_sessions_alone(self, authed, customer):
        client, _ = authed
        tokens_for(customer)
        change(client, current="not-my-password")
        assert LoginSession.objects.filter(user=customer, revoked_at__isnull=True).count() == 2

    def test_it_names_both_missing_fields(self, authed):
        client, _ = authed
        response = client.post("/api/auth/password", {}, format="json")
        assert response.status_code == 400
        assert set(response.json()["fields"]) == {"currentPassword", "newPassword"}

    def test_it_needs_authentication(self, api, customer):
        assert change(api).status_code == 401


class TestPasswordResetRequest:
    def test_it_emails_a_link_with_the_uid_and_token(self, api, customer, mailoutbox, settings):
        settings.PUBLIC_URL = "https://panel.example.com"
        response = request_reset(api)
        assert response.status_code == 200
        assert len(mailoutbox) == 1
        message = mailoutbox[0]
        assert message.to == ["customer@example.com"]
        uid, token = link_parts(message)
        assert f"https://panel.example.com/reset-password?uid={uid}&token={token}" in message.body
        assert f"uid:   {uid}" in message.body
        assert f"token: {token}" in message.body
        assert "&amp;" not in message.body

    def test_an_unknown_email_gets_the_same_answer_and_no_email(self, api, customer, mailoutbox):
        known = request_reset(api)
        unknown = request_reset(api, "nobody@example.com")
        assert unknown.status_code == known.status_code == 200
        assert unknown.json() == known.json()
        assert len(mailoutbox) == 1

    def test_it_finds_the_account_whatever_the_case(self, api, customer, mailoutbox):
        request_reset(api, "Customer@Example.COM")
        assert [m.to for m in mailoutbox] == [["customer@example.com"]]

    def test_a_deactivated_account_gets_no_email(self, api, customer, mailoutbox):
        customer.is_active = False
        customer.save()
        assert request_reset(api).status_code == 200
        assert mailoutbox == []

    def test_a_mail_outage_answers_the_same(self, api, customer, settings):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
        response = request_reset(api)
        assert response.status_code == 200
        assert response.json() == request_reset(api, "nobody@example.com").json()

    def test_it_sends_at_most_five_emails_an_hour_to_one_account(self, api, customer, mailoutbox, settings):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 100}
        for _ in range(7):
            assert request_reset(api).status_code == 200
        assert len(mailoutbox) == 5

    def test_it_refuses_an_invalid_email(self, api, db):
        response = request_reset(api, "not-an-email")
        assert response.status_code == 400
        assert response.json()["fields"] == {"email": ["Invalid email format"]}

    def test_it_is_limited_per_client(self, api, customer, settings):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 2}
        assert request_reset(api).status_code == 200
        assert request_reset(api).status_code == 200
        assert request_reset(api).status_code == 429
        assert confirm(api, "x", "y").status_code == 429


class TestPasswordResetConfirm:
    @pytest.fixture
    def link(self, api, customer, mailoutbox):
        request_reset(api)
        return link_parts(mailoutbox[0])

    def test_it_sets_the_new_password(self, api, customer, link):
        response = confirm(api, *link)
        assert response.status_code == 200
        assert login(api, "customer@example.com", NEW_PASSWORD).status_code == 200
        assert login(api, "customer@example.com", PASSWORD).status_code == 401

    def test_it_ends_every_login_session(self, api, client_for, customer, link):
        logged_in = client_for(customer)
        tokens = tokens_for(customer)
        confirm(api, *link)
        assert logged_in.get("/api/auth/me").status_code == 401
        refresh = api.post("/api/auth/refresh", {"refreshToken": tokens["refresh_token"]}, format="json")
        assert refresh.status_code == 401
        assert not LoginSession.objects.filter(user=customer, revoked_at__isnull=True).exists()

    def test_it_is_audited(self, api, customer, link):
        confirm(api, *link)
        assert AuditLog.objects.filter(action="auth.password_reset", user=customer).count() == 1

    def test_the_same_token_is_refused_the_second_time(self, api, customer, link):
        assert confirm(api, *link).status_code == 200
        again = confirm(api, *link, new="yet-another-password")
        assert again.status_code == 400
        assert again.json()["message"] == RESET_INVALID
        assert login(api, "customer@example.com", NEW_PASSWORD).status_code == 200

    def test_an_expired_token_is_refused(self, api, customer, settings):
        generator = default_token_generator
        issued = generator._num_seconds(generator._now()) - settings.PASSWORD_RESET_TIMEOUT - 1
        token = generator._make_token_with_timestamp(customer, issued, generator.secret)
        uid = self._uid(customer)
        response = confirm(api, uid, token)
        assert response.status_code == 400
        assert response.json()["message"] == RESET_INVALID

    def test_a_token_within_the_timeout_is_accepted(self, api, customer, settings):
        generator = default_token_generator
        issued = generator._num_seconds(generator._now()) - settings.PASSWORD_RESET_TIMEOUT + 60
        token = generator._make_token_with_timestamp(customer, issued, generator.secret)
        assert confirm(api, self._uid(customer), token).status_code == 200

    def test_a_shorter_timeout_expires_links_sooner(self, api, customer, link, settings):
        settings.PASSWORD_RESET_TIMEOUT = -1
        assert confirm(api, *link).status_code == 400

    def test_a_token_of_another_user_is_refused(self, api, customer, stranger, link):
        _, token = link
        response = confirm(api, self._uid(stranger), token)
        assert response.status_code == 400
        assert response.json()["message"] == RESET_INVALID

    @pytest.mark.parametrize("uid", ["garbage", "", "Zm9v", "!!!"])
    def test_a_malformed_uid_is_refused(self, api, customer, link, uid):
        response = confirm(api, uid or "x", link[1])
        assert response.status_code == 400
        assert response.json()["message"] == RESET_INVALID

    def test_a_deactivated_account_cannot_be_reset(self, api, customer, link):
        customer.is_active = False
        customer.save()
        assert confirm(api, *link).status_code == 400

    def test_it_refuses_a_new_password_under_eight_characters(self, api, customer, link):
        response = confirm(api, *link, new="short")
        assert response.status_code == 400
        assert response.json()["fields"]["newPassword"] == ["Password too weak (min 8 characters)"]
        assert confirm(api, *link).status_code == 200  # the link was not spent

    def test_a_password_change_voids_an_earlier_link(self, api, customer, link):
        customer.set_password("changed-meanwhile")
        customer.save()
        assert confirm(api, *link).status_code == 400

    @staticmethod
    def _uid(user) -> str:
        return urlsafe_base64_encode(force_bytes(user.pk))
