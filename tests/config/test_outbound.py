"""config/outbound.py against real HTTP servers on loopback (threads with real sockets). Loopback is
refused unless OUTBOUND_ALLOW lets it in, so each test says which of 127.0.0.0/8 it allows; no test
sends a packet anywhere but loopback (refusals happen before connecting, and the servers count hits)."""

import contextlib
import ipaddress
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config import outbound
from config.outbound import OutboundFailed, OutboundRefused, OutboundTooLarge

MB = 1024 * 1024


class Site:
    """A local HTTP server: `routes` maps a path to a function(handler) that answers it; `hits` lists
    the paths asked for."""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes, self.hits = {}, []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.hits.append(self.path)
                route = site.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def answer(body: bytes, *, status: int = 200, headers: dict | None = None, length: bool = True):
    def route(handler):
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        if not length:
            handler.close_connection = True

    return route


def redirect(location: str, status: int = 302):
    return answer(b"", status=status, headers={"Location": location})


@pytest.fixture
def site():
    sites = []

    def make(host: str = "127.0.0.1") -> Site:
        sites.append(Site(host))
        return sites[-1]

    yield make
    for each in sites:
        each.close()


def fetch(url: str, **kwargs) -> bytes:
    with outbound.stream(url, **kwargs) as (_, chunks):
        return b"".join(chunks)


def test_loopback_is_refused_without_the_allowlist(site, settings):
    settings.OUTBOUND_ALLOW = []
    local = site()
    local.routes["/"] = answer(b"secret")
    with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1.*loopback.*HEARTH_OUTBOUND_ALLOW"):
        fetch(local.url + "/")
    with pytest.raises(OutboundRefused):
        outbound.check_url(local.url + "/")
    assert local.hits == []  # refused before connecting


def test_the_allowlist_lets_a_network_in(site, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    local = site()
    local.routes["/file"] = answer(b"hello", headers={"X-Test": "1"})
    with outbound.stream(local.url + "/file") as (response, chunks):
        assert (response.status, response.length, response.headers["X-Test"]) == (200, 5, "1")
        assert b"".join(chunks) == b"hello"
    local.routes["/data"] = answer(b'{"a": [1, 2]}', headers={"Content-Type": "application/json"})
    assert outbound.get_json(local.url + "/data") == {"a": [1, 2]}


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "198.18.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
        "2002:7f00:1::1",
        "::10.0.0.1",
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64
        "64:ff9b:1:ffff::1",
        "fec0::1",  # site-local (deprecated, still routed inside some networks)
    ],
)
def test_every_address_that_is_not_public_is_refused(address):
    assert outbound.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert outbound.refusal(ipaddress.ip_address(address)) is None


def test_the_metadata_service_is_refused_even_inside_the_allowlist(settings):
    settings.OUTBOUND_ALLOW = ["169.254.0.0/16", "fd00::/8"]
    assert outbound.refusal(ipaddress.ip_address("169.254.1.1")) is None
    assert "metadata" in outbound.refusal(ipaddress.ip_address("169.254.169.254"))
    assert "metadata" in outbound.refusal(ipaddress.ip_address("fd00:ec2::254"))


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "0x7f.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"]
)
def test_other_spellings_of_loopback_are_refused(host, settings):
    settings.OUTBOUND_ALLOW = []
    with pytest.raises(OutboundRefused):
        outbound.check_url(f"http://{host}:9/")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://127.0.0.1/x", "Only http"),
        ("file:///etc/passwd", "Only http"),
        ("gopher://127.0.0.1:70/", "Only http"),
        ("javascript:alert(1)", "Only http"),
        ("http://user:pass@127.0.0.1/", "user name or password"),
        ("http://user@127.0.0.1/", "user name or password"),
        ("http:///path", "no host"),
        ("http://127.0.0.1:99999/", "malformed"),
        ("http://exa mple.com/", "without spaces"),
        ("http://127.0.0.1/\r\nHost: evil", "without spaces"),
    ],
)
def test_bad_urls_are_refused(url, says):
    with pytest.raises(OutboundRefused, match=says):
        fetch(url)


