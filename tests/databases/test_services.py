"""What the databases' services guarantee beyond one request: the limit under concurrency, nothing left
made when the host goes away midway, and a deleted server's databases dropped, now or once the host
answers again."""

import pymysql
import pytest
from django.db import connection

from accounts.models import AuditLog
from databases import mysql
from databases.models import ServerDatabase
from databases.services import database_create, databases_drop_orphans
from servers.lifecycle.delete import files_removed
from servers.models import Server
from tests.fixtures.backups import a_server
from tests.fixtures.databases import closed_port, connect_as, on_host, user_on_host
from tests.fixtures.races import status_of, while_row_locked


@pytest.fixture
def server(customer):
    server = a_server(customer, name="db")
    server.database_limit = 2
    server.save()
    return server


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_creates_with_a_limit_of_two_make_exactly_two(server, database_host):
    pool = connection.pool
    sizes = (pool.min_size, pool.max_size)
    pool.resize(sizes[0], 30)  # a connection per contender, all parked on the server's row at once
    try:
        outcomes = while_row_locked(
            Server.objects.filter(pk=server.pk),
            [
                lambda n=n: database_create(server=server, actor=server.owner, name=f"race{n}")
                for n in range(20)
            ],
            timeout=60,
        )
    finally:
        pool.resize(*sizes)
    made = [o for o in outcomes if isinstance(o, ServerDatabase)]
    refused = [o for o in outcomes if not isinstance(o, ServerDatabase)]
    assert len(made) == 2, refused[:3]
    assert {status_of(o) for o in refused} == {400}
    assert ServerDatabase.objects.filter(server=server).count() == 2
    assert all(on_host(database.name) for database in made)


@pytest.mark.django_db(transaction=True)
def test_a_host_lost_midway_leaves_its_half_to_be_dropped_once_it_answers(
    server, database_host, cutting_relay
):
    real_port = database_host.port
    relay = cutting_relay(b"GRANT ")  # the database and the user are made, then the host is gone
    database_host.port = relay.port
    database_host.save()
    with pytest.raises(mysql.LeftBehind) as lost:
        database_create(server=server, actor=server.owner, name="half")
    assert lost.value.status == 503 and "dropped once the host answers again" in lost.value.message
    # No database of the server's, and not audited; the half is remembered without a server.
    orphan = ServerDatabase.objects.get()
    assert orphan.server is None and orphan.name == f"s{server.pk.hex[:8]}_half"
    assert not AuditLog.objects.filter(action="database.create").exists()
    assert on_host(orphan.name) and user_on_host(orphan.username)
    assert databases_drop_orphans() == 0  # still unreachable: kept
    database_host.port = real_port
    database_host.save()
    assert databases_drop_orphans() == 1
    assert not on_host(orphan.name) and not user_on_host(orphan.username)
    assert not ServerDatabase.objects.exists()


@pytest.mark.django_db
def test_a_failure_before_anything_was_made_leaves_no_orphan(server, database_host, cutting_relay):
    relay = cutting_relay(b"CREATE DATABASE")
    database_host.port = relay.port
    database_host.save()
    with pytest.raises(mysql.HostUnavailable) as lost:
        database_create(server=server, actor=server.owner, name="none")
    assert not isinstance(lost.value, mysql.LeftBehind)
    assert not ServerDatabase.objects.exists()


@pytest.mark.django_db
def test_a_deleted_servers_databases_are_dropped(server, database_host):
    made = database_create(server=server, actor=server.owner, name="gone")
    files_removed.send(sender=Server, server=server)
    assert not ServerDatabase.objects.exists()
    assert not on_host(made.name) and not user_on_host(made.username)


@pytest.mark.django_db
def test_a_database_whose_host_is_down_at_deletion_is_dropped_by_the_sweep(server, database_host):
    made = database_create(server=server, actor=server.owner, name="later")
    real_port = database_host.port
    database_host.port = closed_port()
    database_host.save()
    files_removed.send(sender=Server, server=server)
    server.delete()  # what the deletion does next: the database is an orphan now
    orphan = ServerDatabase.objects.get()
    assert orphan.server is None and on_host(made.name)
    database_host.port = real_port
    database_host.save()
    assert databases_drop_orphans() == 1
    assert not on_host(made.name) and not user_on_host(made.username)
    assert AuditLog.objects.filter(action="database.orphan_dropped").exists()


@pytest.mark.django_db
def test_a_chosen_remote_is_the_only_place_the_user_may_connect_from(server, database_host):
    made = database_create(server=server, actor=server.owner, name="local", remote="10.255.255.1")
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect_as(made.username, made.password, made.name)
    assert refused.value.args[0] in (1045, 1698)  # access denied (MariaDB's 1698: no account matches)
