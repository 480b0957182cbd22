"""Database hosts, as staff manage them (the admin and /api/admin/database-hosts). A host is saved only
once the panel has logged in to it with what was given, so a typo is a 503 now rather than every
customer's failed create later."""

from django.db import transaction

from accounts.audit import audit
from config.errors import Conflict
from databases import mysql
from databases.models import DatabaseHost
from databases.services import host_access

CONNECTION_FIELDS = ("host", "port", "username", "password")
FIELDS = (*CONNECTION_FIELDS, "name", "max_databases")


def host_create(*, actor, nodes=(), request=None, **fields) -> DatabaseHost:
    """Register a host after logging in to it (503 with the reason when that fails)."""
    host = DatabaseHost()
    _apply(host, fields)
    version = mysql.version(host_access(host))
    with transaction.atomic():
        host.save()
        host.nodes.set(nodes)
        audit(
            "database_host.create",
            actor=actor,
            request=request,
            resource=host,
            name=host.name,
            version=version,
        )
    return host


def host_update(*, host: DatabaseHost, actor, nodes=None, request=None, **fields) -> DatabaseHost:
    """Change a host; new connection details are tried first. Existing databases stay where they are:
    changing the address or account is for the same server reached another way."""
    changed = _apply(host, fields)
    if changed & set(CONNECTION_FIELDS):
        mysql.version(host_access(host))
    with transaction.atomic():
        host.save()
        if nodes is not None:
            host.nodes.set(nodes)
            changed.add("nodes")
        audit("database_host.update", actor=actor, request=request, resource=host, fields=sorted(changed))
    return host


def host_delete(*, host: DatabaseHost, actor, request=None) -> None:
    """Only a host without databases (409 otherwise): the panel never forgets databases it made."""
    with transaction.atomic():
        host = DatabaseHost.objects.select_for_update().get(pk=host.pk)
        count = host.databases.count()
        if count:
            raise Conflict(f"Database host {host.name} still has {count} database(s): delete them first.")
        audit("database_host.delete", actor=actor, request=request, resource=host, name=host.name)
        host.delete()


def host_test(*, host: DatabaseHost, actor, request=None) -> str:
    """Log in to the host and read its version (503 with the reason when it cannot)."""
    version = mysql.version(host_access(host))
    audit("database_host.test", actor=actor, request=request, resource=host, version=version)
    return version


def _apply(host: DatabaseHost, fields: dict) -> set[str]:
    if "name" in fields and DatabaseHost.objects.filter(name=fields["name"]).exclude(pk=host.pk).exists():
        raise Conflict(f"A database host named {fields['name']} already exists.")
    changed = set()
    for field in FIELDS:
        if field in fields and (field == "password" or getattr(host, field) != fields[field]):
            setattr(host, field, fields[field])
            changed.add(field)
    return changed
