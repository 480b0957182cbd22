"""Database hosts as staff manage them, through /api/admin/database-hosts and the admin, on the real
MariaDB: saved only once the panel logs in, the password encrypted and never shown, a host with
databases kept, and the test connection."""

import pytest
from django.contrib.messages import get_messages

from accounts.models import AuditLog
from databases.models import DatabaseHost, ServerDatabase
from databases.services import database_create, database_delete
from tests.fixtures.backups import a_server
from tests.fixtures.databases import closed_port, mariadb_login

pytestmark = pytest.mark.django_db
HOSTS = "/api/admin/database-hosts"
LISTING = "/admin/databases/databasehost/"


def body(**changes) -> dict:
    login = mariadb_login()
    fields = {
        "name": "primary",
        "host": login["host"],
        "port": login["port"],
        "username": login["user"],
        "password": login["password"],
    }
    return {**fields, **changes}


def test_staff_register_a_host_the_panel_can_log_in_to(staff, make_node):
    node = make_node(engine=1, via="unix")
    response = staff.post(HOSTS, body(maxDatabases=10, nodeIds=[str(node.pk)]), format="json")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert "password" not in data and data["maxDatabases"] == 10 and data["nodeIds"] == [str(node.pk)]
    assert data["databaseCount"] == 0
    host = DatabaseHost.objects.get(pk=data["id"])
    assert host.password == mariadb_login()["password"]
    assert mariadb_login()["password"] not in host.password_encrypted
    audit = AuditLog.objects.get(action="database_host.create")
    assert "MariaDB" in audit.metadata["version"] and mariadb_login()["password"] not in str(audit.metadata)
    listed = staff.get(HOSTS).json()["data"]
    assert [h["name"] for h in listed] == ["primary"] and "password" not in listed[0]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"password": "wrong"}, "refused the panel's login"),
        ({"port": 0}, None),
        ({"host": "db;rm -rf /"}, None),
    ],
)
def test_a_host_the_panel_cannot_use_is_not_saved(staff, changes, reason):
    response = staff.post(HOSTS, body(**changes), format="json")
    assert response.status_code == (503 if reason else 400), response.content
    if reason:
        assert reason in response.json()["message"]
    assert not DatabaseHost.objects.exists()


def test_a_host_that_is_down_is_503(staff):
    response = staff.post(HOSTS, body(host="127.0.0.1", port=closed_port()), format="json")
    assert response.status_code == 503 and "cannot be reached" in response.json()["message"]


def test_update_tries_new_credentials_first_and_test_reads_the_version(staff, database_host):
    one = f"{HOSTS}/{database_host.pk}"
    assert staff.patch(one, {"password": "wrong"}, format="json").status_code == 503
    database_host.refresh_from_db()
    assert database_host.password == mariadb_login()["password"]
    renamed = staff.patch(one, {"name": "renamed", "maxDatabases": 3}, format="json")
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == "renamed"
    tested = staff.post(f"{one}/test")
    assert tested.status_code == 200 and "MariaDB" in tested.json()["data"]["version"]
    assert AuditLog.objects.filter(
        action="database_host.update", metadata__fields=["max_databases", "name"]
    ).exists()


def test_a_duplicate_name_is_409(staff, database_host):
    response = staff.post(HOSTS, body(name=database_host.name), format="json")
    assert response.status_code == 409


def test_a_host_with_databases_cannot_be_deleted(staff, customer, database_host):
    made = database_create(server=a_server(customer), actor=customer, name="keep")
    refused = staff.delete(f"{HOSTS}/{database_host.pk}")
    assert refused.status_code == 409 and "still has 1 database(s)" in refused.json()["message"]
    database_delete(database=made, actor=customer)
    assert staff.delete(f"{HOSTS}/{database_host.pk}").status_code == 200
    assert not DatabaseHost.objects.exists()


def test_customers_and_support_cannot_manage_hosts(client_for, customer, make_user, database_host):
    support = client_for(make_user(role="Support"))
    assert client_for(customer).get(HOSTS).status_code == 403
    assert support.get(HOSTS).status_code == 200
    assert support.post(HOSTS, body(), format="json").status_code == 403
    assert support.post(f"{HOSTS}/{database_host.pk}/test").status_code == 403


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_admin_adds_a_host_through_the_service_and_tests_it(signed_in, admin):
    client = signed_in(admin)
    login = mariadb_login()
    form = {"name": "admin-made", "host": login["host"], "port": login["port"], "username": login["user"]}
    missing = client.post(f"{LISTING}add/", form)
    assert missing.status_code == 200 and "needs the account" in missing.content.decode()
    refused = client.post(f"{LISTING}add/", {**form, "new_password": "wrong"}, follow=True)
    assert any("refused the panel's login" in m for m in messages_of(refused))
    assert not DatabaseHost.objects.exists()
    saved = client.post(f"{LISTING}add/", {**form, "new_password": login["password"]}, follow=True)
    assert saved.status_code == 200
    host = DatabaseHost.objects.get()
    assert (
        host.password == login["password"] and AuditLog.objects.filter(action="database_host.create").exists()
    )
    page = client.get(LISTING).content.decode()
    assert "admin-made" in page and "every node" in page
    change = client.get(f"{LISTING}{host.pk}/change/").content.decode()
    assert f'value="{login["password"]}"' not in change and host.password_encrypted not in change
    tested = client.post(
        LISTING, {"action": "test_connection", "_selected_action": [str(host.pk)]}, follow=True
    )
    assert any("the panel logged in" in m for m in messages_of(tested))


def test_the_admin_rotates_and_drops_databases_through_the_services(
    signed_in, admin, customer, database_host
):
    made = database_create(server=a_server(customer), actor=customer, name="adm")
    client = signed_in(admin)
    listing = "/admin/databases/serverdatabase/"
    assert made.name in client.get(listing).content.decode()
    old = made.password
    client.post(listing, {"action": "rotate_password", "_selected_action": [str(made.pk)]}, follow=True)
    made.refresh_from_db()
    assert made.password != old
    dropped = client.post(listing, {"action": "drop", "_selected_action": [str(made.pk)]}, follow=True)
    assert any("dropped" in m for m in messages_of(dropped)) and not ServerDatabase.objects.exists()
