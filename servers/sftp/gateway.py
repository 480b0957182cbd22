"""The gateway's Hearth half: the authority nodes/client/sftp_gateway.py asks at every login and hands
every authenticated sftp channel to, and the one call that builds and runs it."""

import contextlib
import functools
import logging

from django.conf import settings
from django.db import connection

from config.errors import DomainError
from nodes.client.sftp_gateway import SFTPGateway, load_host_key
from servers.files.helper import helper_for, open_stream
from servers.sftp import logins
from servers.sftp.proxy import Proxy
from servers.sftp.session import Ended, GatewaySession, Watcher

logger = logging.getLogger(__name__)


def _releasing_database(method):
    """Login callbacks run in paramiko's transport threads: give back their connection each time."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception:
            logger.exception("sftp: login check failed")
            return None
        finally:
            connection.close()

    return wrapper


class Authority:
    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    @_releasing_database
    def login_password(self, username: str, password: str, address: str):
        return logins.login_password(username, password, address)

    @_releasing_database
    def login_publickey(self, username: str, key_line: str, address: str):
        return logins.login_publickey(username, key_line, address)

    def serve(self, login: logins.Login, channel, hangup) -> None:
        session = GatewaySession(login, hangup)
        try:
            try:
                session.recheck()
                session.measure_disk()
                stream, mount = open_stream(session.server), helper_for(session.server).mount
            finally:
                connection.close()
        except (Ended, DomainError) as exc:  # the node unreachable, the panel without sftp-server…
            logger.info("sftp: cannot start the session of %s: %s", login.user_id, exc)
            return
        self.watcher.add(session)
        try:
            Proxy(channel, stream, session, mount).run()
        finally:
            self.watcher.remove(session)
            with contextlib.suppress(Exception):
                stream.close()
            try:
                session.flush()
            except Exception:
                logger.exception("sftp: cannot write a session's last audit rows")
            finally:
                connection.close()


def bind_address() -> tuple[str, int]:
    host, _, port = settings.SFTP_BIND.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - a gateway listens for everyone


def build_gateway(host: str | None = None, port: int | None = None) -> tuple[SFTPGateway, Watcher]:
    """The gateway on SFTP_BIND (or `host`/`port`; port 0 picks a free one) and its session watcher
    (started). Run `gateway.serve()`; stop both with `gateway.stop()` and `watcher.stop()`."""
    default_host, default_port = bind_address()
    watcher = Watcher()
    gateway = SFTPGateway(
        host or default_host,
        default_port if port is None else port,
        load_host_key(str(settings.SFTP_HOST_KEY)),
        Authority(watcher),
        timeout=settings.SFTP_LOGIN_TIMEOUT_SECONDS,
        max_unauthenticated=settings.SFTP_MAX_UNAUTHENTICATED,
        per_address=settings.SFTP_MAX_UNAUTHENTICATED_PER_ADDRESS,
    )
    watcher.start()
    return gateway, watcher
