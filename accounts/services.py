"""Account state changes: registration, login sessions, token refresh and logout."""

from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import LoginSession, Role, User
from accounts.tokens import SESSION_CLAIM, issue_tokens

DEFAULT_SIGNUP_ROLE = "Customer"


def _open_session(*, user: User, ip: str | None, user_agent: str) -> dict:
    session = LoginSession.objects.create(user=user, ip_address=ip, user_agent=user_agent[:300])
    return issue_tokens(user, session)


@transaction.atomic
def user_register(
    *, email: str, username: str, password: str, ip: str | None = None, user_agent: str = ""
) -> dict:
    """Create a customer account and log it in."""
    if User.objects.filter(email__iexact=email).exists():
        raise exceptions.ValidationError({"email": ["Email already exists"]})
    if User.objects.filter(username__iexact=username).exists():
        raise exceptions.ValidationError({"username": ["Username already exists"]})
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, username=username, password=password)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise exceptions.ValidationError({"email": ["Email already exists"]}) from exc
    if role := Role.objects.filter(name=DEFAULT_SIGNUP_ROLE).first():
        user.roles.add(role)
    return {"user": user, **_open_session(user=user, ip=ip, user_agent=user_agent)}


def user_login(*, email: str, password: str, ip: str | None = None, user_agent: str = "") -> dict:
    """Check credentials and open a login session. Unknown email and wrong password read alike."""
    user = authenticate(username=email.strip().lower(), password=password)
    if user is None:
        inactive = User.objects.filter(email__iexact=email.strip(), is_active=False).first()
        if inactive is not None and inactive.check_password(password):
            raise exceptions.AuthenticationFailed("This account is deactivated. Contact an administrator.")
        raise exceptions.AuthenticationFailed("Invalid email or password")
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return {"user": user, **_open_session(user=user, ip=ip, user_agent=user_agent)}


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise exceptions.AuthenticationFailed("Refresh token is invalid, expired or already used") from exc


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


@transaction.atomic
def tokens_refresh(*, refresh_token: str) -> dict:
    """Rotate: the presented refresh token is spent and a new pair is issued with current claims."""
    refresh = _parse_refresh(refresh_token)
    session = (
        LoginSession.objects.select_for_update()
        .select_related("user")
        .filter(pk=refresh.get(SESSION_CLAIM), revoked_at__isnull=True)
        .first()
    )
    if session is None or not session.user.is_active:
        raise exceptions.AuthenticationFailed("This session has ended; log in again")
    if not _spend(refresh):
        raise exceptions.AuthenticationFailed("Refresh token is invalid, expired or already used")
    session.last_refreshed_at = timezone.now()
    session.save(update_fields=["last_refreshed_at"])
    return {"user": session.user, **issue_tokens(session.user, session)}


@transaction.atomic
def session_logout(*, session_id: str, refresh_token: str | None = None) -> None:
    """End a login session: its access tokens stop working and its refresh token is spent."""
    LoginSession.objects.filter(pk=session_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
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
