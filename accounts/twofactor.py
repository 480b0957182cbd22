"""TOTP two-factor authentication: devices, codes that work once, recovery codes and login challenges."""

import hashlib
import hmac
import secrets
import time
import uuid

import pyotp
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.audit import audit
from accounts.models import TwoFactorDevice, User
from config.api.throttling import charge, refund, too_many_attempts
from config.crypto import decrypt, encrypt
from config.errors import IllegalTransition, InvalidInput, NotAuthenticated

RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
CHALLENGE_MAX_AGE = 5 * 60
CHALLENGE_SALT = "accounts.twofactor.challenge"
CODE_ATTEMPT_WINDOW = 15 * 60

INVALID_CODE = "Invalid two-factor code"
CHALLENGE_EXPIRED = "This login has expired or was already used. Log in again."


def device_for(user: User, *, enabled: bool = True) -> TwoFactorDevice | None:
    """The user's device: a confirmed one when `enabled`, else one still waiting for its first code."""
    return (
        TwoFactorDevice.objects.select_related("user")
        .filter(user=user, confirmed_at__isnull=not enabled)
        .first()
    )


def is_enabled(user: User) -> bool:
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


# Codes ------------------------------------------------------------------------------------------


def _totp(device: TwoFactorDevice) -> pyotp.TOTP:
    return pyotp.TOTP(decrypt(device.secret))


