"""Account state changes: registration, login sessions, token refresh, logout and passwords."""

import hashlib
import logging
from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import twofactor
from accounts.audit import audit
from accounts.models import LoginSession, Role, User
from accounts.tokens import SESSION_CLAIM, issue_tokens
from config import realtime
from config.api.throttling import RateLimitState, charge, refund, too_many_attempts
from config.errors import InvalidInput, NotAuthenticated

logger = logging.getLogger(__name__)

DEFAULT_SIGNUP_ROLE = "Customer"


def _open_session(*, user: User, ip: str | None, user_agent: str) -> dict:
    session = LoginSession.objects.create(user=user, ip_address=ip, user_agent=user_agent[:300])
    return issue_tokens(user, session)


def user_create_unique(*, email: str, username: str, password: str) -> User:
    """Create a user, refusing an email or username already taken (whatever its case, even in a race)."""
    if User.objects.filter(email__iexact=email).exists():
        raise InvalidInput({"email": ["Email already exists"]})
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput({"username": ["Username already exists"]})
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, username=username, password=password)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise InvalidInput({"email": ["Email already exists"]}) from exc


@transaction.atomic
def user_register(
    *, email: str, username: str, password: str, ip: str | None = None, user_agent: str = ""
) -> dict:
    """Create a customer account and log it in."""
    user = user_create_unique(email=email, username=username, password=password)
    if role := Role.objects.filter(name=DEFAULT_SIGNUP_ROLE).first():
        user.roles.add(role)
    audit("auth.register", actor=user, resource=user, ip=ip)
    return {"user": user, **_open_session(user=user, ip=ip, user_agent=user_agent)}


def user_login(*, email: str, password: str, ip: str | None = None, user_agent: str = "") -> dict:
    """Check credentials and open a login session. Unknown email and wrong password read alike.

    With two-factor on, the answer is {"user", "challenge_token"} instead: redeem it with
    user_login_two_factor. Failed attempts are limited per account (see _login_failure_charge).
    """
    email = email.strip().lower()
    attempt = _login_failure_charge(email=email, ip=ip)
    user = authenticate(username=email, password=password)
    if user is None:
        _login_refuse_if_locked(attempt)
        inactive = User.objects.filter(email__iexact=email, is_active=False).first()
        if inactive is not None and inactive.check_password(password):
            raise NotAuthenticated("This account is deactivated. Contact an administrator.")
        raise NotAuthenticated("Invalid email or password")
    _login_failure_refund(attempt=attempt)
    if twofactor.is_enabled(user):
        return {"user": user, "challenge_token": twofactor.challenge_issue(user=user)}
    return _login_complete(user=user, ip=ip, user_agent=user_agent)


REFRESH_REFUSED = "Refresh token is invalid, expired or already used"
REFRESH_REUSED = "This refresh token was already used, so this login has ended; log in again"


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        message = REFRESH_REUSED if _end_session_if_spent(raw) else REFRESH_REFUSED
        raise NotAuthenticated(message) from exc


def _end_session_if_spent(raw: str) -> bool:
    """A genuine refresh token presented again after it was spent: someone holds a copy. End its login.

    Rotation hands out a new refresh token each time, so the rightful client never needs an old
    one again; whichever of the two (thief or owner) comes second ends the session for both.
    """
    from rest_framework_simplejwt.exceptions import TokenBackendError
    from rest_framework_simplejwt.state import token_backend

    try:
        payload = token_backend.decode(raw, verify=True)  # signature and expiry, blacklisted or not
    except (TokenError, TokenBackendError):
        return False
    if payload.get("token_type") != "refresh":
        return False
    if not BlacklistedToken.objects.filter(token__jti=payload.get("jti")).exists():
        return False
    _session_end_for_reuse(session_id=payload.get(SESSION_CLAIM))
    return True


@transaction.atomic
def _session_end_for_reuse(*, session_id) -> None:
    session = (
        LoginSession.objects.select_related("user").filter(pk=session_id, revoked_at__isnull=True).first()
    )
    if session is None:
        return
    LoginSession.objects.filter(pk=session.pk).update(revoked_at=timezone.now())
    realtime.access_changed(realtime.user_group(session.user_id))
    audit("auth.refresh_reuse", actor=session.user, resource=session.user, session=str(session.pk))
    logger.warning("A spent refresh token was presented again; login session %s ended", session.pk)


