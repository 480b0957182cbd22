"""The one door to database hosts: what the panel does on a MySQL or MariaDB server, over PyMySQL.

Callers pass plain values and get our errors: `HostUnavailable` (503) when the host cannot be reached or
refuses the panel's own login, `Conflict` (409) when the name or user already exists there. Identifiers
cannot be query parameters, so a database name reaches SQL only after `_identifier` (letters, digits and
underscores, checked again here whatever the caller checked) inside backquotes; users, host patterns and
passwords always go as parameters, which PyMySQL quotes as string literals.
"""

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
from django.conf import settings
from pymysql.constants import ER

from config.errors import Conflict, Unavailable

IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,64}")
# What the user may do in its own database: everything but granting, and nothing outside it.
PRIVILEGES = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE TEMPORARY TABLES, "
    "LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER"
)
# Client errors that mean the host is not there (2003 refused, 2005 unknown host, 2006/2013 gone midway).
UNREACHABLE = {2003, 2005, 2006, 2013}
TAKEN = {ER.DB_CREATE_EXISTS: "a database named {database}", ER.CANNOT_USER: "a user named {username}"}


class HostUnavailable(Unavailable):
    """The database host could not be reached, or refused the panel's login (503)."""


@dataclass(frozen=True)
class Host:
    """How the panel logs in to a database host."""

    name: str
    host: str
    port: int
    username: str
    password: str


def _identifier(name: str) -> str:
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a database identifier: {name!r}")
    return name


def _granted_database(name: str) -> str:
    """A database name as GRANT reads it: `_` and `%` are wildcards there, so escaped they match only
    this database, never a neighbour whose name differs where this one has an underscore."""
    return _identifier(name).replace("_", r"\_")


@contextlib.contextmanager
def _connected(host: Host) -> Iterator[pymysql.cursors.Cursor]:
    timeout = settings.DATABASE_HOST_TIMEOUT_SECONDS
    try:
        connection = pymysql.connect(
            host=host.host,
            port=host.port,
            user=host.username,
            password=host.password,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            autocommit=True,
            charset="utf8mb4",
        )
    except pymysql.err.OperationalError as exc:
        raise _unavailable(host, exc) from exc
    try:
        with connection.cursor() as cursor:
            yield cursor
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] in UNREACHABLE:
            raise _unavailable(host, exc) from exc
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise HostUnavailable(
            f"Database host {host.name} refused the panel's statement ({text}): staff must give the "
            "panel's account there the privileges the README's Databases section lists."
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def _unavailable(host: Host, exc: pymysql.err.OperationalError) -> HostUnavailable:
    code, text = (*exc.args, "", "")[:2] if exc.args else (0, str(exc))
    if code == ER.ACCESS_DENIED_ERROR:
        why = f"it refused the panel's login as {host.username}: staff must correct the host's credentials"
    else:
        why = f"it cannot be reached ({text or code}); try again shortly"
    return HostUnavailable(f"Database host {host.name} ({host.host}:{host.port}): {why}.")


def version(host: Host) -> str:
    """The server's version, e.g. "10.11.6-MariaDB": the host's test connection."""
    with _connected(host) as cursor:
        cursor.execute("SELECT VERSION()")
        return cursor.fetchone()[0]


def create(host: Host, *, database: str, username: str, password: str, remote: str) -> None:
    """The database, its user and the user's grants on it alone. On any failure what this call made is
    dropped again before the error is raised (Conflict when the database or user already exists, and
    nothing of what was there is touched); `LeftBehind` when even that failed."""
    made = {"database": False, "user": False}
    try:
        with _connected(host) as cursor:
            try:
                cursor.execute(f"CREATE DATABASE `{_identifier(database)}`")
                made["database"] = True
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (username, remote, password))
                made["user"] = True
                cursor.execute(
                    f"GRANT {PRIVILEGES} ON `{_granted_database(database)}`.* TO %s@%s", (username, remote)
                )
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args else 0
                if code in TAKEN:
                    message = TAKEN[code].format(database=database, username=username)
                    raise Conflict(f"Database host {host.name} already has {message}.") from exc
                raise
    except Exception as exc:
        if any(made.values()) and not _undone(host, database, username, remote, made):
            raise LeftBehind(f"{exc} What was made is dropped once the host answers again.") from exc
        raise


class LeftBehind(HostUnavailable):
    """A create failed midway and what it had made could not be dropped (the host went away)."""


def _undone(host: Host, database: str, username: str, remote: str, made: dict) -> bool:
    """Drop what a failed create made, on a new connection (the first may be what failed)."""
    try:
        with _connected(host) as cursor:
            if made["user"]:
                cursor.execute("DROP USER IF EXISTS %s@%s", (username, remote))
            if made["database"]:
                cursor.execute(f"DROP DATABASE IF EXISTS `{_identifier(database)}`")
    except (pymysql.err.MySQLError, HostUnavailable):
        return False
    return True


def set_password(host: Host, *, username: str, remote: str, password: str) -> None:
    with _connected(host) as cursor:
        cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (username, remote, password))


def drop(host: Host, *, database: str, username: str, remote: str) -> None:
    """The user and the database; either already gone is fine (a retried drop)."""
    with _connected(host) as cursor:
        cursor.execute("DROP USER IF EXISTS %s@%s", (username, remote))
        cursor.execute(f"DROP DATABASE IF EXISTS `{_identifier(database)}`")
