"""The one way the panel makes HTTP requests to addresses its users name (URL pulls, webhooks, the
marketplace): no request reaches the panel's own network.

A URL is the user's, and so is its DNS: a name can resolve to 127.0.0.1, to the cloud's metadata
service, or to a public address when checked and a private one when connected (DNS rebinding), and a
public server can redirect to any of those. So the check is made where the connection is made: our
connection class (on urllib3) resolves the host itself, refuses unless EVERY address it got is
globally routable (or inside settings.OUTBOUND_ALLOW), and connects to the address it checked; the
Host header, TLS SNI and certificate verification stay the name's. Redirects are followed here (at
most MAX_REDIRECTS), each hop through the same check. A request is bounded in bytes (max_bytes,
settings.OUTBOUND_MAX_BYTES) and in total time: one deadline over resolving, connecting (each address
tried within what is left, at most MAX_ADDRESSES of them), the status line and headers (at most
MAX_INTERIM 1xx answers) and every read of the body; when it passes, a timer shuts the socket down, so
no trickle or endless header can hold a worker past it. Errors name only scheme://host[:port], never
a URL's path or query (webhook URLs carry tokens). A redirect from https:// to http:// is refused;
max_redirects=0 returns a redirect as it is. Proxies from the environment are never used.

    with outbound.stream(url, max_bytes=..., timeout=...) as (response, chunks):
        for chunk in chunks: ...
    data = outbound.get_json(url)
"""

import contextlib
import http.client
import ipaddress
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, NewConnectionError

from config.errors import InvalidInput, TooLarge, Unavailable

