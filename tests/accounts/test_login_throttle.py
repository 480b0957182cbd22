"""Failed logins are limited per account as well as per client, without letting an attacker lock the owner out."""

import re
import time

import pyotp
import pytest
from django.utils import timezone

from accounts.models import TwoFactorDevice
from config.api.throttling import charge, refund
from config.crypto import encrypt
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOCKED = re.compile(r"^Too many failed logins for this account\. Try again in (\d+) seconds\.$")
HOME, ATTACKER, ELSEWHERE = "203.0.113.7", "198.51.100.66", "192.0.2.44"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 3
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 1000}  # keep the per-client limit out of the way


def login(api, email="customer@example.com", password=PASSWORD, ip=ELSEWHERE):
    return api.post("/api/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


def fail(api, times: int, email="customer@example.com", ip=ATTACKER):
    for _ in range(times):
        assert login(api, email, "wrong-password", ip=ip).status_code == 401


def assert_locked(response):
    assert response.status_code == 429
    match = LOCKED.match(response.json()["message"])
    assert match, response.json()
    assert 0 < int(match.group(1)) <= 15 * 60
    assert int(response["Retry-After"]) == int(match.group(1))


def test_it_locks_the_account_after_the_limit(api, customer):
    fail(api, 3)
    assert_locked(login(api, password="wrong-password", ip=ATTACKER))


def test_the_lock_holds_for_every_address_and_the_right_password(api, customer):
    fail(api, 3, ip=ATTACKER)
    assert_locked(login(api, ip=ELSEWHERE))


def test_an_address_that_logged_in_before_still_gets_in_with_the_right_password(api, customer):
    assert login(api, ip=HOME).status_code == 200
    fail(api, 3, ip=ATTACKER)
    assert_locked(login(api, ip=ATTACKER))
    response = login(api, ip=HOME)
    assert response.status_code == 200
    assert "token" in response.json()["data"]


def test_a_known_address_with_a_wrong_password_is_still_locked_out(api, customer):
    assert login(api, ip=HOME).status_code == 200
    fail(api, 3, ip=ATTACKER)
    assert_locked(login(api, password="wrong-password", ip=HOME))


def test_a_known_address_of_another_account_does_not_help(api, customer, stranger):
    assert login(api, "stranger@example.com", ip=HOME).status_code == 200
    fail(api, 3, ip=ATTACKER)
    assert_locked(login(api, ip=HOME))


def test_other_accounts_are_not_affected(api, customer, stranger):
    fail(api, 3)
    assert login(api, "stranger@example.com", ip=ATTACKER).status_code == 200


def without_digits(body: dict) -> dict:
    return {
        key: re.sub(r"\d+", "N", value) if isinstance(value, str) else value for key, value in body.items()
    }


def test_unknown_emails_are_counted_and_answered_alike(api, customer):
    fail(api, 3, email="nobody@example.com")
    unknown = login(api, "nobody@example.com", ip=ELSEWHERE)
    assert_locked(unknown)
    fail(api, 3)
    known = login(api, ip=ELSEWHERE)
    assert_locked(known)
    # The two lockouts started moments apart, so only the seconds left may differ.
    assert without_digits(unknown.json()) == without_digits(known.json())


def test_the_email_is_counted_whatever_its_case_and_spacing(api, customer):
    fail(api, 1, email="Customer@Example.com")
    fail(api, 1, email="  customer@example.com ")
    fail(api, 1)
    assert_locked(login(api, "CUSTOMER@example.com"))


def test_successful_logins_are_not_counted(api, customer):
    for _ in range(5):
        assert login(api).status_code == 200
    fail(api, 3)


def test_failures_before_a_success_still_count(api, customer):
    fail(api, 2)
    assert login(api, ip=HOME).status_code == 200
    fail(api, 1)
    assert_locked(login(api, ip=ELSEWHERE))


def test_the_per_client_limit_still_applies(api, customer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 2}
    settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 100
    fail(api, 2)
    response = login(api, ip=ATTACKER)
    assert response.status_code == 429
    assert response.json()["message"].startswith("Rate limit exceeded")


def test_the_count_lives_in_a_fifteen_minute_window(customer):
    allowed, state = charge("login-account", "probe", limit=1, window=15 * 60)
    assert allowed
    assert state.reset % (15 * 60) == 0
    assert 0 < state.reset - time.time() <= 15 * 60
    assert not charge("login-account", "probe", limit=1, window=15 * 60)[0]
    refund("login-account", "probe", state, window=15 * 60)
    refund("login-account", "probe", state, window=15 * 60)
    assert charge("login-account", "probe", limit=1, window=15 * 60)[0]


def test_a_refund_for_an_expired_window_is_ignored(customer):
    _, state = charge("login-account", "probe", limit=1, window=60)
    refund("login-account", "probe", state, window=15 * 60)  # another window's key: nothing to take back


class TestTwoFactorStep:
    @pytest.fixture
    def secret(self, customer):
        secret = pyotp.random_base32()
        TwoFactorDevice.objects.create(user=customer, secret=encrypt(secret), confirmed_at=timezone.now())
        return secret

    def challenge(self, api, ip=ELSEWHERE) -> str:
        response = login(api, ip=ip)
        assert response.status_code == 200, response.json()
        return response.json()["data"]["challengeToken"]

    def second_step(self, api, challenge, code, ip=ELSEWHERE):
        body = {"challengeToken": challenge, "code": code}
        return api.post("/api/auth/login/2fa", body, format="json", REMOTE_ADDR=ip)

    def test_wrong_codes_count_toward_the_account_limit(self, api, customer, secret):
        challenge = self.challenge(api, ip=ATTACKER)
        for _ in range(3):
            assert self.second_step(api, challenge, "abcd-efgh", ip=ATTACKER).status_code == 401
        assert_locked(login(api, ip=ATTACKER))
        assert_locked(self.second_step(api, challenge, pyotp.TOTP(secret).now(), ip=ATTACKER))

    def test_a_correct_password_and_code_are_not_counted(self, api, customer, secret):
        totp = pyotp.TOTP(secret)
        for offset in (-30, 0, 30):
            code = totp.at(time.time() + offset)
            assert self.second_step(api, self.challenge(api), code).status_code == 200
        fail(api, 3)

    def test_a_known_address_still_completes_both_steps_while_locked(self, api, customer, secret):
        totp = pyotp.TOTP(secret)
        assert (
            self.second_step(
                api, self.challenge(api, ip=HOME), totp.at(time.time() - 30), ip=HOME
            ).status_code
            == 200
        )
        fail(api, 3)
        challenge = self.challenge(api, ip=HOME)
        assert self.second_step(api, challenge, totp.now(), ip=HOME).status_code == 200