def _spend(refresh: RefreshToken) -> bool:
    """Blacklist a refresh token; False when another request spent it first."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=refresh["jti"],
        defaults={
            "token": str(refresh),
            "expires_at": datetime_from_epoch(refresh["exp"]),
            "user_id": refresh.get("userId"),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def tokens_refresh(*, refresh_token: str) -> dict:
    """Rotate: the presented refresh token is spent and a new pair is issued with current claims.

    A refresh token that was already spent ends its login session (token theft detection).
    """
    refresh = _parse_refresh(refresh_token)  # outside the transaction: ending a session must stick
    return _tokens_rotate(refresh)


@transaction.atomic
def _tokens_rotate(refresh: RefreshToken) -> dict:
    session = (
        LoginSession.objects.select_for_update()
        .select_related("user")
        .filter(pk=refresh.get(SESSION_CLAIM), revoked_at__isnull=True)
        .first()
    )
    if session is None or not session.user.is_active:
        raise NotAuthenticated("This session has ended; log in again")
    if not _spend(refresh):  # a parallel request spent it a moment ago
        raise NotAuthenticated(REFRESH_REFUSED)
    session.last_refreshed_at = timezone.now()
    session.save(update_fields=["last_refreshed_at"])
    return {"user": session.user, **issue_tokens(session.user, session)}


@transaction.atomic
def session_logout(*, session_id: str, refresh_token: str | None = None) -> None:
    """End a login session: its access tokens stop working and its refresh token is spent."""
    session = (
        LoginSession.objects.select_related("user").filter(pk=session_id, revoked_at__isnull=True).first()
    )
    if session is None:
        return
    LoginSession.objects.filter(pk=session_id).update(revoked_at=timezone.now())
    realtime.access_changed(realtime.user_group(session.user_id))
    audit("auth.logout", actor=session.user, resource=session.user)
    if refresh_token:
        try:
            refresh = RefreshToken(refresh_token)
        except TokenError:
            return  # already unusable
        if refresh.get(SESSION_CLAIM) == str(session_id):
            _spend(refresh)


def sessions_revoke_all(*, user: User, keep_session_id: str | None = None) -> int:
    """End every login session of `user` but one (used after a password change)."""
    sessions = LoginSession.objects.filter(user=user, revoked_at__isnull=True)
    if keep_session_id:
        sessions = sessions.exclude(pk=keep_session_id)
    realtime.access_changed(realtime.user_group(user.pk))
    return sessions.update(revoked_at=timezone.now())


def roles_ensure_defaults() -> list[Role]:
    """Create the default roles if missing (bootstrap); existing roles keep their edits."""
    from accounts.permissions import DEFAULT_ROLES

    roles = []
    for name, (description, permissions) in DEFAULT_ROLES.items():
        role, _ = Role.objects.get_or_create(
            name=name, defaults={"description": description, "permissions": permissions}
        )
        roles.append(role)
    return roles


# Failed logins per account, two-factor logins, passwords ----------------------------------------

LOGIN_FAILURE_WINDOW = 15 * 60
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
ACCOUNT_LOCKED = "Too many failed logins for this account. Try again in {wait} seconds."
RESET_INVALID = "This reset link is invalid or has expired. Ask for a new one."
RESET_EMAILS_PER_HOUR = 5


def _account_ident(email: str) -> str:
    # Hashed: anything can be typed as an email, and it should not end up verbatim in a cache key.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LoginAttempt:
    """The counts one attempt was charged to, so a success can take them back."""

    charged: tuple[tuple[str, str, RateLimitState], ...]
    within_account_limit: bool


def _login_failure_charge(*, email: str, ip: str | None) -> LoginAttempt:
    """Count this attempt as failed until it succeeds, so parallel guesses cannot pass the limit.

    Over the limit the account is locked: every attempt is refused before the password or code is
    looked at. An address that has logged in to this account before has a budget of its own (the
    same size) once the account is locked, so an attacker can lock strangers out but not the owner
    at their usual address, and the owner's address cannot be used to keep guessing either.
    Unknown emails are counted too, so the answer does not tell whether an account exists.
    """
    ident = _account_ident(email)
    within, state = charge(
        "login-account", ident, limit=settings.LOGIN_ATTEMPTS_PER_ACCOUNT, window=LOGIN_FAILURE_WINDOW
    )
    charged = [("login-account", ident, state)]
    if not within:
        if not _login_address_known(email=email, ip=ip):
            _login_refuse_locked(state)
        known_ident = f"{ident}:{ip}"
        known_within, known_state = charge(
            "login-known-address",
            known_ident,
            limit=settings.LOGIN_ATTEMPTS_PER_ACCOUNT,
            window=LOGIN_FAILURE_WINDOW,
        )
        if not known_within:
            _login_refuse_locked(known_state)
        charged.append(("login-known-address", known_ident, known_state))
    return LoginAttempt(charged=tuple(charged), within_account_limit=within)


def _login_refuse_locked(state: RateLimitState) -> NoReturn:
    raise too_many_attempts(ACCOUNT_LOCKED, state=state)


def _login_refuse_if_locked(attempt: LoginAttempt) -> None:
    """A wrong password or code while the account is locked answers as locked, not as wrong."""
    if not attempt.within_account_limit:
        _login_refuse_locked(attempt.charged[0][2])


def _login_failure_refund(*, attempt: LoginAttempt) -> None:
    for scope, ident, state in attempt.charged:
        refund(scope, ident, state, window=LOGIN_FAILURE_WINDOW)


def _known_address_key(email: str, ip: str) -> str:
    return f"login-address:{_account_ident(email)}:{ip}"


def _login_address_known(*, email: str, ip: str | None) -> bool:
    if not ip:
        return False
    try:
        return cache.get(_known_address_key(email, ip)) is not None
    except Exception:  # the cache is down: charge() let the attempt through already
        return False


def _login_complete(*, user: User, ip: str | None, user_agent: str) -> dict:
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    if ip:
        try:
            cache.set(_known_address_key(user.email, ip), 1, timeout=KNOWN_ADDRESS_SECONDS)
        except Exception:
            logger.warning("Could not remember the login address", exc_info=True)
    audit("auth.login", actor=user, resource=user, ip=ip)
    return {"user": user, **_open_session(user=user, ip=ip, user_agent=user_agent)}


def user_login_two_factor(
    *, challenge_token: str, code: str, ip: str | None = None, user_agent: str = ""
) -> dict:
    """Finish a two-factor login: the challenge from user_login plus a TOTP or recovery code."""
    user, nonce = twofactor.challenge_open(token=challenge_token)
    attempt = _login_failure_charge(email=user.email, ip=ip)
    device = twofactor.device_for(user)
    if device is None or not twofactor.challenge_claim(nonce=nonce):  # two-factor was turned off meanwhile
        raise NotAuthenticated(twofactor.CHALLENGE_EXPIRED)
    if not twofactor.code_verify(device=device, code=code):
        twofactor.challenge_release(nonce=nonce)
        _login_refuse_if_locked(attempt)
        raise NotAuthenticated(twofactor.INVALID_CODE)
    _login_failure_refund(attempt=attempt)
    return _login_complete(user=user, ip=ip, user_agent=user_agent)


@transaction.atomic
def user_password_change(
    *, user: User, current_password: str, new_password: str, keep_session_id: str | None = None, request=None
) -> None:
    """Change the password; every login session but `keep_session_id` ends."""
    if not user.check_password(current_password):
        raise InvalidInput({"current_password": ["Current password is incorrect."]})
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    sessions_revoke_all(user=user, keep_session_id=keep_session_id)
    audit("auth.password_change", actor=user, request=request, resource=user)


def password_reset_request(*, email: str) -> None:
    """Email a reset link when an active account has this address; nothing tells the caller which."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return
    within, _ = charge("password-reset-email", f"user:{user.pk}", limit=RESET_EMAILS_PER_HOUR, window=3600)
    if not within:
        return  # enough mail for this hour: don't let anyone flood the inbox
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    body = render_to_string(
        "accounts/password_reset_email.txt",
        {
            "user": user,
            "uid": uid,
            "token": token,
            "link": f"{settings.PUBLIC_URL}/reset-password?uid={uid}&token={token}",
            "minutes": max(1, settings.PASSWORD_RESET_TIMEOUT // 60),
        },
    )
    try:
        send_mail("Reset your Hearth password", body, None, [user.email])
    except Exception:  # a mail outage must not answer differently from an unknown address
        logger.exception("Could not send the password reset email to user %s", user.pk)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str, request=None) -> User:
    """Set a new password from an emailed link; the link then stops working and every session ends."""
    try:
        user_id = urlsafe_base64_decode(uid).decode()
        # Locked, so two requests with the same token cannot both pass the check below.
        user = User.objects.select_for_update().get(pk=user_id, is_active=True)
    except (ValueError, TypeError, OverflowError, DjangoValidationError, User.DoesNotExist) as exc:
        raise InvalidInput(RESET_INVALID) from exc
    if not default_token_generator.check_token(user, token):
        raise InvalidInput(RESET_INVALID)
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    sessions_revoke_all(user=user)
    audit("auth.password_reset", actor=user, request=request, resource=user)
    return user