MAX_REDIRECTS = 5
MAX_ADDRESSES = 3  # of a name's addresses, tried in turn (each within what is left of the deadline)
MAX_INTERIM = 5  # 1xx answers (100 Continue, ...) before the real one
RESOLVE_SECONDS = 10.0  # a name's resolution, when checked up front
CHUNK = 256 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
SCHEMES = {"http": 80, "https": 443}
USER_AGENT = "Hearth panel"
CREDENTIAL_HEADERS = {"authorization", "cookie", "x-api-key"}  # never sent on to another host
# Never reachable, whatever the allowlist says of their network: the clouds' instance metadata services.
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
_NAMED = [  # the reason in the refusal, first match
    ("loopback", lambda ip: ip.is_loopback),
    ("unspecified", lambda ip: ip.is_unspecified),
    ("link-local", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("carrier-grade NAT", lambda ip: ip in ipaddress.ip_network("100.64.0.0/10")),
    ("unique-local", lambda ip: ip.version == 6 and ip in ipaddress.ip_network("fc00::/7")),
    ("site-local", lambda ip: ip.version == 6 and ip.is_site_local),
    ("local-use NAT64", lambda ip: ip.version == 6 and ip in ipaddress.ip_network("64:ff9b:1::/48")),
    ("private", lambda ip: ip.is_private),
]
# IPv6 forms that carry an IPv4 address a gateway may deliver to (checked as that address too).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (SIIT, RFC 2765)


class OutboundRefused(InvalidInput):
    """A URL or an address the panel will not request (400). A refused address also says which host
    and why (`host`, `kind`: "loopback", "private", ...) without the address, for messages shown to
    the URL's owner (the address itself can reveal the panel's internal DNS)."""

    def __init__(self, message, *, host: str = "", kind: str = ""):
        super().__init__(message)
        self.host, self.kind = host, kind

    def without_address(self) -> str:
        """The refusal as the URL's owner may read it: which kind of address, never which address."""
        if not self.kind:
            return self.message  # a malformed URL, a scheme, credentials: nothing internal in it
        return f"{self.host} resolves to a non-public address ({self.kind}); the panel only sends to public addresses."


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
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
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


_resolvers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hearth-resolve")


def _resolve_within(host: str, port: int, seconds) -> list:
    """resolve(), given up after `seconds` (getaddrinfo has no timeout of its own: a DNS server that
    never answers would outlast the request's deadline)."""
    waiting = _resolvers.submit(resolve, host, port)
    try:
        return waiting.result(timeout=seconds if isinstance(seconds, int | float) else RESOLVE_SECONDS)
    except FutureTimeout:
        raise OutboundFailed(f"Resolving {host} took too long.") from None


def checked_addresses(host: str, port: int, *, timeout=None) -> list:
    """`host`'s addresses, every one of them allowed (else OutboundRefused naming the first refused)."""
    addresses = _resolve_within(host, port, RESOLVE_SECONDS if timeout is None else timeout)
    if not addresses:
        raise OutboundFailed(f"{host} has no address.")
    for ip in addresses:
        if reason := refusal(ip):
            raise OutboundRefused(
                f"Refused to connect to {host} ({ip}): {reason}. The panel only fetches from public "
                "addresses (HEARTH_OUTBOUND_ALLOW lists exceptions).",
                host=host,
                kind=reason.removeprefix("a ").removesuffix(" address"),
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


class _CappedResponse(http.client.HTTPResponse):
    """http.client skips 1xx answers in a loop of its own: an endless `100 Continue` is cut here."""

    def _read_status(self):
        self._interim = getattr(self, "_interim", -1) + 1
        if self._interim > MAX_INTERIM:
            raise http.client.HTTPException(f"More than {MAX_INTERIM} interim (1xx) answers.")
        return super()._read_status()


class _CheckedConnection:
    """Connect only to an address checked a moment before, resolved here (never by the socket layer).
    `deadline` (set per request, see _pool) bounds each connect and is told of the socket."""

    deadline = None
    response_class = _CappedResponse

    def _new_conn(self) -> socket.socket:
        deadline = self.deadline or _Deadline(self.timeout if isinstance(self.timeout, int | float) else 10)
        error = None
        for ip in checked_addresses(self.host, self.port, timeout=deadline.left())[:MAX_ADDRESSES]:
            seconds = min(self.timeout, deadline.left()) if isinstance(self.timeout, int | float) else None
            try:
                sock = socket.create_connection(
                    (str(ip), self.port), seconds or deadline.left(), self.source_address
                )
            except OSError as exc:
                error = exc
                continue
            deadline.watch(sock)
            return sock
        raise NewConnectionError(self, f"Failed to connect to {self.host}: {error}")


class CheckedHTTPConnection(_CheckedConnection, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
    pass  # TLS wraps the checked socket with server_hostname = the name: SNI and verification hold


def _pool(scheme: str, host: str, port: int, timeout: float, deadline=None):
    common = {"maxsize": 1, "retries": False, "timeout": urllib3.Timeout(connect=timeout, read=timeout)}
    if scheme == "https":
        # The system's CAs, or a private deployment's bundle (settings.OUTBOUND_CA_BUNDLE, a path).
        ca_certs = settings.OUTBOUND_CA_BUNDLE or None
        pool = urllib3.HTTPSConnectionPool(host, port, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, **common)
        connection = CheckedHTTPSConnection
    else:
        pool = urllib3.HTTPConnectionPool(host, port, **common)
        connection = CheckedHTTPConnection
    pool.ConnectionCls = type(connection.__name__, (connection,), {"deadline": deadline})
    return pool


class _Deadline:
    """The request's end: `left()` raises once it has passed; `watch(sock)` has a timer shut that
    socket down at that moment (a blocked read returns at once, whatever it was reading)."""

    def __init__(self, seconds: float):
        self.seconds, self.at = seconds, time.monotonic() + seconds
        self.fired, self._sockets, self._timer = False, [], None

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0 or self.fired:
            raise self.passed()
        return left

    def expired(self) -> bool:
        return self.fired or time.monotonic() >= self.at

    def passed(self) -> OutboundFailed:
        return OutboundFailed(f"The request took longer than {self.seconds:g} seconds.")

    def watch(self, sock) -> None:
        self._sockets.append(sock)
        if self._timer is None:
            self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _request(url, method, body, headers, deadline):
    """One hop: the response, unread (its body streamed by the caller)."""
    scheme, host, port = _parts(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = _pool(scheme, host, port, deadline.left(), deadline)
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
    except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
        pool.close()
        if isinstance(exc, NewConnectionError) and not deadline.expired():  # urllib3 files it as a timeout
            raise OutboundFailed(f"Could not fetch {origin(url)}: {_reason(exc)}") from exc
        raise deadline.passed() from exc
    except (HTTPError, http.client.HTTPException, OSError) as exc:
        pool.close()
        if deadline.expired():
            raise deadline.passed() from exc
        raise OutboundFailed(f"Could not fetch {origin(url)}: {_reason(exc)}") from exc


def _reason(exc) -> str:
    return str(getattr(exc, "reason", None) or exc)


def origin(url: str) -> str:
    """scheme://host[:port] of `url`: what an error may say of it (a path or query can hold a token)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the URL"
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def _check_host(url: str, hosts) -> None:
    if hosts is not None and (urlsplit(url).hostname or "").lower() not in hosts:
        raise OutboundRefused(
            f"{origin(url)} is not a host this request may go to.", host=urlsplit(url).hostname
        )


def _follow(url, method, body, headers, deadline, max_redirects, hosts=None):
    for _ in range(max_redirects + 1):
        _check_host(url, hosts)
        pool, response = _request(url, method, body, headers, deadline)
        location = response.headers.get("Location")
        if response.status not in REDIRECTS or not location or max_redirects == 0:
            return url, pool, response
        response.release_conn()
        pool.close()
        following = urljoin(url, location)
        if urlsplit(url).scheme.lower() == "https" and urlsplit(following).scheme.lower() == "http":
            raise OutboundRefused(
                f"{origin(url)} redirected to {origin(following)}: https is not downgraded."
            )
        if urlsplit(following).hostname != urlsplit(url).hostname:  # credentials stay with their host
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
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
        except (HTTPError, http.client.HTTPException, OSError) as exc:
            if deadline.expired():
                raise deadline.passed() from exc
            raise OutboundFailed(f"The download broke off: {_reason(exc)}") from exc
        if not chunk:
            if deadline.fired:  # the timer shut the socket: an end that is not the answer's
                raise deadline.passed()
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
    hosts=None,
):
    """`with stream(url) as (response, chunks)`: the final answer after redirects and its body as an
    iterator of bytes, bounded by `max_bytes` (OutboundTooLarge) and `timeout` seconds in all
    (OutboundFailed). A refused URL or address, at any hop, is OutboundRefused; so is, when `hosts`
    (lower-case names) is given, a hop to any other host. With max_redirects=0 a redirect is not
    followed: it is the answer."""
    max_bytes = settings.OUTBOUND_MAX_BYTES if max_bytes is None else max_bytes
    deadline = _Deadline(settings.OUTBOUND_TIMEOUT_SECONDS if timeout is None else timeout)
    sent = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    try:
        final_url, pool, response = _follow(url, method.upper(), body, sent, deadline, max_redirects, hosts)
    except BaseException:
        deadline.close()
        raise
    try:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if length is not None and length > max_bytes:
            raise _too_large(max_bytes)
        info = Response(final_url, response.status, dict(response.headers), length)
        yield info, _chunks(response, max_bytes, deadline)
    finally:
        deadline.close()
        response.release_conn()
        pool.close()


def get_json(url: str, *, headers: dict | None = None, max_bytes: int = 4 * 1024 * 1024, timeout=None):
    """GET `url` and decode its JSON answer (a 2xx), bounded as stream() is."""
    with stream(
        url, headers={"Accept": "application/json", **(headers or {})}, max_bytes=max_bytes, timeout=timeout
    ) as (response, chunks):
        content = b"".join(chunks)
    if not 200 <= response.status < 300:
        raise OutboundFailed(f"{origin(url)} answered {response.status}.")
    try:
        return json.loads(content)
    except ValueError as exc:
        raise OutboundFailed(f"{origin(url)} did not answer JSON: {exc}") from exc
