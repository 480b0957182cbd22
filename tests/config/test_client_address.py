"""The client's address: forwarding headers count only from HEARTH_TRUSTED_PROXIES, and every
address-based control (rate limits, login lockout, API key ranges, audit, WebSocket) uses one answer.

Each abuse is attacked from several sides (X-Forwarded-For, X-Real-IP, Forwarded, comma lists,
IPv6, garbage), with no proxy configured and with one.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.apikeys import apikey_create
from accounts.audit import audit
from accounts.models import ApiKey, AuditLog, LoginSession
from config.addresses import parse_address, resolve
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db
PROXY, HOME, ATTACKER, OTHER = "10.0.0.2", "203.0.113.7", "198.51.100.66", "192.0.2.44"

# Headers a client might forge to claim another address (Django META names).
FORGERIES = [
    {"HTTP_X_FORWARDED_FOR": HOME},
    {"HTTP_X_FORWARDED_FOR": f"{HOME}, {HOME}"},
    {"HTTP_X_REAL_IP": HOME},
    {"HTTP_FORWARDED": f"for={HOME}"},
    {"HTTP_FORWARDED": 'for="[2001:db8::7]:443";proto=https'},
    {"HTTP_X_FORWARDED_FOR": "2001:db8::7"},
    {"HTTP_X_FORWARDED_FOR": "not-an-ip"},
]


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]


class TestResolve:
    @pytest.mark.parametrize(
        "peer, forwarded, expected",
        [
            (ATTACKER, [HOME], ATTACKER),
            (ATTACKER, [f"{HOME}, {PROXY}"], ATTACKER),
            ("::ffff:198.51.100.66", [], ATTACKER),
            ("2001:db8::66", ["203.0.113.7"], "2001:db8::66"),
            ("not-an-ip", [], None),
            ("", [HOME], None),
            (None, [HOME], None),
        ],
    )
    def test_without_trusted_proxies_the_peer_is_the_client(self, peer, forwarded, expected):
        assert resolve(peer, forwarded) == expected

    @pytest.mark.parametrize(
        "peer, forwarded, expected",
        [
            (PROXY, [HOME], HOME),
            (PROXY, [f"{HOME}, {ATTACKER}"], ATTACKER),  # the client wrote HOME; the proxy appended ATTACKER
            (PROXY, [f"{HOME}, {ATTACKER}, 10.0.0.9"], ATTACKER),  # two proxies of ours
            (PROXY, [HOME, ATTACKER], ATTACKER),  # two header lines read as one list
            (PROXY, [f" {ATTACKER} ,{HOME} "], HOME),
            (PROXY, ["[2001:db8::7]:5555"], "2001:db8::7"),
            (PROXY, ["[2001:db8::7]"], "2001:db8::7"),
            (PROXY, ["2001:DB8:0::7"], "2001:db8::7"),
            (PROXY, ["203.0.113.7:5000"], HOME),
            (PROXY, ['"203.0.113.7"'], HOME),
            (PROXY, ["::ffff:203.0.113.7"], HOME),
            (PROXY, ["fe80::1%eth0"], "fe80::1"),
            (PROXY, ["not-an-ip"], PROXY),
            (PROXY, [f"{HOME}, not-an-ip"], PROXY),  # garbage stops the walk at the last trusted hop
            (PROXY, ["999.1.1.1"], PROXY),
            (PROXY, [""], PROXY),
            (PROXY, [], PROXY),
            (PROXY, ["10.0.0.3, 10.0.0.4"], "10.0.0.3"),  # all ours: the left-most
            ("2001:db8:ffff::1", [HOME], HOME),
            ("[2001:db8:ffff::1]", [HOME], HOME),
            (ATTACKER, [HOME], ATTACKER),  # not a proxy of ours: its header is ignored
        ],
    )
    def test_with_trusted_proxies_the_right_most_untrusted_hop(self, behind_proxy, peer, forwarded, expected):
        assert resolve(peer, forwarded) == expected

    @pytest.mark.parametrize(
        "text", ["not-an-ip", "1.2.3", "1.2.3.4.5", "[::1", "::1]:80", "a" * 5000, "1.2.3.4/24"]
    )
    def test_garbage_is_not_an_address(self, text):
        assert parse_address(text) is None


class TestLoginBudgetPerClient:
    @pytest.fixture(autouse=True)
    def low_limit(self, settings):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 3}
        settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 1000

    def attempt(self, api, **headers):
        return api.post(
            "/api/auth/login", {"email": "a@example.com", "password": "x" * 8}, format="json", **headers
        )

    def test_forged_headers_do_not_buy_a_fresh_budget(self, api):
        for n in range(3):
            assert (
                self.attempt(api, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
                == 401
            )
        for forged in FORGERIES:
            assert self.attempt(api, REMOTE_ADDR=ATTACKER, **forged).status_code == 429, forged

    def test_behind_a_proxy_the_client_cannot_prepend_its_way_out(self, api, behind_proxy):
        for n in range(3):
            chain = f"192.0.2.{n}, {ATTACKER}"
            assert self.attempt(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain).status_code == 401
        assert (
            self.attempt(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"9.9.9.9, {ATTACKER}").status_code
            == 429
        )
        # Another client behind the same proxy has a budget of its own.
        assert self.attempt(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=OTHER).status_code == 401

    def test_the_web_login_page_counts_the_same_way(self, client, settings):
        for n in range(3):
            client.post(
                "/login",
                {"email": "a@example.com", "password": "x" * 8},
                REMOTE_ADDR=ATTACKER,
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
            )
        response = client.post(
            "/login",
            {"email": "a@example.com", "password": "x" * 8},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR="192.0.2.99",
        )
        assert response.status_code == 429


class TestLockout:
    @pytest.fixture(autouse=True)
    def limits(self, settings):
        settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 3
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": 1000}

    def login(self, api, password=PASSWORD, **headers):
        body = {"email": "customer@example.com", "password": password}
        return api.post("/api/auth/login", body, format="json", **headers)

    def lock(self, api, **headers):
        for _ in range(3):
            assert self.login(api, "wrong-password", **headers).status_code == 401
        assert self.login(api, "wrong-password", **headers).status_code == 429

    @pytest.mark.parametrize("forged", FORGERIES[:5])
    def test_claiming_the_owner_s_address_does_not_pass_the_lock(self, api, customer, forged):
        assert self.login(api, REMOTE_ADDR=HOME).status_code == 200  # HOME is now a known address
        self.lock(api, REMOTE_ADDR=ATTACKER)
        assert self.login(api, REMOTE_ADDR=ATTACKER, **forged).status_code == 429
        assert self.login(api, REMOTE_ADDR=HOME).status_code == 200

    def test_behind_a_proxy_the_owner_is_told_apart_from_the_attacker(self, api, customer, behind_proxy):
        assert self.login(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=HOME).status_code == 200
        self.lock(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{HOME}, {ATTACKER}")
        # The attacker knows the password now (say): still locked, as the proxy's address is not theirs.
        assert (
            self.login(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{HOME}, {ATTACKER}").status_code == 429
        )
        assert self.login(api, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=HOME).status_code == 200

    def test_a_known_address_cannot_keep_guessing_while_locked(self, api, customer):
        assert self.login(api, REMOTE_ADDR=HOME).status_code == 200
        self.lock(api, REMOTE_ADDR=ATTACKER)
        for _ in range(3):  # the owner's address has a budget of its own, no more
            assert self.login(api, "wrong-password", REMOTE_ADDR=HOME).status_code == 429
        response = self.login(api, REMOTE_ADDR=HOME)  # the right password is not even looked at
        assert response.status_code == 429

    def test_a_known_address_cannot_keep_guessing_codes_while_locked(self, api, customer):
        import pyotp
        from django.utils import timezone

        from accounts.models import TwoFactorDevice
        from config.crypto import encrypt

        secret = pyotp.random_base32()
        TwoFactorDevice.objects.create(user=customer, secret=encrypt(secret), confirmed_at=timezone.now())
        first = self.login(api, REMOTE_ADDR=HOME).json()["data"]["challengeToken"]
        code = pyotp.TOTP(secret).at(__import__("time").time() - 30)
        two_fa = {"challengeToken": first, "code": code}
        assert api.post("/api/auth/login/2fa", two_fa, format="json", REMOTE_ADDR=HOME).status_code == 200
        self.lock(api, REMOTE_ADDR=ATTACKER)
        challenge = self.login(api, REMOTE_ADDR=HOME).json()["data"]["challengeToken"]
        for _ in range(3):  # the owner's address: a budget of its own (the password step was refunded)
            body = {"challengeToken": challenge, "code": "000000"}
            assert api.post("/api/auth/login/2fa", body, format="json", REMOTE_ADDR=HOME).status_code == 429
        body = {"challengeToken": challenge, "code": pyotp.TOTP(secret).now()}
        assert api.post("/api/auth/login/2fa", body, format="json", REMOTE_ADDR=HOME).status_code == 429


class TestApiKeyRanges:
    @pytest.fixture
    def key(self, customer):
        _, raw = apikey_create(user=customer, name="ci", allowed_ips=["203.0.113.0/24", "2001:db8:1::/64"])
        return raw

    def get(self, key, **headers):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client.get("/api/auth/me", **headers)

    @pytest.mark.parametrize("forged", FORGERIES)
    def test_forged_headers_do_not_pass_the_range(self, key, forged):
        forged = {k: v.replace("2001:db8::7", "2001:db8:1::7") for k, v in forged.items()}
        response = self.get(key, REMOTE_ADDR=ATTACKER, **forged)
        assert response.status_code == 401
        assert response.json()["message"] == f"This API key may not be used from {ATTACKER}"

    def test_behind_a_proxy_the_real_client_is_checked(self, key, behind_proxy):
        assert (
            self.get(key, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"203.0.113.9, {ATTACKER}").status_code
            == 401
        )
        assert (
            self.get(key, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{ATTACKER}, 203.0.113.9").status_code
            == 200
        )
        assert (
            self.get(key, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="[2001:db8:1::9]:4000").status_code == 200
        )
        assert ApiKey.objects.get().last_used_ip in ("203.0.113.9", "2001:db8:1::9")


class TestAudit:
    @pytest.mark.parametrize("forged", FORGERIES)
    def test_the_audit_log_records_the_real_peer(self, api, customer, forged):
        response = api.post(
            "/api/auth/login",
            {"email": customer.email, "password": PASSWORD},
            format="json",
            REMOTE_ADDR=ATTACKER,
            **forged,
        )
        assert response.status_code == 200
        assert AuditLog.objects.get(action="auth.login").ip_address == ATTACKER
        assert LoginSession.objects.get(user=customer).ip_address == ATTACKER

    @pytest.mark.parametrize(
        "chain, expected",
        [("not-an-ip", PROXY), (f"not-an-ip, {HOME}", HOME), ("[2001:db8::7]:1", "2001:db8::7")],
    )
    def test_behind_a_proxy_the_client_is_recorded_and_garbage_never_500s(
        self, api, customer, behind_proxy, chain, expected
    ):
        response = api.post(
            "/api/auth/login",
            {"email": customer.email, "password": PASSWORD},
            format="json",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=chain,
        )
        assert response.status_code == 200
        assert AuditLog.objects.get(action="auth.login").ip_address == expected

    @pytest.mark.parametrize("ip", ["not-an-ip", "1.2.3.4, 5.6.7.8", "[::1]:80", "x" * 300])
    def test_an_address_that_is_not_one_is_never_stored(self, customer, ip):
        entry = audit("test.action", actor=customer, ip=ip)
        entry.refresh_from_db()
        assert entry.ip_address in (None, "::1")


class TestForwardedProto:
    @pytest.fixture(autouse=True)
    def https(self, settings):
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        settings.SECURE_HSTS_SECONDS = 3600

    def test_a_client_cannot_claim_https(self, client):
        response = client.get("/login", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_PROTO="https")
        assert "Strict-Transport-Security" not in response

    def test_a_trusted_proxy_can(self, client, behind_proxy):
        response = client.get("/login", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
        assert response["Strict-Transport-Security"] == "max-age=3600"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
class TestWebSocket:
    async def connect(self, key, client, headers=()):
        from config.asgi import application

        communicator = WebsocketCommunicator(application, f"/ws?token={key}", headers=list(headers))
        communicator.scope["client"] = client
        connected, _ = await communicator.connect()
        assert connected
        return communicator

    async def key(self, customer):
        _, raw = await database_sync_to_async(apikey_create)(
            user=customer, name="ws", allowed_ips=["203.0.113.0/24"]
        )
        return raw

    @pytest.mark.parametrize(
        "header",
        [
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"x-real-ip", b"203.0.113.9"),
            (b"forwarded", b"for=203.0.113.9"),
        ],
    )
    async def test_forged_headers_do_not_pass_the_range(self, customer, header):
        communicator = await self.connect(await self.key(customer), (ATTACKER, 5000), [header])
        assert "may not be used from" in (await communicator.receive_json_from())["message"]
        assert (await communicator.receive_output())["code"] == 4401

    async def test_behind_a_proxy_the_real_client_is_checked(self, customer, settings):
        settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
        key = await self.key(customer)
        ok = await self.connect(
            key, (PROXY, 5000), [(b"x-forwarded-for", f"{ATTACKER}, 203.0.113.9".encode())]
        )
        await ok.send_json_to({"type": "unsubscribe", "serverId": "x"})
        assert (await ok.receive_json_from())["type"] == "unsubscribed"
        await ok.disconnect()
        refused = await self.connect(
            key, (PROXY, 5000), [(b"x-forwarded-for", f"203.0.113.9, {ATTACKER}".encode())]
        )
        assert "may not be used from" in (await refused.receive_json_from())["message"]
        assert (await refused.receive_output())["code"] == 4401


def test_no_process_definition_trusts_forwarding_headers():
    files = [
        "Procfile",
        "Procfile.zero-setup",
        "Dockerfile",
        "docker-compose.yml",
        *map(str, (ROOT / "scripts").glob("*.sh")),
    ]
    for name in files:
        text = (ROOT / name).read_text()
        assert "--proxy-headers" not in text and "proxy_headers" not in text, name


def test_a_bad_trusted_proxy_entry_stops_the_panel(tmp_path):
    import os

    env = {
        **os.environ,
        "HEARTH_TRUSTED_PROXIES": "10.0.0.0/8,not-a-network",
        "HEARTH_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert re.search(
        r"HEARTH_TRUSTED_PROXIES: 'not-a-network' is not an IP address or CIDR range", result.stderr
    )


def test_only_config_addresses_reads_the_peer_or_forwarding_headers():
    """By construction: any other reader of the raw peer or a forwarding header would be a second answer."""
    raw_readers = re.compile(
        r"REMOTE_ADDR|HTTP_X_FORWARDED_FOR|HTTP_X_REAL_IP|HTTP_FORWARDED\b|get_ident\(|\[\"client\"\]|get\(\"client\"\)"
    )
    offenders = []
    for path in ROOT.glob("**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in (".venv", "tests", "bench", "var") or str(relative) == "config/addresses.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if raw_readers.search(line) and "Not DRF's get_ident" not in line:
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
