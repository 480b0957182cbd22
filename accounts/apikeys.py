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
from accounts.permissions import CATALOGUE, SERVER_SCOPED, global_permissions, grants, unknown
from config import realtime
from config.addresses import client_address, parse_address
from config.errors import InvalidInput, NotAllowed

KEY_MARK = "hth_"
LAST_USED_RESOLUTION = timedelta(seconds=60)  # don't write on every request


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_scope(user: User, permissions: list[str]) -> None:
    held = global_permissions(user)
    # Server permissions are held on one's own servers (and where a member); the key is checked
    # against the server again on every use, so it never acts beyond its owner there.
    beyond = [p for p in permissions if not all(grants(held, c) or c in SERVER_SCOPED for c in _covered(p))]
    if beyond:
        raise InvalidInput(
            {"permissions": [f"A key cannot hold permissions you do not have: {', '.join(beyond)}"]}
        )


def _check_networks(allowed_ips: list[str]) -> list[str]:
    networks = []
    for entry in allowed_ips:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidInput(
                {"allowed_ips": [f"'{entry}' is not an IP address or CIDR range (e.g. 203.0.113.0/24)."]}
            ) from exc
    return networks


def _covered(permission: str) -> list[str]:
    """The catalogue entries a grant stands for (`server.*` is every server permission)."""
    return [p for p in CATALOGUE if grants([permission], p)] or [permission]


def _within_parent(parent: ApiKey, permissions, allowed_ips: list[str], expires_at):
    """A key may only make keys narrower than itself: scope, addresses and expiry (what it omits, it inherits)."""
    if parent.permissions is not None:
        if permissions is None:
            permissions = list(parent.permissions)
        beyond = [p for p in permissions if not all(grants(parent.permissions, c) for c in _covered(p))]
        if beyond:
            raise NotAllowed(
                f"An API key can only create keys within its own permissions; not: {', '.join(beyond)}"
            )
    if parent.allowed_ips:
        if not allowed_ips:
            allowed_ips = list(parent.allowed_ips)
        parents = [ipaddress.ip_network(net) for net in parent.allowed_ips]
        outside = [
            net
            for net in allowed_ips
            if not any(
                ipaddress.ip_network(net).version == p.version and ipaddress.ip_network(net).subnet_of(p)
                for p in parents
            )
        ]
        if outside:
            raise NotAllowed(
                f"An API key can only create keys within its own allowed addresses; not: {', '.join(outside)}"
            )
    if parent.expires_at is not None:
        if expires_at is None:
            expires_at = parent.expires_at
        elif expires_at > parent.expires_at:
            raise NotAllowed(
                "An API key can only create keys that expire no later than itself "
                f"({parent.expires_at.isoformat()})."
            )
    return permissions, allowed_ips, expires_at


@transaction.atomic
def apikey_create(
    *,
    user: User,
    name: str,
    permissions: list[str] | None = None,
    allowed_ips: list[str] | None = None,
    expires_at=None,
    request=None,
    parent: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is shown this once and never stored.

    `parent` is the key the request was made with, if any: the new key is then at most as broad.
    """
    if permissions is not None and (bad := unknown(permissions)):
        raise InvalidInput({"permissions": [f"Unknown permissions: {', '.join(bad)}"]})
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput({"expires_at": ["The expiry must be in the future."]})
    allowed_ips = _check_networks(allowed_ips or [])
    if parent is not None:
        permissions, allowed_ips, expires_at = _within_parent(parent, permissions, allowed_ips, expires_at)
    if permissions is not None:
        _check_scope(user, permissions)
    prefix = secrets.token_hex(4)
    raw = f"{KEY_MARK}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=_hash(raw),
        permissions=permissions,
        allowed_ips=allowed_ips,
        expires_at=expires_at,
    )
    audit(
        "apikey.create",
        actor=user,
        request=request,
        resource=key,
        name=name,
        prefix=prefix,
        by_key=parent.prefix if parent else None,
    )
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
