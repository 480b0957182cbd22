"""`manage.py sftp`: listens on HEARTH_SFTP_BIND with the host key it made once (0600, the same after a
restart), reports its heartbeat for the health endpoint, and stops on SIGTERM."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import paramiko
import pytest
from django.core.cache import cache

from tests.polling import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def host_key_of(port: int) -> str:
    transport = paramiko.Transport(("127.0.0.1", port))
    try:
        transport.start_client(timeout=10)
        return transport.get_remote_server_key().get_base64()
    finally:
        transport.close()


def start(port: int, key: str) -> subprocess.Popen:
    env = {**os.environ, "HEARTH_SFTP_BIND": f"127.0.0.1:{port}", "HEARTH_SFTP_HOST_KEY": key}
    return subprocess.Popen(
        [sys.executable, "manage.py", "sftp"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-Hearth")
    except OSError:
        return False


@pytest.mark.django_db
def test_the_command_serves_beats_and_keeps_its_host_key(tmp_path):
    key, port = str(tmp_path / "sftp_host_key"), free_port()
    cache.delete("heartbeat:sftp")
    seen = []
    for _ in range(2):
        process = start(port, key)
        try:
            wait_for(lambda: listening(port), 30, "the gateway to listen")
            seen.append(host_key_of(port))
            wait_for(lambda: cache.get("heartbeat:sftp"), 15, "the gateway's heartbeat")
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0, process.stdout.read().decode()
        time.sleep(0.2)
    assert seen[0] == seen[1]
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
