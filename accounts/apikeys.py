"""API keys: `hth_<prefix>_<secret>`, stored as a sha256, looked up by prefix, narrowed by scope and address."""

import hashlib
import hmac
import ipaddress
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.audit import audit
from accounts.models import ApiKey, User
from accounts.permissions import SERVER_SCOPED, global_permissions, grants, unknown
from config import realtime
from config.addresses import client_address, parse_address

KEY_MARK = "hth_"
LAST_USED_RESOLUTION = timedelta(seconds=60)  # don't write on every request


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_scope(user: User, permissions: list[str]) -> None:
    if bad := unknown(permissions):
        raise exceptions.ValidationError({"permissions": [f"Unknown permissions: {', '.join(bad)}"]})
    held = global_permissions(user)
    beyond = [p for p in permissions if not grants(held, p) and p not in SERVER_SCOPED]
    if beyond:
        raise exceptions.ValidationError(
            {"permissions": [f"A key cannot hold permissions you do not have: {', '.join(beyond)}"]}
        )


def _check_networks(allowed_ips: list[str]) -> list[str]:
    networks = []
    for entry in allowed_ips:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as exc:
            raise exceptions.ValidationError(
                {"allowed_ips": [f"'{entry}' is not an IP address or CIDR range (e.g. 203.0.113.0/24)."]}
            ) from exc
    return networks


@transaction.atomic
def apikey_create(
    *,
    user: User,
    name: str,
    permissions: list[str] | None = None,
    allowed_ips: list[str] | None = None,
    expires_at=None,
    request=None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is shown this once and never stored."""
    if permissions is not None:
        _check_scope(user, permissions)
    if expires_at is not None and expires_at <= timezone.now():
        raise exceptions.ValidationError({"expires_at": ["The expiry must be in the future."]})
    prefix = secrets.token_hex(4)
    raw = f"{KEY_MARK}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=_hash(raw),
        permissions=permissions,
        allowed_ips=_check_networks(allowed_ips or []),
        expires_at=expires_at,
    )
    audit("apikey.create", actor=user, request=request, resource=key, name=name, prefix=prefix)
    return key, raw


@transaction.atomic
def apikey_revoke(*, key: ApiKey, actor=None, request=None) -> bool:
    """Revoke a key; it stops working on the next request. False when it was already revoked."""
    revoked = bool(
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )
    if revoked:
        realtime.access_changed(realtime.user_group(key.user_id))
        audit("apikey.revoke", actor=actor, request=request, resource=key, prefix=key.prefix)
    return revoked


def _address_allowed(key: ApiKey, ip: str | None) -> bool:
    if not key.allowed_ips:
        return True
    address = parse_address(ip)
    if address is None:
        return False
    return any(address in ipaddress.ip_network(net) for net in key.allowed_ips)


def apikey_authenticate(raw: str, *, ip: str | None) -> tuple[User, ApiKey]:
    """The user and key behind `raw`, or AuthenticationFailed saying why."""
    prefix = raw[len(KEY_MARK) :].split("_", 1)[0]
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(raw)):
        raise exceptions.AuthenticationFailed("Invalid API key")
    now = timezone.now()
    if key.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This API key was revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise exceptions.AuthenticationFailed("This API key has expired")
    if not key.user.is_active:
        raise exceptions.AuthenticationFailed("This account is deactivated")
    if not _address_allowed(key, ip):
        raise exceptions.AuthenticationFailed(f"This API key may not be used from {ip}")
    ApiKey.objects.filter(pk=key.pk).exclude(last_used_at__gt=now - LAST_USED_RESOLUTION).update(
        last_used_at=now, last_used_ip=ip
    )
    user = key.user
    user.token_scope = key.permissions  # None: everything the owner holds
    return user, key


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer hth_…`. Other bearer tokens are left to the JWT authenticator."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer" or not parts[1].startswith(KEY_MARK.encode()):
            return None
        from accounts.authentication import require_two_factor

        user, key = apikey_authenticate(parts[1].decode(errors="replace"), ip=client_address(request))
        require_two_factor(request, user)
        return user, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
