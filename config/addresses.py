"""The one answer to "what is the client's address?", for HTTP requests and WebSocket scopes alike.

The peer of the TCP connection is the client, unless that peer is a proxy listed in
HEARTH_TRUSTED_PROXIES (CIDRs, empty by default). Only then is `X-Forwarded-For` read, from the
right: each trusted proxy appended the address it saw, so the right-most hop that is not itself a
trusted proxy is the client. Everything left of it was written by the client and is ignored.
`X-Real-IP` and `Forwarded` are never read: one header, one rule, nothing a client can add to
change the answer. Every address-based control (rate limits, login lockout, API key CIDRs, the
audit log, the WebSocket) calls `client_address`.
"""

import ipaddress
import re
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# "[2001:db8::1]:443" or "[2001:db8::1]"; "203.0.113.7:5000"; a bare address of either family.
_BRACKETED = re.compile(r"^\[(?P<host>[0-9A-Fa-f:.]+)\](?::\d{1,5})?$")
_IPV4_WITH_PORT = re.compile(r"^(?P<host>\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$")
_CACHE_ATTR = "_hearth_client_address"
_SCOPE_KEY = "hearth.client_address"


def parse_address(text: str | None) -> Address | None:
    """An IP address from one hop as proxies write it (brackets, a port, quotes), or None."""
    if not text:
        return None
    text = text.strip().strip('"')
    for pattern in (_BRACKETED, _IPV4_WITH_PORT):
        if match := pattern.match(text):
            text = match.group("host")
            break
    if "%" in text:  # an IPv6 zone ("fe80::1%eth0") means nothing beyond this host
        text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # "::ffff:203.0.113.7" is the IPv4 client 203.0.113.7
    return address


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """HEARTH_TRUSTED_PROXIES as networks; a bad entry stops the panel from starting."""
    networks = []
    for entry in entries:
        if not (entry := entry.strip()):
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"HEARTH_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR range"
            ) from exc
    return tuple(networks)


def trusted_proxies() -> tuple[Network, ...]:
    return parse_networks(settings.TRUSTED_PROXIES)


def is_trusted_proxy(address: Address | None) -> bool:
    return address is not None and any(address in net for net in trusted_proxies())


def resolve(peer: str | None, forwarded_for: Iterable[str]) -> str | None:
    """The client's address from the connection's peer and its X-Forwarded-For header values."""
    current = parse_address(peer)
    if not is_trusted_proxy(current):
        return str(current) if current else None
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # garbage: the last proxy we trust is the best we know
        current = address
        if not is_trusted_proxy(address):
            break
    return str(current)


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


def client_address(source) -> str | None:
    """The client's address for a Django/DRF request or an ASGI scope (computed once per request)."""
    if source is None:
        return None
    if isinstance(source, dict):  # an ASGI scope (WebSocket)
        if _SCOPE_KEY not in source:
            peer = (source.get("client") or [None])[0]
            forwarded = _header_values(source.get("headers") or (), b"x-forwarded-for")
            source[_SCOPE_KEY] = resolve(peer, forwarded)
        return source[_SCOPE_KEY]
    request = getattr(source, "_request", source)  # DRF's Request wraps Django's
    if not hasattr(request, _CACHE_ATTR):
        meta = getattr(request, "META", {})
        forwarded = [meta["HTTP_X_FORWARDED_FOR"]] if "HTTP_X_FORWARDED_FOR" in meta else []
        setattr(request, _CACHE_ATTR, resolve(meta.get("REMOTE_ADDR"), forwarded))
    return getattr(request, _CACHE_ATTR)


def scope_is_secure(scope: dict) -> bool:
    """Whether the browser reached us over TLS: the socket's own scheme, or a trusted proxy's word."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if not is_trusted_proxy(parse_address((scope.get("client") or [None])[0])):
        return False
    proto = _header_values(scope.get("headers") or (), b"x-forwarded-proto")
    return bool(proto) and proto[-1].split(",")[-1].strip().lower() == "https"


class TrustedProxyMiddleware:
    """First in MIDDLEWARE: fixes the client's address, and drops proxy headers no trusted proxy sent.

    Django reads `X-Forwarded-Proto` for SECURE_PROXY_SSL_HEADER (HEARTH_HTTPS) wherever it came
    from; a client talking to us directly could claim HTTPS with it. Removed unless the peer is a
    trusted proxy.
    """

    FORWARDING_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        client_address(request)
        if not is_trusted_proxy(parse_address(request.META.get("REMOTE_ADDR"))):
            for name in self.FORWARDING_HEADERS:
                request.META.pop(name, None)
        return self.get_response(request)
