"""Signing in and out of the web UI: Django sessions, with the API's login rules."""

import pyotp
import pytest
from django.test import Client

from accounts import twofactor
from accounts.browser import SESSION_KEY, TWO_FACTOR_SETUP_FIRST
from accounts.models import LoginSession, Role
from tests.conftest import PASSWORD


def test_the_login_page_has_a_form_with_csrf_and_a_link_to_the_admin(client, db):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<label for="id_email">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'href="/admin/"' in html


def test_it_signs_in_with_email_and_password(client, customer):
    response = client.post("/login", {"email": "Customer@Example.com", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/"
    assert client.session["_auth_user_id"] == str(customer.pk)
    session = LoginSession.objects.get(user=customer)
    assert client.session[SESSION_KEY] == str(session.pk) and session.revoked_at is None
    assert client.get("/").status_code == 200


def test_it_refuses_a_wrong_password_and_says_so(client, customer):
    response = client.post("/login", {"email": customer.email, "password": "wrong-password"})
    assert response.status_code == 401
    assert "Invalid email or password" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert 'value="customer@example.com"' in response.content.decode()  # the email is kept


def test_an_unknown_email_reads_like_a_wrong_password(client, db):
    response = client.post("/login", {"email": "nobody@example.com", "password": PASSWORD})
    assert response.status_code == 401
    assert "Invalid email or password" in response.content.decode()


def test_it_shows_field_errors_for_a_malformed_form(client, db):
    response = client.post("/login", {"email": "not-an-email", "password": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html and "This field is required." in html


def test_it_refuses_a_post_without_the_csrf_token(customer):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login", {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_it_locks_an_account_after_too_many_failures(client, customer, settings):
    settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 2
    for _ in range(2):
        assert client.post("/login", {"email": customer.email, "password": "nope"}).status_code == 401
    response = client.post("/login", {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins for this account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_limits_attempts_per_address(client, customer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 2}
    for _ in range(2):
        client.post("/login", {"email": customer.email, "password": "nope"})
    response = client.post("/login", {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many login attempts from your address" in response.content.decode()


def test_it_follows_a_local_next_and_ignores_a_foreign_one(client, customer):
    form = {"email": customer.email, "password": PASSWORD}
    assert client.post("/login?next=/servers/abc", form).url == "/servers/abc"
    client.logout()
    assert client.post("/login", {**form, "next": "https://evil.example/"}).url == "/"


def test_a_signed_in_visitor_is_sent_on_from_the_login_page(client, customer):
    client.post("/login", {"email": customer.email, "password": PASSWORD})
    assert client.get("/login").url == "/"


def test_two_factor_asks_for_a_code_before_signing_in(client, customer):
    secret = twofactor.twofactor_setup(user=customer)["secret"]
    codes = twofactor.twofactor_enable(user=customer, code=pyotp.TOTP(secret).now())
    response = client.post("/login", {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Two-factor authentication" in html and 'name="challenge_token"' in html
    assert "_auth_user_id" not in client.session
    challenge = response.context["form"].initial["challenge_token"]

    wrong = client.post("/login", {"challenge_token": challenge, "code": "000000"})
    assert wrong.status_code == 401 and "_auth_user_id" not in client.session

    response = client.post("/login", {"challenge_token": challenge, "code": codes[0]})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(customer.pk)


def test_a_role_requiring_two_factor_must_set_it_up_first(client, make_user):
    role = Role.objects.create(name="Strict", permissions=["server.create"], requires_two_factor=True)
    user = make_user()
    user.roles.add(role)
    response = client.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert TWO_FACTOR_SETUP_FIRST in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginSession.objects.get(user=user).revoked_at is not None


def test_logout_is_a_post_that_ends_the_login(client, customer):
    client.post("/login", {"email": customer.email, "password": PASSWORD})
    assert client.get("/logout").status_code == 405
    response = client.post("/logout")
    assert response.status_code == 302 and response.url == "/login"
    assert "_auth_user_id" not in client.session
    assert LoginSession.objects.get(user=customer).revoked_at is not None
    assert client.get("/").status_code == 302


def test_a_login_revoked_by_staff_ends_the_browser_session(client, customer):
    client.post("/login", {"email": customer.email, "password": PASSWORD})
    LoginSession.objects.filter(user=customer).update(revoked_at="2026-01-01T00:00:00Z")
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login")
    assert "_auth_user_id" not in client.session
    assert "Your login was ended" in client.get(response.url).content.decode()


@pytest.mark.parametrize("path", ["/", "/servers/6f1c1b4e-2f1e-4c33-9a56-0c1d2e3f4a5b"])
def test_anonymous_visitors_are_sent_to_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url == f"/login?next={path}"