def _spend_totp(device: TwoFactorDevice, code: str) -> bool:
    """Accept a code of the previous, current or next time step, each step once."""
    totp = _totp(device)
    now_step = int(time.time()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if step > device.last_used_step and hmac.compare_digest(totp.generate_otp(step), code):
            # Compare-and-set: of two requests carrying the same code only one moves the step on.
            return bool(
                TwoFactorDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(
                    last_used_step=step
                )
            )
    return False


def _canonical_recovery_code(code: str) -> str:
    letters = "".join(ch for ch in code.lower() if ch.isalnum())
    return f"{letters[:4]}-{letters[4:]}"


def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(_canonical_recovery_code(code).encode()).hexdigest()


def _new_recovery_codes() -> tuple[list[str], list[str]]:
    """Fresh codes (`xxxx-xxxx`) and their hashes; only the hashes are stored."""
    codes = [
        "-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(4)) for _ in range(2))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    return codes, [_hash_recovery_code(code) for code in codes]


@transaction.atomic
def _spend_recovery_code(device: TwoFactorDevice, code: str) -> bool:
    digest = _hash_recovery_code(code)
    locked = TwoFactorDevice.objects.select_for_update().get(pk=device.pk)
    if digest not in locked.recovery_codes:
        return False
    locked.recovery_codes = [stored for stored in locked.recovery_codes if stored != digest]
    locked.save(update_fields=["recovery_codes"])
    return True


def code_verify(*, device: TwoFactorDevice, code: str, allow_recovery: bool = True) -> bool:
    """Spend `code`: a TOTP code (six digits) or, when allowed, a recovery code. Each works once."""
    code = "".join(code.split())
    if len(code) == 6 and code.isdigit():
        return _spend_totp(device, code)
    if allow_recovery and len(code.replace("-", "")) == 8:
        return _spend_recovery_code(device, code)
    return False


def _require_proof(
    *, device: TwoFactorDevice, code: str, allow_recovery: bool, password: str | None = None
) -> None:
    """Check a code (and the password) for an account change; failures are limited per user."""
    ident = f"user:{device.user_id}"
    limit = settings.LOGIN_ATTEMPTS_PER_ACCOUNT
    within, state = charge("two-factor-code", ident, limit=limit, window=CODE_ATTEMPT_WINDOW)
    if not within:
        raise too_many_attempts("Too many failed attempts. Try again in {wait} seconds.", state=state)
    if password is not None and not device.user.check_password(password):
        raise InvalidInput({"password": ["Password is incorrect."]})
    if not code_verify(device=device, code=code, allow_recovery=allow_recovery):
        raise InvalidInput({"code": [INVALID_CODE]})
    refund("two-factor-code", ident, state, window=CODE_ATTEMPT_WINDOW)


# Device lifecycle ---------------------------------------------------------------------------------


@transaction.atomic
def twofactor_setup(*, user: User) -> dict:
    """Start (or restart) enrolment: a new secret on an unconfirmed device, shown this once."""
    if is_enabled(user):
        raise IllegalTransition(
            "Two-factor authentication is already enabled. Disable it first to set up a new device."
        )
    secret = pyotp.random_base32()
    TwoFactorDevice.objects.update_or_create(
        user=user,
        defaults={"secret": encrypt(secret), "confirmed_at": None, "last_used_step": 0, "recovery_codes": []},
    )
    url = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=settings.TWO_FACTOR_ISSUER)
    return {"secret": secret, "otpauth_url": url}


@transaction.atomic
def twofactor_enable(*, user: User, code: str, request=None) -> list[str]:
    """Confirm the device with its first code; returns the recovery codes (shown this once)."""
    if is_enabled(user):
        raise IllegalTransition("Two-factor authentication is already enabled.")
    device = device_for(user, enabled=False)
    if device is None:
        raise InvalidInput("Set up two-factor authentication first: POST /api/auth/2fa/setup.")
    _require_proof(device=device, code=code, allow_recovery=False)
    codes, hashes = _new_recovery_codes()
    enabled = TwoFactorDevice.objects.filter(pk=device.pk, confirmed_at__isnull=True).update(
        confirmed_at=timezone.now(), recovery_codes=hashes
    )
    if not enabled:
        raise IllegalTransition("Two-factor authentication is already enabled.")
    audit("auth.2fa_enable", actor=user, request=request, resource=device)
    return codes


@transaction.atomic
def twofactor_disable(*, user: User, password: str, code: str, request=None) -> None:
    """Turn two-factor off: needs the password and a TOTP or recovery code."""
    device = device_for(user)
    if device is None:
        raise IllegalTransition("Two-factor authentication is not enabled.")
    _require_proof(device=device, code=code, allow_recovery=True, password=password)
    audit("auth.2fa_disable", actor=user, request=request, resource=device)
    device.delete()


@transaction.atomic
def twofactor_recovery_codes_regenerate(*, user: User, code: str, request=None) -> list[str]:
    """Replace every recovery code (a TOTP code proves the device is at hand); old ones stop working."""
    device = device_for(user)
    if device is None:
        raise IllegalTransition("Two-factor authentication is not enabled.")
    _require_proof(device=device, code=code, allow_recovery=False)
    codes, hashes = _new_recovery_codes()
    TwoFactorDevice.objects.filter(pk=device.pk).update(recovery_codes=hashes)
    audit("auth.2fa_recovery_codes", actor=user, request=request, resource=device)
    return codes


# Login challenges -----------------------------------------------------------------------------------


def _fingerprint(user: User) -> str:
    # Changes when the password does or a login completes, so an old challenge dies with them.
    last_login = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
    return salted_hmac(CHALLENGE_SALT, f"{user.pk}{user.password}{last_login}").hexdigest()[:20]


def challenge_issue(*, user: User) -> str:
    """A signed, five-minute proof that `user` gave the right password; redeemed with a code."""
    payload = {"u": str(user.pk), "n": uuid.uuid4().hex, "f": _fingerprint(user)}
    return signing.dumps(payload, salt=CHALLENGE_SALT, compress=True)


def challenge_open(*, token: str) -> tuple[User, str]:
    """The user and nonce of a valid challenge, or 401 asking to log in again."""
    try:
        payload = signing.loads(token, salt=CHALLENGE_SALT, max_age=CHALLENGE_MAX_AGE)
        user = User.objects.get(pk=payload["u"], is_active=True)
    except (signing.BadSignature, KeyError, TypeError, ValueError, User.DoesNotExist) as exc:
        raise NotAuthenticated(CHALLENGE_EXPIRED) from exc
    if not hmac.compare_digest(str(payload.get("f", "")), _fingerprint(user)):
        raise NotAuthenticated(CHALLENGE_EXPIRED)
    if cache.get(_challenge_key(payload["n"])) is not None:
        raise NotAuthenticated(CHALLENGE_EXPIRED)
    return user, payload["n"]


def _challenge_key(nonce: str) -> str:
    return f"2fa-challenge:{nonce}"


def challenge_claim(*, nonce: str) -> bool:
    """Mark the challenge used; False when another request already did."""
    return cache.add(_challenge_key(nonce), 1, timeout=CHALLENGE_MAX_AGE + 5)


def challenge_release(*, nonce: str) -> None:
    """Give a claimed challenge back (the code was wrong, so the user may retry with it)."""
    cache.delete(_challenge_key(nonce))
