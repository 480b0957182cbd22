"""The one way the panel makes HTTP requests to addresses its users name (URL pulls, webhooks, the
marketplace): no request reaches the panel's own network.

A URL is the user's, and so is its DNS: a name can resolve to 127.0.0.1, to the cloud's metadata
service, or to a public address when checked and a private one when connected (DNS rebinding), and a
public server can redirect to any of those. So the check is made where the connection is made: our
connection class (on urllib3) resolves the host itself, refuses unless EVERY address it got is
globally routable (or inside settings.OUTBOUND_ALLOW), and connects to the address it checked; the
Host header, TLS SNI and certificate verification stay the name's. Redirects are followed here (at
most MAX_REDIRECTS), each hop through the same check. A request is bounded in bytes (max_bytes,
settings.OUTBOUND_MAX_BYTES) and in total time (a deadline over connecting and every read, not only a
per-read timeout). Proxies from the environment are never used.

    with outbound.stream(url, max_bytes=..., timeout=...) as (response, chunks):
        for chunk in chunks: ...
    data = outbound.get_json(url)
"""

import contextlib
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, NewConnectionError

from config.errors import InvalidInput, TooLarge, Unavailable

MAX_REDIRECTS = 5
CHUNK = 256 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
SCHEMES = {"http": 80, "https": 443}
USER_AGENT = "Hearth panel"
# Never reachable, whatever the allowlist says of their network: the clouds' instance metadata services.
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
_NAMED = [  # the reason in the refusal, first match
    ("loopback", lambda ip: ip.is_loopback),
    ("unspecified", lambda ip: ip.is_unspecified),
    ("link-local", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("carrier-grade NAT", lambda ip: ip in ipaddress.ip_network("100.64.0.0/10")),
    ("unique-local", lambda ip: ip.version == 6 and ip in ipaddress.ip_network("fc00::/7")),
    ("private", lambda ip: ip.is_private),
]
# IPv6 forms that carry an IPv4 address a gateway may deliver to (checked as that address too).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class OutboundRefused(InvalidInput):
    """A URL or an address the panel will not request (400)."""


class OutboundFailed(Unavailable):
    """The request was made but failed: no connection, too slow, too many redirects, a bad answer (503)."""


class OutboundTooLarge(TooLarge):
    """The answer is over the byte cap (413)."""


@dataclass(frozen=True)
class Response:
    """What came back (after redirects): the final URL, status, headers and Content-Length if given."""

    url: str
    status: int
    headers: dict
    length: int | None


# ---- addresses ----------------------------------------------------------------------------------


def resolve(host: str, port: int) -> list:
    """Every address `host` resolves to (the tests replace this to play DNS tricks)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundFailed(f"Could not resolve {host}: {exc}") from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def _allowed_networks() -> list:
    return [
        ipaddress.ip_network(cidr.strip(), strict=False) for cidr in settings.OUTBOUND_ALLOW if cidr.strip()
    ]


def _embedded_ipv4(ip) -> list:
    if ip.version != 6:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def refusal(ip) -> str | None:
    """Why the panel must not connect to `ip`, or None when it may."""
    if ip in METADATA or any(v4 in METADATA for v4 in _embedded_ipv4(ip)):
        return "a cloud metadata service"
    allowed = _allowed_networks()
    # An IPv4-mapped address is that IPv4 address; 6to4, NAT64 and IPv4-compatible ones are both.
    candidates = [ip.ipv4_mapped] if ip.version == 6 and ip.ipv4_mapped else [ip, *_embedded_ipv4(ip)]
    for candidate in candidates:
        if any(candidate.version == net.version and candidate in net for net in allowed):
            continue
        for reason, matches in _NAMED:
            if matches(candidate):
                return f"a {reason} address"
        if not candidate.is_global:
            return "not a globally routable address"
    return None


def checked_addresses(host: str, port: int) -> list:
    """`host`'s addresses, every one of them allowed (else OutboundRefused naming the first refused)."""
    addresses = resolve(host, port)
    if not addresses:
        raise OutboundFailed(f"{host} has no address.")
    for ip in addresses:
        if reason := refusal(ip):
            raise OutboundRefused(
                f"Refused to connect to {host} ({ip}): {reason}. The panel only fetches from public "
                "addresses (HEARTH_OUTBOUND_ALLOW lists exceptions)."
            )
    return addresses


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials whose host resolves only to allowed
    addresses; OutboundRefused otherwise. Connecting checks again (the answer may differ by then)."""
    scheme, host, port = _parts(url)
    checked_addresses(host, port)
    return scheme, host, port


def _parts(url) -> tuple[str, str, int]:
    if not isinstance(url, str) or len(url) > 4096 or any(c in url for c in "\x00\r\n\t "):
        raise OutboundRefused("The URL must be an http:// or https:// address without spaces.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"The URL is malformed: {exc}.") from exc
    if parts.scheme.lower() not in SCHEMES:
        raise OutboundRefused("Only http:// and https:// URLs can be fetched.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundRefused("URLs with a user name or password (user@host) are not fetched.")
    if not parts.hostname:
        raise OutboundRefused("The URL has no host.")
    return parts.scheme.lower(), parts.hostname, port or SCHEMES[parts.scheme.lower()]


# ---- connections --------------------------------------------------------------------------------


class _CheckedConnection:
    """Connect only to an address checked a moment before, resolved here (never by the socket layer)."""

    def _new_conn(self) -> socket.socket:
        error = None
        for ip in checked_addresses(self.host, self.port):
            try:
                return socket.create_connection((str(ip), self.port), self.timeout, self.source_address)
            except OSError as exc:
                error = exc
        raise NewConnectionError(self, f"Failed to connect to {self.host}: {error}")


class CheckedHTTPConnection(_CheckedConnection, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
    pass  # TLS wraps the checked socket with server_hostname = the name: SNI and verification hold


def _pool(scheme: str, host: str, port: int, timeout: float):
    common = {"maxsize": 1, "retries": False, "timeout": urllib3.Timeout(connect=timeout, read=timeout)}
    if scheme == "https":
        # The system's CAs, or a private deployment's bundle (settings.OUTBOUND_CA_BUNDLE, a path).
        ca_certs = getattr(settings, "OUTBOUND_CA_BUNDLE", None) or None
        pool = urllib3.HTTPSConnectionPool(host, port, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, **common)
        pool.ConnectionCls = CheckedHTTPSConnection
    else:
        pool = urllib3.HTTPConnectionPool(host, port, **common)
        pool.ConnectionCls = CheckedHTTPConnection
    return pool


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds, self.at = seconds, time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.passed()
        return left

    def passed(self) -> OutboundFailed:
        return OutboundFailed(f"The request took longer than {self.seconds:g} seconds.")


def _request(url, method, body, headers, deadline):
    """One hop: the response, unread (its body streamed by the caller)."""
    scheme, host, port = _parts(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = _pool(scheme, host, port, deadline.left())
    try:
        return pool, pool.urlopen(
            method,
            target,
            body=body,
            headers=headers,
            redirect=False,
            preload_content=False,
            decode_content=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.TimeoutError as exc:
        pool.close()
        raise deadline.passed() from exc
    except HTTPError as exc:
        pool.close()
        raise OutboundFailed(f"Could not fetch {url}: {_reason(exc)}") from exc


def _reason(exc) -> str:
    return str(getattr(exc, "reason", None) or exc)


def _follow(url, method, body, headers, deadline, max_redirects):
    for _ in range(max_redirects + 1):
        pool, response = _request(url, method, body, headers, deadline)
        location = response.headers.get("Location")
        if response.status not in REDIRECTS or not location:
            return url, pool, response
        response.release_conn()
        pool.close()
        following = urljoin(url, location)
        if urlsplit(following).hostname != urlsplit(url).hostname:  # credentials stay with their host
            headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
        if response.status in (301, 302, 303) and method != "HEAD":
            method, body = "GET", None
        url = following
    raise OutboundFailed(f"Too many redirects (more than {max_redirects}).")


def _chunks(response, max_bytes: int, deadline: _Deadline):
    received = 0
    while True:
        with contextlib.suppress(AttributeError):  # every read bounded by what is left of the deadline
            response.connection.sock.settimeout(deadline.left())
        try:
            chunk = response.read1(CHUNK)  # what has arrived: a trickle cannot outlast the deadline
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            raise deadline.passed() from exc
        except (HTTPError, OSError) as exc:
            raise OutboundFailed(f"The download broke off: {_reason(exc)}") from exc
        if not chunk:
            return
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes)
        deadline.left()
        yield chunk


def _too_large(max_bytes: int) -> OutboundTooLarge:
    return OutboundTooLarge(f"The answer is larger than the limit of {max_bytes} bytes.")


@contextlib.contextmanager
def stream(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict | None = None,
    max_bytes: int | None = None,
    timeout: float | None = None,
    max_redirects: int = MAX_REDIRECTS,
):
    """`with stream(url) as (response, chunks)`: the final answer after redirects and its body as an
    iterator of bytes, bounded by `max_bytes` (OutboundTooLarge) and `timeout` seconds in all
    (OutboundFailed). A refused URL or address, at any hop, is OutboundRefused."""
    max_bytes = settings.OUTBOUND_MAX_BYTES if max_bytes is None else max_bytes
    deadline = _Deadline(settings.OUTBOUND_TIMEOUT_SECONDS if timeout is None else timeout)
    sent = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    final_url, pool, response = _follow(url, method.upper(), body, sent, deadline, max_redirects)
    try:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if length is not None and length > max_bytes:
            raise _too_large(max_bytes)
        info = Response(final_url, response.status, dict(response.headers), length)
        yield info, _chunks(response, max_bytes, deadline)
    finally:
        response.release_conn()
        pool.close()


def get_json(url: str, *, headers: dict | None = None, max_bytes: int = 4 * 1024 * 1024, timeout=None):
    """GET `url` and decode its JSON answer (a 2xx), bounded as stream() is."""
    with stream(
        url, headers={"Accept": "application/json", **(headers or {})}, max_bytes=max_bytes, timeout=timeout
    ) as (response, chunks):
        content = b"".join(chunks)
    if not 200 <= response.status < 300:
        raise OutboundFailed(f"{url} answered {response.status}.")
    try:
        return json.loads(content)
    except ValueError as exc:
        raise OutboundFailed(f"{url} did not answer JSON: {exc}") from exc
