"""Server databases: made, listed, given a new password and dropped on the hosts staff registered.

A create takes the server's row lock, then the host's, so neither the server's database limit nor the
host's maximum can be passed by requests arriving together. The host's work happens inside the
transaction that records the row: when the host refuses or goes away, the row is never committed and
databases.mysql has dropped what it made. The one thing that can stay behind, a database whose host
went away in the middle of its create or its server's deletion, is kept as a row without a server and
dropped by `databases_drop_orphans` (beat) once the host answers.
"""

import logging
import re
import secrets
import string

from django.db import transaction

from accounts.audit import audit
from accounts.permissions import can
from config.errors import Conflict, InvalidInput, NotAllowed, NotFound, Suspended
from config.ids import is_uuid
from databases import mysql
from databases.models import DatabaseHost, ServerDatabase
from servers.models import Server
from servers.selectors import visible_server

logger = logging.getLogger(__name__)
NAME = re.compile(r"[A-Za-z0-9_]{1,48}")
# What MySQL takes as the host part of an account: names, addresses, netmasks and the % and _ wildcards.
REMOTE = re.compile(r"[A-Za-z0-9.%_:/-]{1,255}")
PASSWORD_CHARS = string.ascii_letters + string.digits
PASSWORD_LENGTH = 32
READ_WHILE_SUSPENDED = {"database.read"}


def host_access(host: DatabaseHost) -> mysql.Host:
    return mysql.Host(
        name=host.name, host=host.host, port=host.port, username=host.username, password=host.password
    )


# ---- who may ----------------------------------------------------------------------------------------


def database_server(user, server_id, permission: str) -> Server:
    """The server `user` sees (404), holding `permission` on it (403), not suspended unless only reading
    (423)."""
    server = visible_server(user, server_id)
    if not can(user, permission, server):
        raise NotAllowed(f"You do not have permission to perform this action (requires {permission})")
    if server.status == Server.Status.SUSPENDED and permission not in READ_WHILE_SUSPENDED:
        raise Suspended("Server is suspended: its databases cannot be changed until staff unsuspend it.")
    return server


def database_of(server: Server, database_id) -> ServerDatabase:
    """One database of `server` (404 for another server's, or a made-up id)."""
    database = None
    if is_uuid(database_id):
        database = ServerDatabase.objects.select_related("host").filter(pk=database_id, server=server).first()
    if database is None:
        raise NotFound("Database not found.")
    return database


def hosts_for(server: Server):
    """The hosts that serve the server's node: those naming it, and those naming no node at all."""
    return DatabaseHost.objects.filter(nodes=server.node_id) | DatabaseHost.objects.filter(nodes=None)


# ---- a server's databases ---------------------------------------------------------------------------


def _valid(name: str, remote: str) -> None:
    errors = {}
    if not NAME.fullmatch(name or ""):
        errors["name"] = ["Use 1 to 48 letters, digits or underscores."]
    if not REMOTE.fullmatch(remote or ""):
        errors["remote"] = ["Use a host name, an address, a netmask (10.0.0.0/255.0.0.0) or % for anywhere."]
    if errors:
        raise InvalidInput(errors)


def _chosen_host(server: Server, host_id) -> DatabaseHost:
    hosts = hosts_for(server).distinct()
    if host_id is not None:
        host = hosts.filter(pk=host_id).first() if is_uuid(host_id) else None
        if host is None:
            raise InvalidInput({"hostId": ["No database host with this id serves this server's node."]})
        return host
    host = next((h for h in hosts.order_by("name") if _has_room(h)), None)
    if host is None:
        raise InvalidInput({"hostId": ["No database host with room serves this server's node: ask staff."]})
    return host


def _has_room(host: DatabaseHost) -> bool:
    return host.max_databases is None or host.databases.count() < host.max_databases


