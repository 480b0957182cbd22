"""Bearer authentication: a JWT whose login session is still open."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.models import LoginSession
from accounts.tokens import SESSION_CLAIM


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
        return self.get_user(token), token

    def get_user(self, validated_token):
        return user_for_access_token(validated_token)


def user_for_access_token(token):
    """The active user of a validated access token whose session was not revoked (one query)."""
    session = (
        LoginSession.objects.select_related("user")
        .filter(pk=token.get(SESSION_CLAIM), revoked_at__isnull=True)
        .first()
    )
    if session is None or str(session.user_id) != str(token.get("userId")):
        raise exceptions.AuthenticationFailed(_("This session has ended; log in again"))
    if not session.user.is_active:
        raise exceptions.AuthenticationFailed(_("This account is deactivated"))
    return session.user
