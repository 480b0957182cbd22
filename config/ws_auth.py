"""WebSocket authentication: `?token=` (a JWT or an API key), else the browser's session cookie."""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken


def _resolve(raw: str, ip: str | None):
    """(user, expires_at or None), or (None, reason)."""
    from accounts.apikeys import KEY_MARK, apikey_authenticate
    from accounts.authentication import two_factor_missing, user_for_access_token

    try:
        if raw.startswith(KEY_MARK):
            user, _ = apikey_authenticate(raw, ip=ip)
            expires = None
        else:
            token = AccessToken(raw)
            user, expires = user_for_access_token(token), token["exp"]
    except (TokenError, exceptions.AuthenticationFailed) as exc:
        return None, str(getattr(exc, "detail", exc))
    if two_factor_missing(user):
        return None, "Two-factor authentication is required for your account."
    return user, expires


def credentials_hold(scope) -> tuple[object | None, str]:
    """Check a socket's credentials again: (the user as they are now, "") or (None, why not).

    A token (JWT or API key) is resolved afresh: revoked, expired or disabled all fail. A session cookie
    follows the browser rules (accounts.browser): its login session must still be open.
    """
    from accounts.browser import why_ended
    from accounts.models import User

    if raw := scope.get("token"):
        user, detail = _resolve(raw, (scope.get("client") or [None])[0])
        return (user, "") if user is not None else (None, detail)
    user = User.objects.filter(pk=getattr(scope.get("user"), "pk", None)).first()
    if user is None:
        return None, "Not authenticated"
    reason = why_ended(scope["session"], user)
    return (None, reason) if reason else (user, "")


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        raw = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
        if raw:
            client = scope.get("client") or [None]
            user, detail = await database_sync_to_async(_resolve)(raw, client[0])
            if user is None:
                from django.contrib.auth.models import AnonymousUser

                scope["user"], scope["auth_error"] = AnonymousUser(), detail
            else:
                scope["user"], scope["token_expires_at"], scope["token"] = user, detail, raw
            return await self.inner(scope, receive, send)
        return await AuthMiddlewareStack(self.inner)(scope, receive, send)
