"""A server's databases through the API, on the test environment's real MariaDB: the contract's answers,
credentials that work and reach nothing else, and every refusal (404 hidden, 403 permission, 423
suspended, 400 input and limits, 409 taken, 503 host unavailable with nothing left made)."""

import pymysql
import pytest

from accounts.models import AuditLog
from databases.models import ServerDatabase
from servers.models import Server, ServerMember
from tests.fixtures.backups import a_server
from tests.fixtures.databases import as_admin, closed_port, connect_as, on_host, user_on_host

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(customer):
    server = a_server(customer, name="db")
    server.database_limit = 3
    server.save()
    return server


def url(server, database=None, action=""):
    base = f"/api/servers/{server.pk}/databases"
    base = f"{base}/{database}" if database is not None else base
    return f"{base}/{action}" if action else base


def create(client, server, **body):
    return client.post(url(server), {"name": "world", **body}, format="json")


def test_create_answers_as_the_contract_and_the_credentials_work(client_for, customer, server, database_host):
    response = create(client_for(customer), server, hostId=str(database_host.pk))
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    prefix = server.pk.hex[:8]
    assert data["name"] == f"s{prefix}_world" and data["username"].startswith(f"u{prefix}_")
    assert len(data["password"]) >= 32 and data["hostId"] == str(database_host.pk)
    assert data["hostName"] == "mariadb" and data["port"] == database_host.port and data["remote"] == "%"
    assert data["jdbc"] == f"jdbc:mysql://{database_host.host}:{database_host.port}/{data['name']}"
    with (
        connect_as(data["username"], data["password"], data["name"]) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("CREATE TABLE players (name VARCHAR(16))")
        cursor.execute("INSERT INTO players VALUES ('steve')")
        cursor.execute("SHOW DATABASES")
        assert {row[0] for row in cursor.fetchall()} == {"information_schema", data["name"]}
    row = ServerDatabase.objects.get(pk=data["id"])
    assert data["password"] not in row.password_encrypted
    audit = AuditLog.objects.get(action="database.create")
    assert audit.resource_id == str(server.pk) and data["password"] not in str(audit.metadata)


def test_the_user_cannot_reach_another_servers_database_nor_a_neighbour_its_grant_could_match(
    client_for, customer, server, database_host
):
    other = a_server(customer, name="other")
    theirs = create(client_for(customer), other).json()["data"]
    ours = create(client_for(customer), server, name="my_db").json()["data"]
    # In a GRANT an unescaped _ matches any one character: s<prefix>_myXdb would fall under s<prefix>_my_db.
    neighbour = ours["name"].replace("my_db", "myXdb")
    as_admin(f"CREATE DATABASE `{neighbour}`")
    try:
        for database in (theirs["name"], neighbour):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                connect_as(ours["username"], ours["password"], database)
            assert refused.value.args[0] == 1044  # access denied to that database
    finally:
        as_admin(f"DROP DATABASE `{neighbour}`")


def test_the_list_shows_the_password_to_readers_only(client_for, customer, make_user, server, database_host):
    made = create(client_for(customer), server).json()["data"]
    reader, outsider, stranger = make_user(), make_user(), make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["database.read"])
    ServerMember.objects.create(server=server, user=outsider, permissions=["file.read"])
    listed = client_for(reader).get(url(server)).json()["data"]
    assert [(d["id"], d["password"]) for d in listed] == [(made["id"], made["password"])]
    assert client_for(outsider).get(url(server)).status_code == 403
    assert client_for(stranger).get(url(server)).status_code == 404
    assert client_for(reader).post(url(server), {"name": "x"}, format="json").status_code == 403


def test_rotate_gives_a_new_password_and_the_old_one_stops_working(
    client_for, customer, server, database_host
):
    made = create(client_for(customer), server).json()["data"]
    response = client_for(customer).post(url(server, made["id"], "rotate"))
    assert response.status_code == 200, response.content
    rotated = response.json()["data"]
    assert rotated["password"] != made["password"] and rotated["username"] == made["username"]
    connect_as(made["username"], rotated["password"], made["name"]).close()
    with pytest.raises(pymysql.err.OperationalError):
        connect_as(made["username"], made["password"], made["name"])
    assert AuditLog.objects.filter(action="database.rotate", resource_id=str(server.pk)).exists()


def test_delete_drops_the_database_and_its_user(client_for, customer, server, database_host):
    made = create(client_for(customer), server).json()["data"]
    response = client_for(customer).delete(url(server, made["id"]))
    assert response.status_code == 200 and response.json() == {"success": True}
    assert not on_host(made["name"]) and not user_on_host(made["username"])
    assert not ServerDatabase.objects.exists()
    assert client_for(customer).delete(url(server, made["id"])).status_code == 404


