"""WebSocket authentication: `?token=` (a JWT or an API key), else the browser's session cookie.

Only a cookie is sent by the browser on its own, so only a cookie-authenticated socket has its
Origin checked (cross-site WebSocket hijacking): scheme, host and port must be one of the panel's
own origins. A token is proof in itself: bots and CLIs send no Origin, and are accepted whatever
Origin they send. A bad token is refused by the consumer with close code 4401.
"""

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from config.addresses import client_address, scope_is_secure

DEFAULT_PORTS = {"http": 80, "https": 443}


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
        user, detail = _resolve(raw, client_address(scope))
        return (user, "") if user is not None else (None, detail)
    user = User.objects.filter(pk=getattr(scope.get("user"), "pk", None)).first()
    if user is None:
        return None, "Not authenticated"
    reason = why_ended(scope["session"], user)
    return (None, reason) if reason else (user, "")


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case with the default port left out, or None if not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    host = f"[{host}]" if ":" in host else host
    port = port if port is not None and port != DEFAULT_PORTS[scheme] else None
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _header(scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers") or () if k.lower() == name]
    return values[-1].decode("latin-1") if len(values) == 1 else None  # two Origins: neither counts


def allowed_origins(scope) -> set[str]:
    """The panel's public URL, CSRF_TRUSTED_ORIGINS, and the origin the socket itself was opened on."""
    origins = {normalize_origin(settings.PUBLIC_URL)}
    origins |= {normalize_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    host = _header(scope, b"host")
    if host and validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        scheme = "https" if scope_is_secure(scope) else "http"
        origins.add(normalize_origin(f"{scheme}://{host}"))
    return origins - {None}


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    return origin is not None and normalize_origin(origin) in allowed_origins(scope)


def _has_session_cookie(scope) -> bool:
    cookie = _header(scope, b"cookie") or ""
    return f"{settings.SESSION_COOKIE_NAME}=" in cookie


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        raw = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
        if raw:
            user, detail = await database_sync_to_async(_resolve)(raw, client_address(scope))
            if user is None:
                from django.contrib.auth.models import AnonymousUser

                scope["user"], scope["auth_error"] = AnonymousUser(), detail
            else:
                scope["user"], scope["token_expires_at"], scope["token"] = user, detail, raw
            return await self.inner(scope, receive, send)
        if _has_session_cookie(scope) and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await AuthMiddlewareStack(self.inner)(scope, receive, send)
