"""Alerts' fixtures: a webhook receiver stand-in (its own process, on a TCP port), the test-only
allowlist that lets deliveries reach exactly its address, and alert rows to deliver."""

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertRule
from config.crypto import encrypt
from tests.polling import wait_for

RECEIVER = Path(__file__).resolve().parents[1] / "standins" / "webhook_receiver.py"
# The receiver's allowed address: one of loopback's, not 127.0.0.1 (which the SSRF tests expect refused).
ALLOWED = f"127.0.0.{23 + os.getpid() % 200}"
SECRET = "test-signing-secret"


class Receiver:
    """The stand-in process, on one port of its allowed address and of 127.0.0.1 and ::1 (so a refused
    loopback URL that got through would be seen). `url(path)` is its allowed address."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--host", ALLOWED, "--host", "127.0.0.1", "--host", "::1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        assert line.startswith("listening "), line
        self.port = int(line.split()[1])

    def url(self, path: str = "/hook", host: str = ALLOWED) -> str:
        return f"http://{host}:{self.port}{path}"

    def _control(self, path: str, data=None):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_control/{path}",
            data=None if data is None else json.dumps(data).encode(),
            method="GET" if data is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own http:// URL
            content = response.read()
        return json.loads(content) if content else None

    def script(self, *entries) -> None:
        """Answer the next requests with these (statuses or {status, headers, body}); forget the past."""
        self._control("script", list(entries))

    def requests(self) -> list[dict]:
        return self._control("requests")

    def wait_requests(self, count: int, timeout: float = 15) -> list[dict]:
        wait_for(
            lambda: len(self.requests()) >= count, timeout, lambda: f"{count} requests: {self.requests()}"
        )
        return self.requests()

    def close(self):
        self.process.terminate()
        self.process.wait(5)


@pytest.fixture(scope="session")
def _receiver_process():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def receiver(_receiver_process, settings):
    """The receiver with a fresh script (204 to everything), reachable through the test-only allowlist
    of its one address; deliveries are quick to retry."""
    settings.OUTBOUND_ALLOW = [f"{ALLOWED}/32"]
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 0.05
    settings.ALERT_DELIVERY_TIMEOUT_SECONDS = 5.0
    _receiver_process.script()
    return _receiver_process


def make_rule(**fields) -> AlertRule:
    fields.setdefault("name", "rule")
    fields.setdefault("type", "server_crashed")
    fields.setdefault("target", "server")
    fields.setdefault("signing_secret", encrypt(SECRET))
    return AlertRule.objects.create(**fields)


def make_alert(**fields) -> Alert:
    now = timezone.now()
    fields.setdefault("type", "server_crashed")
    fields.setdefault("title", "survival crashed")
    fields.setdefault("message", "survival crashed (exit code 1). Not restarting.")
    fields.setdefault("severity", "critical")
    fields.setdefault("metadata", {"exitCode": 1, "oom": False})
    fields.setdefault("fingerprint", f"test:{uuid.uuid4()}")
    return Alert.objects.create(created_at=now, last_seen_at=now, **fields)