def database_create(
    *, server: Server, actor, name: str, host_id=None, remote: str = "%", request=None
) -> ServerDatabase:
    """A database `s<server>_<name>` on the chosen host (or the first with room that serves the
    server's node), its own user `u<server>_<random>` with a strong password, granted that database
    alone, connecting from `remote`. 400 over the server's limit or the host's maximum; 409 when the
    name is taken; 503 when the host is unavailable."""
    _valid(name, remote)
    prefix = server.pk.hex[:8]
    real_name = f"s{prefix}_{name}"
    try:
        with transaction.atomic():
            current = Server.objects.select_for_update().get(pk=server.pk)  # the limit's lock
            count = ServerDatabase.objects.filter(server=current).count()
            if count >= current.database_limit:
                raise InvalidInput(
                    f"This server may have {current.database_limit} database(s) and has {count}: "
                    "delete one first."
                )
            host = DatabaseHost.objects.select_for_update().get(pk=_chosen_host(current, host_id).pk)
            if not _has_room(host):
                raise InvalidInput({"hostId": [f"Database host {host.name} is full: choose another."]})
            if ServerDatabase.objects.filter(host=host, name=real_name).exists():
                raise Conflict(f"This server already has a database named {name} on {host.name}.")
            database = ServerDatabase(
                server=current,
                host=host,
                name=real_name,
                username=f"u{prefix}_{_random(8, string.ascii_lowercase + string.digits)}",
                remote=remote,
                created_by=actor,
            )
            database.password = _random(PASSWORD_LENGTH)
            database.save()
            audit(
                "database.create",
                actor=actor,
                request=request,
                resource=current,
                database=real_name,
                username=database.username,
                host=host.name,
            )
            mysql.create(
                host_access(host),
                database=real_name,
                username=database.username,
                password=database.password,
                remote=remote,
            )
    except mysql.LeftBehind:
        _keep_to_drop(database)
        raise
    return database


def _keep_to_drop(database: ServerDatabase) -> None:
    """A database the host may still hold though its create failed: recorded without a server, so
    databases_drop_orphans drops it once the host answers."""
    ServerDatabase.objects.create(
        server=None,
        host=database.host,
        name=database.name,
        username=database.username,
        password_encrypted=database.password_encrypted,
        remote=database.remote,
    )


def database_rotate(*, database: ServerDatabase, actor, request=None) -> ServerDatabase:
    """A new password, set on the host first (503 when it is unavailable: the old one still works)."""
    with transaction.atomic():
        database = ServerDatabase.objects.select_for_update().select_related("host").get(pk=database.pk)
        password = _random(PASSWORD_LENGTH)
        mysql.set_password(
            host_access(database.host), username=database.username, remote=database.remote, password=password
        )
        database.password = password
        database.save(update_fields=["password_encrypted"])
        audit(
            "database.rotate", actor=actor, request=request, resource=database.server, database=database.name
        )
    return database


def database_delete(*, database: ServerDatabase, actor, request=None) -> None:
    """Drop the database and its user on the host, then the row (503, and both kept, when it is
    unavailable)."""
    with transaction.atomic():
        database = (
            ServerDatabase.objects.select_for_update(of=("self",))
            .select_related("host", "server")
            .get(pk=database.pk)
        )
        _drop(database)
        audit(
            "database.delete", actor=actor, request=request, resource=database.server, database=database.name
        )
        database.delete()


def _drop(database: ServerDatabase) -> None:
    mysql.drop(
        host_access(database.host), database=database.name, username=database.username, remote=database.remote
    )


def server_databases_drop(*, server: Server) -> None:
    """A deleted server's databases, dropped; those whose host is unavailable are left to
    databases_drop_orphans (the server's deletion makes them orphans)."""
    for database in ServerDatabase.objects.filter(server=server).select_related("host"):
        try:
            _drop(database)
        except mysql.HostUnavailable as exc:
            logger.warning(
                "Database %s of deleted server %s is dropped later: %s", database.name, server.pk, exc
            )
            continue
        database.delete()


def databases_drop_orphans() -> int:
    """Drop the databases of deleted servers (and of failed creates) whose host was unavailable then."""
    dropped = 0
    for database in ServerDatabase.objects.filter(server=None).select_related("host"):
        try:
            _drop(database)
        except mysql.HostUnavailable as exc:
            logger.info("Orphaned database %s is still on %s: %s", database.name, database.host.name, exc)
            continue
        audit("database.orphan_dropped", resource=database, database=database.name, host=database.host.name)
        database.delete()
        dropped += 1
    return dropped


def _random(length: int, alphabet: str = PASSWORD_CHARS) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))
