"""SFTP gateway tests: the real gateway (its accept loop, watcher and proxy) in a thread of this
process on a free port, sessions to helper containers on the real engines, leaving no container
behind. The gateway's threads use their own database connections, so the tests commit for real."""

import contextlib
import threading

import paramiko
import pytest

from servers.sftp.gateway import build_gateway
from tests.fixtures import PASSWORD
from tests.fixtures.servers import server_beside


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield


class Gateway:
    def __init__(self, port: int):
        self.port = port
        self._open: list = []

    def transport(self, username: str, *, password: str | None = None, pkey=None) -> paramiko.Transport:
        transport = paramiko.Transport(("127.0.0.1", self.port))
        self._open.append(transport)
        transport.connect(username=username, password=password, pkey=pkey)
        return transport

    def sftp(self, username: str, *, password: str | None = PASSWORD, pkey=None) -> paramiko.SFTPClient:
        if pkey is not None:
            password = None
        transport = self.transport(username, password=password, pkey=pkey)
        return paramiko.SFTPClient.from_transport(transport)

    def close(self) -> None:
        for transport in self._open:
            with contextlib.suppress(Exception):
                transport.close()


@pytest.fixture
def gateway(transactional_db, settings, tmp_path):
    settings.SFTP_HOST_KEY = str(tmp_path / "host_key")
    settings.SFTP_LOGIN_TIMEOUT_SECONDS = 3.0
    server, watcher = build_gateway("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    gateway = Gateway(server.port)
    gateway.server = server
    yield gateway
    gateway.close()
    server.stop()
    thread.join(5)
    watcher.stop()


def sftp_name(user, server) -> str:
    return f"{user.username}.{str(server.pk)[:8]}"


def another_server(server, owner):
    """A second server on `server`'s node (files_server makes one node per engine and test)."""
    return server_beside(server, owner=owner, name="another")