def test_a_redirect_to_a_refused_address_is_refused_before_connecting(site, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    allowed, other = site(), site("127.0.0.2")  # 127.0.0.2: loopback too, but outside the allowlist
    other.routes["/inside"] = answer(b"internal")
    allowed.routes["/to-other"] = redirect(other.url + "/inside")
    allowed.routes["/to-private"] = redirect("http://10.0.0.1/", 307)
    allowed.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/", 301)
    for path in ("/to-other", "/to-private", "/to-metadata"):
        with pytest.raises(OutboundRefused):
            fetch(allowed.url + path)
    assert other.hits == []


def test_redirects_are_followed_and_counted(site, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    local = site()
    local.routes["/final"] = answer(b"done")
    local.routes["/hop"] = redirect("/final")  # relative
    with outbound.stream(local.url + "/hop") as (response, chunks):
        assert response.url == local.url + "/final"
        assert b"".join(chunks) == b"done"
    local.routes["/loop"] = redirect("/loop")
    with pytest.raises(OutboundFailed, match="Too many redirects"):
        fetch(local.url + "/loop")
    assert local.hits.count("/loop") == outbound.MAX_REDIRECTS + 1


def test_dns_rebinding_cannot_swap_the_address(site, settings, monkeypatch):
    """The resolver answers a public address first (when the URL is checked up front) and loopback
    the second time (when connecting), as a rebinding attacker's DNS does. Patched at the module's
    one resolving function, which the connection class calls itself: the socket layer never resolves,
    so what is connected to is what was checked. The public address is never connected to."""
    settings.OUTBOUND_ALLOW = []
    local = site()
    local.routes["/"] = answer(b"internal")
    port = int(local.url.rsplit(":", 1)[1])
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(
        outbound, "resolve", lambda host, port: [ipaddress.ip_address(a) for a in next(answers)]
    )
    url = f"http://rebind.example:{port}/"
    outbound.check_url(url)  # the first answer is public: the check passes
    with pytest.raises(OutboundRefused, match=r"rebind\.example.*127\.0\.0\.1"):
        fetch(url)
    assert local.hits == []


def test_every_resolved_address_must_be_allowed(site, settings, monkeypatch):
    settings.OUTBOUND_ALLOW = []
    monkeypatch.setattr(
        outbound,
        "resolve",
        lambda host, port: [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")],
    )
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.5"):
        outbound.check_url("http://mixed.example/")


def test_the_size_cap_holds_with_and_without_a_length(site, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    local = site()
    local.routes["/told"] = answer(b"x" * (2 * MB))
    local.routes["/untold"] = answer(b"x" * (2 * MB), length=False)
    with (
        pytest.raises(OutboundTooLarge, match=f"{MB} bytes"),
        outbound.stream(local.url + "/told", max_bytes=MB),
    ):
        pytest.fail("a body said to be too large is refused before it is read")
    with pytest.raises(OutboundTooLarge):
        fetch(local.url + "/untold", max_bytes=MB)
    assert len(fetch(local.url + "/untold", max_bytes=3 * MB)) == 2 * MB


def test_the_time_cap_is_a_deadline_over_the_whole_request(site, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    local = site()

    def trickle(handler):  # a byte every 0.2 s: no single read ever times out
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(100):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.2)

    def silent(handler):
        time.sleep(3)

    local.routes["/trickle"] = trickle
    local.routes["/silent"] = silent
    for path in ("/trickle", "/silent"):
        started = time.monotonic()
        with pytest.raises(OutboundFailed, match="longer than 1 seconds"):
            fetch(local.url + path, timeout=1)
        assert time.monotonic() - started < 2


def test_credentials_do_not_follow_a_redirect_to_another_host(site, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.0/8"]
    first, second = site(), site("127.0.0.2")
    seen = {}

    def record(handler):
        seen["authorization"] = handler.headers.get("Authorization")
        answer(b"ok")(handler)

    second.routes["/"] = record
    first.routes["/"] = redirect(second.url + "/")
    assert fetch(first.url + "/", headers={"Authorization": "Bearer secret"}) == b"ok"
    assert seen == {"authorization": None}


def _certificates(tmp_path):
    """A CA and a certificate it signed for the name files.test (not for 127.0.0.1)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("files.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("files.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem"


def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    site, settings, monkeypatch, tmp_path
):
    """The connection goes to the address the name resolved to (127.0.0.1 here, allowed), yet TLS
    sends the name (SNI) and checks the certificate against it; an untrusted CA or the bare address
    (not in the certificate) fails."""
    import ssl

    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    ca = _certificates(tmp_path)
    local = site()
    local.routes["/"] = answer(b"over tls")
    seen = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, server_name, ctx: seen.append(server_name)
    local.server.socket = context.wrap_socket(local.server.socket, server_side=True)
    port = local.server.server_address[1]
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("127.0.0.1")])

    with pytest.raises(OutboundFailed, match="certificate verify failed"):
        fetch(f"https://files.test:{port}/")  # the system's CAs do not know the test CA
    settings.OUTBOUND_CA_BUNDLE = str(ca)
    assert fetch(f"https://files.test:{port}/") == b"over tls"
    assert "files.test" in seen
    with pytest.raises(OutboundFailed, match="certificate"):
        fetch(f"https://127.0.0.1:{port}/")


def test_a_resolver_that_never_answers_is_bounded_by_the_deadline(monkeypatch):
    stuck = threading.Event()
    monkeypatch.setattr(outbound, "resolve", lambda host, port: stuck.wait(5) and [])
    started = time.monotonic()
    with pytest.raises(OutboundFailed, match="took too long"):
        fetch("http://slow-dns.example/", timeout=0.5)
    assert time.monotonic() - started < 2
    stuck.set()


# ---- hostile receivers: raw sockets that answer slowly, endlessly or not at all -----------------------


def hostile(behaviour, host: str = "127.0.0.1") -> str:
    """A one-connection raw TCP server (a thread) that reads the request's first bytes, then runs
    `behaviour(conn)` until the client goes away; its base URL."""
    listener = socket.create_server((host, 0))

    def serve():
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(65536)
            with contextlib.suppress(OSError):  # the client gave up: what the test expects
                behaviour(conn)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://{host}:{listener.getsockname()[1]}"


def _trickle_status(conn):
    while True:
        for byte in b"HTTP/1.1 200 OK\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.4)


def _endless_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for i in range(10_000):
        conn.sendall(f"X-More-{i}: y\r\n".encode())
        time.sleep(0.3)


def _endless_continue(conn):
    while True:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.05)


@pytest.mark.parametrize("behaviour", [_trickle_status, _endless_headers, _endless_continue])
def test_the_deadline_covers_the_status_line_and_headers(behaviour, settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    url = hostile(behaviour)
    started = time.monotonic()
    with pytest.raises(OutboundFailed, match=r"longer than 1 seconds|interim"):
        fetch(url + "/", method="POST", body=b"{}", timeout=1)
    assert time.monotonic() - started < 1.8


def test_endless_interim_answers_are_cut_short(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    with pytest.raises(OutboundFailed, match="interim"):
        fetch(hostile(_endless_continue) + "/", timeout=5)


def test_each_connect_is_bounded_by_the_deadline_and_three_addresses_at_most(settings, monkeypatch):
    """Addresses that drop connection attempts (a listener whose backlog is full): one attempt's
    connects share its deadline instead of taking the timeout each. Of five addresses that refuse or
    hang, only the first three are tried: the fourth (listening) never sees a connection."""
    settings.OUTBOUND_ALLOW = ["127.0.0.0/8"]
    full = socket.create_server(("127.0.0.41", 0), backlog=0)
    port = full.getsockname()[1]
    filler = socket.create_connection(("127.0.0.41", port))  # the one place in the backlog
    dropping = [full]
    for last in (42, 43, 44):
        other = socket.create_server((f"127.0.0.{last}", port), backlog=0)
        dropping += [other, socket.create_connection((f"127.0.0.{last}", port))]
    try:
        addresses = [ipaddress.ip_address(f"127.0.0.{last}") for last in (41, 42, 43, 44)]
        monkeypatch.setattr(outbound, "resolve", lambda host, port: addresses)
        started = time.monotonic()
        with pytest.raises(OutboundFailed):
            fetch(f"http://dropping.example:{port}/", timeout=1)
        assert time.monotonic() - started < 1.6  # not 3 x 1 s
    finally:
        filler.close()
        for each in dropping:
            each.close()

    listening = socket.create_server(("127.0.0.45", 0))
    listening.settimeout(0.3)
    port = listening.getsockname()[1]
    closed = [ipaddress.ip_address(f"127.0.0.{last}") for last in (46, 47, 48)]  # nothing listens there
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [*closed, ipaddress.ip_address("127.0.0.45")])
    with listening:
        with pytest.raises(OutboundFailed, match="Failed to connect"):
            fetch(f"http://many.example:{port}/", timeout=2)
        with pytest.raises(TimeoutError):
            listening.accept()


def test_errors_name_the_origin_never_the_path_or_query(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connection refused
    with pytest.raises(OutboundFailed) as failed:
        fetch(f"http://127.0.0.1:{port}/api/webhooks/123/TOKEN?key=SECRET", timeout=2)
    assert f"http://127.0.0.1:{port}" in str(failed.value)
    assert "TOKEN" not in str(failed.value) and "SECRET" not in str(failed.value)


def test_max_redirects_zero_returns_the_redirect_and_https_is_never_downgraded(
    site, settings, monkeypatch, tmp_path
):
    import ssl

    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    plain = site()
    plain.routes["/final"] = answer(b"plain")
    plain.routes["/hop"] = redirect(plain.url + "/final", 307)
    with outbound.stream(plain.url + "/hop", max_redirects=0) as (response, _):
        assert (response.status, response.headers["Location"]) == (307, plain.url + "/final")
    assert plain.hits == ["/hop"]

    settings.OUTBOUND_CA_BUNDLE = str(_certificates(tmp_path))
    secure = site()
    secure.routes["/down"] = redirect(plain.url + "/final", 308)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    secure.server.socket = context.wrap_socket(secure.server.socket, server_side=True)
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    with pytest.raises(OutboundRefused, match="https is not downgraded"):
        fetch(f"https://files.test:{secure.server.server_address[1]}/down")
    assert plain.hits == ["/hop"]  # the http:// hop was never made