def test_a_name_taken_is_409_and_what_was_there_is_untouched(client_for, customer, server, database_host):
    assert create(client_for(customer), server).status_code == 201
    again = create(client_for(customer), server)
    assert again.status_code == 409 and "already has a database named world" in again.json()["message"]
    # Made outside the panel with the name the panel would choose: refused, and kept as it was.
    outside = f"s{server.pk.hex[:8]}_mine"
    as_admin(f"CREATE DATABASE `{outside}`", f"CREATE TABLE `{outside}`.keep (id INT)")
    try:
        taken = create(client_for(customer), server, name="mine")
        assert taken.status_code == 409, taken.content
        assert "already has a database named" in taken.json()["message"]
        assert as_admin(f"SHOW TABLES IN `{outside}`") == [("keep",)]
        assert ServerDatabase.objects.count() == 1
    finally:
        as_admin(f"DROP DATABASE `{outside}`")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 49}, "name"),
        ({"name": "a`; DROP DATABASE mysql; -- "}, "name"),
        ({"name": "../etc"}, "name"),
        ({"name": "wörld"}, "name"),
        ({"name": "ok", "remote": "' OR 1=1 --"}, "remote"),
        ({"name": "ok", "remote": ""}, "remote"),
        ({"name": "ok", "hostId": "not-a-uuid"}, "hostId"),
        ({"name": "ok", "grants": "ALL"}, "grants"),
    ],
)
def test_bad_input_is_400_naming_the_field(client_for, customer, server, database_host, body, field):
    response = client_for(customer).post(url(server), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()
    assert not ServerDatabase.objects.exists()


def test_a_host_that_does_not_serve_the_servers_node_is_refused(
    client_for, customer, server, database_host, make_node
):
    database_host.nodes.set([make_node(engine=1, via="unix")])
    response = create(client_for(customer), server, hostId=str(database_host.pk))
    assert response.status_code == 400 and "hostId" in response.json()["fields"]
    hosts = client_for(customer).get(url(server, action="hosts"))
    assert hosts.status_code == 200 and hosts.json()["data"] == []
    database_host.nodes.set([server.node])
    listed = client_for(customer).get(url(server, action="hosts")).json()["data"]
    assert [h["id"] for h in listed] == [str(database_host.pk)] and set(listed[0]) == {
        "id",
        "name",
        "host",
        "port",
    }


def test_the_servers_limit_and_the_hosts_maximum_are_400(client_for, customer, server, database_host):
    server.database_limit = 1
    server.save()
    assert create(client_for(customer), server).status_code == 201
    over = create(client_for(customer), server, name="second")
    assert over.status_code == 400 and "may have 1 database(s) and has 1" in over.json()["message"]
    server.database_limit = 5
    server.save()
    database_host.max_databases = 1
    database_host.save()
    full = create(client_for(customer), server, name="third", hostId=str(database_host.pk))
    assert full.status_code == 400 and "is full" in full.json()["message"]
    assert ServerDatabase.objects.count() == 1


def test_a_suspended_servers_databases_are_read_only(client_for, customer, server, database_host):
    made = create(client_for(customer), server).json()["data"]
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED, suspension_reason="unpaid")
    client = client_for(customer)
    assert client.get(url(server)).status_code == 200
    assert create(client, server, name="more").status_code == 423
    assert client.post(url(server, made["id"], "rotate")).status_code == 423
    assert client.delete(url(server, made["id"])).status_code == 423
    assert on_host(made["name"])


def test_a_host_that_is_down_is_503_and_leaves_nothing(client_for, customer, server, down_host):
    response = create(client_for(customer), server, hostId=str(down_host.pk))
    assert response.status_code == 503, response.content
    assert (
        "Database host down (127.0.0.1:" in response.json()["message"]
        and "cannot be reached" in response.json()["message"]
    )
    assert (
        not ServerDatabase.objects.exists() and not AuditLog.objects.filter(action="database.create").exists()
    )


def test_rotate_and_delete_on_a_host_that_went_down_are_503_and_keep_everything(
    client_for, customer, server, database_host
):
    made = create(client_for(customer), server).json()["data"]
    real_port = database_host.port
    database_host.port = closed_port()
    database_host.save()
    client = client_for(customer)
    assert client.post(url(server, made["id"], "rotate")).status_code == 503
    assert client.delete(url(server, made["id"])).status_code == 503
    database_host.port = real_port
    database_host.save()
    connect_as(made["username"], made["password"], made["name"]).close()  # the old password still works
    assert ServerDatabase.objects.get().password == made["password"]


def test_wrong_panel_credentials_say_staff_must_fix_them(client_for, customer, server, database_host):
    database_host.password = "wrong"
    database_host.save()
    response = create(client_for(customer), server)
    assert response.status_code == 503
    assert "refused the panel's login" in response.json()["message"]
