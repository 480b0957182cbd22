"""The pieces of the production path that run without building the image: secrets read from files
(config/env.py), the upgrade step's lock and the services' liveness check (docker-compose.yml)."""

import ipaddress
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml
from django.core.management import call_command
from django.db import connection

from config.env import read_secret_files
from servers.management.commands.upgrade import UPGRADE_LOCK


def test_a_secret_comes_from_its_file_unless_given_directly(tmp_path):
    (tmp_path / "key").write_text("s3cret\n")
    environment = {
        "SECRET_KEY_FILE": str(tmp_path / "key"),
        "HEARTH_METRICS_TOKEN_FILE": str(tmp_path / "key"),
        "DATABASE_URL": "postgres://given",
        "DATABASE_URL_FILE": str(tmp_path / "key"),
        "LOG_FILE": str(tmp_path / "key"),  # not a setting that holds a secret: left alone
    }
    read_secret_files(environment)
    assert environment["SECRET_KEY"] == "s3cret"
    assert environment["HEARTH_METRICS_TOKEN"] == "s3cret"
    assert environment["DATABASE_URL"] == "postgres://given"
    assert "LOG" not in environment


@pytest.mark.parametrize("problem", ["missing", "too large"])
def test_a_secret_file_that_cannot_be_read_stops_the_start(tmp_path, problem):
    path = tmp_path / "key"
    if problem == "too large":
        path.write_text("x" * 70_000)
    with pytest.raises(SystemExit, match="SECRET_KEY_FILE"):
        read_secret_files({"SECRET_KEY_FILE": str(path)})


def test_the_panel_starts_with_its_secret_key_from_a_file(tmp_path):
    (tmp_path / "key").write_text("from-a-file-" + "k" * 40 + "\n")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {
        "SECRET_KEY_FILE": str(tmp_path / "key")
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "from-a-file-" + "k" * 40, result.stderr


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_waits_for_the_one_already_running():
    if connection.vendor != "postgresql":
        pytest.fail("the upgrade lock is PostgreSQL's: run the suite on the test environment")
    finished = threading.Event()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [UPGRADE_LOCK])
        try:
            thread = threading.Thread(target=lambda: (call_command("upgrade", verbosity=0), finished.set()))
            thread.start()
            time.sleep(1.5)
            assert not finished.is_set()  # held by "the other upgrade"
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [UPGRADE_LOCK])
    thread.join(timeout=60)
    assert finished.is_set()


def test_alive_says_whether_a_service_reported_in(settings):
    from config import heartbeat

    heartbeat.beat("monitor")
    call_command("alive", "monitor")
    call_command("alive", "monitor", "--here")
    from django.core.cache import cache

    cache.delete(f"heartbeat:monitor@{socket.gethostname()}")  # another host's replica is alive
    call_command("alive", "monitor")
    with pytest.raises(SystemExit):
        call_command("alive", "monitor", "--here")

    cache.delete("heartbeat:sftp")
    with pytest.raises(SystemExit):
        call_command("alive", "sftp")


def test_the_compose_file_trusts_only_the_proxy_and_runs_one_beat():
    from django.conf import settings

    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    proxy_address = _default(services["proxy"]["networks"]["hearth"]["ipv4_address"])
    for name in ("migrate", "web", "worker", "beat", "monitor", "sftp"):
        environment = services[name]["environment"]
        assert _default(environment["HEARTH_TRUSTED_PROXIES"]) == f"{proxy_address}/32", name
        assert environment["HEARTH_HTTPS"] == "1"
        assert "SECRET_KEY" not in environment  # from .env or a file, never the compose file
    assert "deploy" not in services["beat"]  # monitors share the nodes by lease; beats would not
    assert "--here" in services["monitor"]["healthcheck"]["test"]  # a dead replica is not hidden by another
    for name in ("web", "worker", "beat", "monitor", "sftp"):
        assert services[name]["healthcheck"]["test"] != ["NONE"], name
    # the proxy's fixed address is outside the range other containers get theirs from
    network = compose["networks"]["hearth"]["ipam"]["config"][0]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(_default(network["subnet"]))
    assert ipaddress.ip_address(proxy_address) not in ipaddress.ip_network(_default(network["ip_range"]))


def _default(value: str) -> str:
    """A compose value with each `${NAME:-default}` replaced by its default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
