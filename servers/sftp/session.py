"""An open SFTP session's standing: what it may do now, re-checked every SFTP_RECHECK_SECONDS by one
watcher thread per gateway process, and the changes it made, written to the audit log in batches.

The proxy asks `allows(permission)` for every request: a dictionary lookup, no query on the hot path.
The watcher re-reads the user, the credential and the server and ends the session (closing the SSH
connection) when the login no longer holds: the member was removed or lost file.read, the account was
deactivated or its password changed (every session of the account, whatever it logged in with: a
password change is how people answer "someone has my account"), the API key was revoked or expired,
the JWT's login session ended, the SSH key was deleted, the server was suspended, deleted, moved to
another node or is being transferred, reinstalled or restored.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.apikeys import _address_allowed
from accounts.audit import audit
from accounts.models import ApiKey, LoginSession, SSHKey, User
from accounts.permissions import can
from config.errors import DomainError
from servers.files import quota
from servers.files.access import check_files_access
from servers.models import Server
from servers.sftp.logins import API_KEY, JWT, PUBLIC_KEY, Login

logger = logging.getLogger(__name__)

READ, WRITE, DELETE = "file.read", "file.write", "file.delete"
PATHS_PER_ROW = 200  # an audit row lists this many paths, and counts the rest
FAILED_CHECKS_TOLERATED = 3  # the database unreachable this many rounds in a row: end the session


class Ended(Exception):
    """The login no longer holds; the message says why."""


class GatewaySession:
    def __init__(self, login: Login, hangup: Callable[[], None]):
        self.login, self._hangup = login, hangup
        self.user: User | None = None
        self.server: Server | None = None
        self.allowed = {READ: True, WRITE: False, DELETE: False}
        self.ended = threading.Event()
        self.end_reason = ""
        self.failed_checks = 0
        self.disk_left: int | None = None  # bytes the session may still write (None: no limit)
        self.disk_measured = 0.0
        self._changes: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def allows(self, permission: str) -> bool:
        return not self.ended.is_set() and self.allowed.get(permission, False)

    def spend(self, size: int) -> bool:
        """Count `size` bytes about to be written against the disk limit; False once over it. Every
        WRITE counts (an overwrite too): past the limit, writes are refused until a re-measure
        (after deletions, SFTP_DISK_RECHECK_SECONDS apart) finds room."""
        if self.disk_left is None:
            return True
        if size > self.disk_left:
            return False
        self.disk_left -= size
        return True

    def measure_disk(self) -> None:
        """What is left under the disk limit, measured on the node (du, as the API's writes do)."""
        self.disk_measured = time.monotonic()
        self.disk_left = quota.budget(self.server).left

    def over_disk_limit_for(self, seconds: float) -> bool:
        return (
            self.disk_left is not None
            and self.disk_left < 1 << 20
            and time.monotonic() - self.disk_measured > seconds
        )

    def record(self, action: str, path: str) -> None:
        """A change the helper confirmed (sftp.write, sftp.delete, …): kept for the next audit row."""
        with self._lock:
            paths = self._changes.setdefault(action, [])
            if len(paths) < PATHS_PER_ROW:
                paths.append(path)
            self._counts[action] = self._counts.get(action, 0) + 1

    def recheck(self) -> None:
        """Re-read everything the login rests on; Ended when it no longer holds."""
        self.user, self.server = standing(self.login)
        self.allowed = {
            READ: True,
            WRITE: can(self.user, WRITE, self.server),
            DELETE: can(self.user, DELETE, self.server),
        }

    def end(self, reason: str) -> None:
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        logger.info(
            "sftp: session of user %s on %s ended: %s", self.login.user_id, self.login.server_id, reason
        )
        self._hangup()

    def flush(self) -> None:
        """One audit row per kind of change since the last flush, listing its paths."""
        with self._lock:
            changes, counts = self._changes, self._counts
            self._changes, self._counts = {}, {}
        if not changes or self.server is None:
            return
        for action, paths in changes.items():
            audit(
                action,
                actor=self.user,
                resource=self.server,
                ip=self.login.address,
                paths=paths,
                count=counts[action],
                via=f"sftp ({self.login.method})",
            )


def standing(login: Login) -> tuple[User, Server]:
    """The user (with the credential's scope) and the server, when the login still holds."""
    user = User.objects.filter(pk=login.user_id).first()
    if user is None or not user.is_active:
        raise Ended("the account was deactivated")
    if user.password != login.password_hash:
        raise Ended("the account's password changed")
    _credential_holds(login, user)
    server = (
        Server.objects.select_related("node", "template")
        .prefetch_related("members")
        .filter(pk=login.server_id)
        .first()
    )
    if server is None:
        raise Ended("the server was deleted")
    if server.node_id != login.node_id:
        raise Ended("the server moved to another node")
    try:
        check_files_access(user, server, READ)
    except DomainError as exc:
        raise Ended(str(exc)) from exc
    return user, server


def _credential_holds(login: Login, user: User) -> None:
    if login.method == API_KEY:
        key = ApiKey.objects.filter(pk=login.credential_id).first()
        if key is None or key.revoked_at is not None:
            raise Ended("the API key was revoked")
        if key.expires_at is not None and key.expires_at <= timezone.now():
            raise Ended("the API key expired")
        if not _address_allowed(key, login.address):
            raise Ended("the API key may no longer be used from this address")
        user.token_scope = key.permissions
    elif login.method == JWT:
        if not LoginSession.objects.filter(pk=login.credential_id, revoked_at__isnull=True).exists():
            raise Ended("the login session ended")
    elif login.method == PUBLIC_KEY and not SSHKey.objects.filter(pk=login.credential_id).exists():
        raise Ended("the SSH key was removed")


class Watcher:
    """One thread re-checking every open session and writing their audit rows."""

    def __init__(self, interval: float | None = None):
        self.interval = interval or settings.SFTP_RECHECK_SECONDS
        self.sessions: set[GatewaySession] = set()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sftp-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop re-checking, and write what the open sessions changed (the process is ending)."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            sessions = list(self.sessions)
        for session in sessions:
            try:
                session.flush()
            except Exception:
                logger.exception("sftp: cannot write a session's audit rows")
        connection.close()

    def add(self, session: GatewaySession) -> None:
        with self._lock:
            self.sessions.add(session)

    def remove(self, session: GatewaySession) -> None:
        with self._lock:
            self.sessions.discard(session)

    def _loop(self) -> None:
        try:
            while not self.stopping.wait(self.interval):
                with self._lock:
                    sessions = list(self.sessions)
                for session in sessions:
                    self.check(session)
        finally:
            connection.close()

    def check(self, session: GatewaySession) -> None:
        try:
            session.recheck()
            session.failed_checks = 0
        except Ended as exc:
            session.end(str(exc))
        except Exception:
            session.failed_checks += 1
            logger.exception("sftp: cannot re-check a session (%s in a row)", session.failed_checks)
            connection.close()  # a broken connection is reopened on the next round
            if session.failed_checks >= FAILED_CHECKS_TOLERATED:
                session.end("its access could not be re-checked")
        try:
            if not session.ended.is_set() and session.over_disk_limit_for(settings.SFTP_DISK_RECHECK_SECONDS):
                session.measure_disk()
        except Exception:
            logger.exception("sftp: cannot measure a server's disk use")
        try:
            session.flush()
        except Exception:
            logger.exception("sftp: cannot write a session's audit rows")
