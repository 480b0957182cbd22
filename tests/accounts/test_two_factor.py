"""TOTP two-factor: setup, codes that work once, recovery codes, the login challenge and required 2FA."""

import threading
import time

import pyotp
import pytest
from django.core import signing
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import twofactor
from accounts.models import AuditLog, TwoFactorDevice, User
from config.crypto import decrypt, encrypt
from tests.conftest import PASSWORD
from tests.fixtures.races import lock_waiters
from tests.polling import wait_for

pytestmark = pytest.mark.django_db

TWO_FACTOR_REQUIRED = (
    "Two-factor authentication is required for your account. Set it up with POST /api/auth/2fa/setup."
)
CHALLENGE_EXPIRED = "This login has expired or was already used. Log in again."


def code_at(secret: str, steps_from_now: int = 0) -> str:
    """The TOTP code of the time step `steps_from_now` away from the current one."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(int(time.time()) // totp.interval + steps_from_now)


def enable_device(user: User) -> tuple[str, list[str]]:
    """A confirmed device for `user` that has never spent a code; returns its secret and recovery codes."""
    secret = pyotp.random_base32()
    codes, hashes = twofactor._new_recovery_codes()
    TwoFactorDevice.objects.update_or_create(
        user=user,
        defaults={
            "secret": encrypt(secret),
            "confirmed_at": timezone.now(),
            "last_used_step": 0,
            "recovery_codes": hashes,
        },
    )
    return secret, codes


def device(user: User) -> TwoFactorDevice:
    return TwoFactorDevice.objects.get(user=user)


def login(api, email="customer@example.com", password=PASSWORD):
    return api.post("/api/auth/login", {"email": email, "password": password}, format="json")


def login_2fa(api, challenge: str, code: str):
    return api.post("/api/auth/login/2fa", {"challengeToken": challenge, "code": code}, format="json")


@pytest.fixture
def two_factor(customer):
    return enable_device(customer)


class TestSetup:
    def test_it_returns_a_secret_and_an_otpauth_url(self, client_for, customer, settings):
        settings.TWO_FACTOR_ISSUER = "Hearth Test"
        response = client_for(customer).post("/api/auth/2fa/setup")
        assert response.status_code == 200
        data = response.json()["data"]
        assert set(data) == {"secret", "otpauthUrl"}
        assert data["otpauthUrl"].startswith("otpauth://totp/Hearth%20Test:customer%40example.com?")
        assert f"secret={data['secret']}" in data["otpauthUrl"]
        assert "issuer=Hearth%20Test" in data["otpauthUrl"]

    def test_the_secret_is_stored_encrypted_and_unconfirmed(self, client_for, customer):
        secret = client_for(customer).post("/api/auth/2fa/setup").json()["data"]["secret"]
        stored = device(customer)
        assert stored.secret != secret
        assert decrypt(stored.secret) == secret
        assert stored.confirmed_at is None

    def test_setting_up_again_replaces_the_unconfirmed_secret(self, client_for, customer):
        client = client_for(customer)
        first = client.post("/api/auth/2fa/setup").json()["data"]["secret"]
        second = client.post("/api/auth/2fa/setup").json()["data"]["secret"]
        assert first != second
        assert decrypt(device(customer).secret) == second
        assert TwoFactorDevice.objects.filter(user=customer).count() == 1

    def test_it_is_refused_when_two_factor_is_already_on(self, client_for, customer, two_factor):
        response = client_for(customer).post("/api/auth/2fa/setup")
        assert response.status_code == 409
        assert device(customer).confirmed_at is not None

    def test_it_needs_authentication(self, api, db):
        assert api.post("/api/auth/2fa/setup").status_code == 401


class TestEnable:
    def test_a_valid_code_turns_it_on_and_returns_ten_recovery_codes(self, client_for, customer):
        client = client_for(customer)
        secret = client.post("/api/auth/2fa/setup").json()["data"]["secret"]
        response = client.post("/api/auth/2fa/enable", {"code": code_at(secret)}, format="json")
        assert response.status_code == 200
        codes = response.json()["data"]["recoveryCodes"]
        assert len(codes) == len(set(codes)) == 10
        assert all(len(code) == 9 and code[4] == "-" for code in codes)
        stored = device(customer)
        assert stored.is_enabled
        assert len(stored.recovery_codes) == 10
        assert not set(codes) & set(stored.recovery_codes)  # only hashes are kept
        assert AuditLog.objects.filter(action="auth.2fa_enable", user=customer).count() == 1

    def test_a_wrong_code_is_refused(self, client_for, customer):
        client = client_for(customer)
        secret = client.post("/api/auth/2fa/setup").json()["data"]["secret"]
        wrong = "000000" if code_at(secret) != "000000" else "111111"
        response = client.post("/api/auth/2fa/enable", {"code": wrong}, format="json")
        assert response.status_code == 400
        assert response.json()["fields"] == {"code": ["Invalid two-factor code"]}
        assert not device(customer).is_enabled

    def test_it_needs_setup_first(self, client_for, customer):
        response = client_for(customer).post("/api/auth/2fa/enable", {"code": "123456"}, format="json")
        assert response.status_code == 400
        assert "POST /api/auth/2fa/setup" in response.json()["message"]

    def test_it_is_refused_when_already_on(self, client_for, customer, two_factor):
        secret, _ = two_factor
        response = client_for(customer).post("/api/auth/2fa/enable", {"code": code_at(secret)}, format="json")
        assert response.status_code == 409

    def test_the_code_is_required(self, client_for, customer):
        response = client_for(customer).post("/api/auth/2fa/enable", {}, format="json")
        assert response.status_code == 400
        assert "code" in response.json()["fields"]


class TestDisable:
    def test_password_and_code_turn_it_off(self, client_for, customer, two_factor):
        secret, _ = two_factor
        body = {"password": PASSWORD, "code": code_at(secret)}
        response = client_for(customer).post("/api/auth/2fa/disable", body, format="json")
        assert response.status_code == 200
        assert not TwoFactorDevice.objects.filter(user=customer).exists()
        assert AuditLog.objects.filter(action="auth.2fa_disable", user=customer).count() == 1

    def test_a_recovery_code_works_instead_of_a_totp_code(self, client_for, customer, two_factor):
        _, recovery = two_factor
        body = {"password": PASSWORD, "code": recovery[3]}
        assert client_for(customer).post("/api/auth/2fa/disable", body, format="json").status_code == 200
        assert not TwoFactorDevice.objects.filter(user=customer).exists()

    def test_a_wrong_password_is_refused(self, client_for, customer, two_factor):
        secret, _ = two_factor
        body = {"password": "not-my-password", "code": code_at(secret)}
        response = client_for(customer).post("/api/auth/2fa/disable", body, format="json")
        assert response.status_code == 400
        assert response.json()["fields"] == {"password": ["Password is incorrect."]}
        assert device(customer).is_enabled
        assert device(customer).last_used_step == 0  # the code was not spent

    def test_a_wrong_code_is_refused(self, client_for, customer, two_factor):
        body = {"password": PASSWORD, "code": "abcd-efgh"}
        response = client_for(customer).post("/api/auth/2fa/disable", body, format="json")
        assert response.status_code == 400
        assert response.json()["fields"] == {"code": ["Invalid two-factor code"]}
        assert device(customer).is_enabled

    def test_it_is_refused_when_two_factor_is_off(self, client_for, customer):
        body = {"password": PASSWORD, "code": "123456"}
        assert client_for(customer).post("/api/auth/2fa/disable", body, format="json").status_code == 409

    def test_wrong_attempts_are_limited_per_user(self, client_for, customer, two_factor, settings):
        settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 2
        client = client_for(customer)
        for _ in range(2):
            body = {"password": "not-my-password", "code": "123456"}
            assert client.post("/api/auth/2fa/disable", body, format="json").status_code == 400
        secret, _ = two_factor
        body = {"password": PASSWORD, "code": code_at(secret)}
        response = client.post("/api/auth/2fa/disable", body, format="json")
        assert response.status_code == 429
        assert response.json()["message"].startswith("Too many failed attempts. Try again in")
        assert device(customer).is_enabled


class TestRecoveryCodes:
    def test_a_totp_code_gives_new_codes_and_the_old_ones_stop_working(
        self, client_for, customer, two_factor
    ):
        secret, old = two_factor
        response = client_for(customer).post(
            "/api/auth/2fa/recovery-codes", {"code": code_at(secret)}, format="json"
        )
        assert response.status_code == 200
        new = response.json()["data"]["recoveryCodes"]
        assert len(new) == 10
        assert not set(new) & set(old)
        assert not twofactor.code_verify(device=device(customer), code=old[0])
        assert twofactor.code_verify(device=device(customer), code=new[0])

    def test_a_recovery_code_is_not_enough(self, client_for, customer, two_factor):
        _, recovery = two_factor
        response = client_for(customer).post(
            "/api/auth/2fa/recovery-codes", {"code": recovery[0]}, format="json"
        )
        assert response.status_code == 400
        assert len(device(customer).recovery_codes) == 10

    def test_a_wrong_code_is_refused(self, client_for, customer, two_factor):
        response = client_for(customer).post("/api/auth/2fa/recovery-codes", {"code": "12345"}, format="json")
        assert response.status_code == 400

    def test_it_is_refused_when_two_factor_is_off(self, client_for, customer):
        response = client_for(customer).post(
            "/api/auth/2fa/recovery-codes", {"code": "123456"}, format="json"
        )
        assert response.status_code == 409


class TestCodesWorkOnce:
    def test_a_totp_code_is_refused_the_second_time(self, customer, two_factor):
        secret, _ = two_factor
        code = code_at(secret)
        assert twofactor.code_verify(device=device(customer), code=code)
        assert not twofactor.code_verify(device=device(customer), code=code)

    def test_a_code_of_an_earlier_step_than_the_last_used_is_refused(self, customer, two_factor):
        secret, _ = two_factor
        assert twofactor.code_verify(device=device(customer), code=code_at(secret, +1))
        assert not twofactor.code_verify(device=device(customer), code=code_at(secret, 0))

    def test_the_previous_and_next_steps_are_accepted_but_not_further(self, customer, two_factor):
        secret, _ = two_factor
        assert not twofactor.code_verify(device=device(customer), code=code_at(secret, -3))
        assert not twofactor.code_verify(device=device(customer), code=code_at(secret, +3))
        assert twofactor.code_verify(device=device(customer), code=code_at(secret, -1))
        assert twofactor.code_verify(device=device(customer), code=code_at(secret, +1))

    def test_a_request_holding_a_stale_device_cannot_spend_a_code_again(self, customer, two_factor):
        secret, _ = two_factor
        code = code_at(secret)
        first, second = device(customer), device(customer)  # both read before either spends the code
        assert twofactor.code_verify(device=first, code=code)
        assert second.last_used_step == 0
        assert not twofactor.code_verify(device=second, code=code)

    def test_a_recovery_code_works_once(self, customer, two_factor):
        _, recovery = two_factor
        assert twofactor.code_verify(device=device(customer), code=recovery[0])
        assert not twofactor.code_verify(device=device(customer), code=recovery[0])
        assert len(device(customer).recovery_codes) == 9

    def test_recovery_codes_are_read_leniently(self, customer, two_factor):
        _, recovery = two_factor
        assert twofactor.code_verify(
            device=device(customer), code=f"  {recovery[1].upper().replace('-', '')} "
        )

    def test_recovery_codes_are_refused_where_only_totp_is_allowed(self, customer, two_factor):
        _, recovery = two_factor
        assert not twofactor.code_verify(device=device(customer), code=recovery[0], allow_recovery=False)


@pytest.mark.django_db(transaction=True)
class TestConcurrentUse:
    @staticmethod
    def race(target, *, row: TwoFactorDevice) -> list[bool]:
        """Run `target` in two threads that both start while the device row is locked, then let them go."""
        results: list[bool] = []

        def run():
            try:
                results.append(target())
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        with transaction.atomic():
            TwoFactorDevice.objects.select_for_update().get(pk=row.pk)
            for thread in threads:
                thread.start()
            # Both have read the device and now wait for the row: PostgreSQL shows them waiting.
            wait_for(lambda: lock_waiters() >= 2 or results, 30, "both requests to wait on the device's row")
            assert not results, "a request passed while the device's row was held"
        for thread in threads:
            thread.join(timeout=30)
        return results

    def test_two_requests_with_the_same_totp_code_cannot_both_pass(self, customer, two_factor):
        secret, _ = two_factor
        code = code_at(secret)
        stale = [device(customer), device(customer)]
        results = self.race(lambda: twofactor.code_verify(device=stale.pop(), code=code), row=stale[0])
        assert sorted(results) == [False, True]

    def test_two_requests_with_the_same_recovery_code_cannot_both_pass(self, customer, two_factor):
        _, recovery = two_factor
        stale = [device(customer), device(customer)]
        results = self.race(lambda: twofactor.code_verify(device=stale.pop(), code=recovery[0]), row=stale[0])
        assert sorted(results) == [False, True]
        assert len(device(customer).recovery_codes) == 9


class TestLogin:
    def test_a_correct_password_returns_a_challenge_and_no_token(self, api, customer, two_factor):
        response = login(api)
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        assert body["data"]["twoFactorRequired"] is True
        assert set(body["data"]) == {"twoFactorRequired", "challengeToken"}
        assert customer.login_sessions.count() == 0

    def test_a_wrong_password_is_refused_as_usual(self, api, customer, two_factor):
        response = login(api, password="wrong-password")
        assert response.status_code == 401
        assert response.json()["message"] == "Invalid email or password"

    def test_the_challenge_and_a_totp_code_log_in(self, api, customer, two_factor):
        secret, _ = two_factor
        challenge = login(api).json()["data"]["challengeToken"]
        response = login_2fa(api, challenge, code_at(secret))
        assert response.status_code == 200
        data = response.json()["data"]
        assert set(data) == {"userId", "email", "username", "token", "refreshToken", "expiresAt"}
        assert data["userId"] == str(customer.pk)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {data['token']}")
        assert client.get("/api/auth/me").status_code == 200
        customer.refresh_from_db()
        assert customer.last_login is not None

    def test_a_recovery_code_logs_in_once(self, api, customer, two_factor):
        _, recovery = two_factor
        assert login_2fa(api, login(api).json()["data"]["challengeToken"], recovery[0]).status_code == 200
        again = login_2fa(api, login(api).json()["data"]["challengeToken"], recovery[0])
        assert again.status_code == 401
        assert again.json()["message"] == "Invalid two-factor code"

    def test_a_wrong_code_is_refused_and_the_challenge_may_be_retried(self, api, customer, two_factor):
        secret, _ = two_factor
        challenge = login(api).json()["data"]["challengeToken"]
        wrong = login_2fa(api, challenge, "000000" if code_at(secret) != "000000" else "111111")
        assert wrong.status_code == 401
        assert wrong.json()["message"] == "Invalid two-factor code"
        assert customer.login_sessions.count() == 0
        assert login_2fa(api, challenge, code_at(secret)).status_code == 200

    def test_a_used_challenge_is_refused(self, api, customer, two_factor):
        secret, _ = two_factor
        challenge = login(api).json()["data"]["challengeToken"]
        assert login_2fa(api, challenge, code_at(secret, 0)).status_code == 200
        again = login_2fa(api, challenge, code_at(secret, +1))
        assert again.status_code == 401
        assert again.json()["message"] == CHALLENGE_EXPIRED

    def test_a_used_challenge_is_refused_even_if_the_login_time_did_not_change(
        self, api, customer, two_factor
    ):
        secret, _ = two_factor
        challenge = login(api).json()["data"]["challengeToken"]
        _, nonce = twofactor.challenge_open(token=challenge)
        assert twofactor.challenge_claim(nonce=nonce)
        response = login_2fa(api, challenge, code_at(secret))
        assert response.status_code == 401
        assert response.json()["message"] == CHALLENGE_EXPIRED

    def test_an_expired_challenge_is_refused(self, api, customer, two_factor, monkeypatch):
        secret, _ = two_factor
        issued = int(time.time()) - twofactor.CHALLENGE_MAX_AGE - 1
        with monkeypatch.context() as patch:
            patch.setattr(signing.TimestampSigner, "timestamp", lambda signer: signing.b62_encode(issued))
            challenge = twofactor.challenge_issue(user=customer)
        response = login_2fa(api, challenge, code_at(secret))
        assert response.status_code == 401
        assert response.json()["message"] == CHALLENGE_EXPIRED
        assert device(customer).last_used_step == 0

    def test_a_challenge_dies_when_the_password_changes(self, api, customer, two_factor):
        secret, _ = two_factor
        challenge = login(api).json()["data"]["challengeToken"]
        customer.set_password("changed-meanwhile")
        customer.save()
        assert login_2fa(api, challenge, code_at(secret)).json()["message"] == CHALLENGE_EXPIRED

    def test_a_challenge_of_a_deactivated_user_is_refused(self, api, customer, two_factor):
        secret, _ = two_factor
        challenge = login(api).json()["data"]["challengeToken"]
        User.objects.filter(pk=customer.pk).update(is_active=False)
        assert login_2fa(api, challenge, code_at(secret)).status_code == 401

    @pytest.mark.parametrize("token", ["garbage", "", "a" * 1001])
    def test_a_forged_or_malformed_challenge_is_refused(self, api, customer, two_factor, token):
        response = login_2fa(api, token, "123456")
        assert response.status_code in (400, 401)
        if token == "garbage":
            assert response.json()["message"] == CHALLENGE_EXPIRED

    def test_a_challenge_signed_for_something_else_is_refused(self, api, customer, two_factor):
        secret, _ = two_factor
        forged = signing.dumps({"u": str(customer.pk), "n": "x", "f": "x"})
        assert login_2fa(api, forged, code_at(secret)).status_code == 401

    def test_users_without_two_factor_log_in_in_one_step(self, api, customer):
        response = login(api)
        assert "token" in response.json()["data"]

    def test_an_unconfirmed_device_does_not_ask_for_a_code(self, client_for, api, customer):
        client_for(customer).post("/api/auth/2fa/setup")
        assert "token" in login(api).json()["data"]


class TestRequiredTwoFactor:
    @pytest.fixture
    def strict_admin(self, admin, roles):
        roles["Administrator"].requires_two_factor = True
        roles["Administrator"].save()
        return admin

    def test_other_endpoints_are_refused_until_it_is_set_up(self, client_for, strict_admin):
        response = client_for(strict_admin).get("/api/admin/users")
        assert response.status_code == 403
        assert response.json() == {"error": "Forbidden", "statusCode": 403, "message": TWO_FACTOR_REQUIRED}

    def test_setup_me_logout_and_password_stay_open(self, client_for, strict_admin):
        client = client_for(strict_admin)
        assert client.get("/api/auth/me").status_code == 200
        secret = client.post("/api/auth/2fa/setup").json()["data"]["secret"]
        assert (
            client.post("/api/auth/2fa/enable", {"code": code_at(secret)}, format="json").status_code == 200
        )
        body = {"currentPassword": PASSWORD, "newPassword": "another-long-password"}
        assert client.post("/api/auth/password", body, format="json").status_code == 200
        assert client.post("/api/auth/logout", {}, format="json").status_code == 200

    def test_the_same_token_works_everywhere_once_it_is_enabled(self, client_for, strict_admin):
        client = client_for(strict_admin)
        secret = client.post("/api/auth/2fa/setup").json()["data"]["secret"]
        assert client.get("/api/admin/users").status_code == 403  # set up but not confirmed
        client.post("/api/auth/2fa/enable", {"code": code_at(secret)}, format="json")
        assert client.get("/api/admin/users").status_code == 200

    def test_a_change_of_the_role_takes_effect_on_the_next_request(self, client_for, admin, roles):
        client = client_for(admin)
        assert client.get("/api/admin/users").status_code == 200
        roles["Administrator"].requires_two_factor = True
        roles["Administrator"].save()
        assert client.get("/api/admin/users").status_code == 403
        roles["Administrator"].requires_two_factor = False
        roles["Administrator"].save()
        assert client.get("/api/admin/users").status_code == 200

    def test_users_of_other_roles_are_not_affected(self, client_for, strict_admin, customer):
        assert client_for(customer).get("/api/admin/users").status_code == 403
        assert client_for(customer).get("/api/admin/users").json()["message"] != TWO_FACTOR_REQUIRED
        assert client_for(customer).get("/api/auth/me").status_code == 200

    def test_login_still_works_so_they_can_set_it_up(self, api, strict_admin):
        assert "token" in login(api, "admin@example.com").json()["data"]
