"""Bearer authentication: a JWT whose login session is still open."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.models import LoginSession, TwoFactorDevice
from accounts.tokens import SESSION_CLAIM

TWO_FACTOR_REQUIRED = (
    "Two-factor authentication is required for your account. Set it up with POST /api/auth/2fa/setup."
)
# What a user who still owes two-factor setup may use: enough to see who they are, set it up or leave.
TWO_FACTOR_SETUP_PATHS = ("/api/auth/me", "/api/auth/logout", "/api/auth/password")
TWO_FACTOR_SETUP_PREFIX = "/api/auth/2fa/"


class JWTAuthentication(SimpleJWTAuthentication):
    www_authenticate_realm = "api"

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        try:
            token = self.get_validated_token(raw)
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token")) from exc
        user = self.get_user(token)
        require_two_factor(request, user)
        return user, token

    def get_user(self, validated_token):
        return user_for_access_token(validated_token)


def user_for_access_token(token):
    """The active user of a validated access token whose session was not revoked, with their two-factor
    device and roles: two queries, and neither the two-factor check nor the permission checks of the
    request ask for more."""
    session = (
        LoginSession.objects.select_related("user__two_factor")
        .prefetch_related("user__roles")
        .filter(pk=token.get(SESSION_CLAIM), revoked_at__isnull=True)
        .first()
    )
    if session is None or str(session.user_id) != str(token.get("userId")):
        raise exceptions.AuthenticationFailed(_("This session has ended; log in again"))
    if not session.user.is_active:
        raise exceptions.AuthenticationFailed(_("This account is deactivated"))
    return session.user


def two_factor_missing(user) -> bool:
    """True when one of the user's roles requires two-factor authentication and they have not enabled it."""
    if not any(role.requires_two_factor for role in user.roles.all()):
        return False
    try:
        return user.two_factor.confirmed_at is None
    except TwoFactorDevice.DoesNotExist:
        return True


def require_two_factor(request, user) -> None:
    """403 on every endpoint but the setup ones while the user owes two-factor setup (checked per request)."""
    path = request.path_info
    if path in TWO_FACTOR_SETUP_PATHS or path.startswith(TWO_FACTOR_SETUP_PREFIX):
        return
    if two_factor_missing(user):
        raise exceptions.PermissionDenied(TWO_FACTOR_REQUIRED)
