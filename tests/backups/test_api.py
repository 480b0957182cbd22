"""The backups API: the contract's answers, and every refusal (404 hidden, 403 permission, 409 state,
423 suspended, 400 input, 503 node unreachable)."""

import pytest

from accounts.models import AuditLog
from backups.models import Backup
from servers.models import Job, Server, ServerMember
from tests.fixtures.backups import a_server, completed, unarchived

pytestmark = pytest.mark.django_db
S = Server.Status


@pytest.fixture
def server(offline_server):
    return offline_server


def url(server, backup=None, action=""):
    base = f"/api/servers/{server.pk}/backups"
    base = f"{base}/{backup.pk}" if backup is not None else base
    return f"{base}/{action}" if action else base


def test_create_answers_as_the_contract_and_lists_the_backup(client_for, customer, server):
    response = client_for(customer).post(
        url(server), {"name": "before-update", "ignore": ["logs/"]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] and body["message"] == "Backup creation started"
    assert body["backupName"] == "before-update"
    backup = Backup.objects.get(pk=body["backupId"])
    assert str(backup.job_id) == body["jobId"] and backup.job.kind == Job.Kind.BACKUP
    assert backup.created_by == customer and backup.ignore == ["logs/"] and backup.compression == "zstd"
    listed = client_for(customer).get(url(server)).json()["data"]
    assert [b["id"] for b in listed] == [str(backup.pk)]
    one = listed[0]
    assert one["status"] == "pending" and one["serverId"] == str(server.pk) and one["sizeMb"] == 0
    assert one["createdBy"] == {"id": str(customer.pk), "username": customer.username}
    assert AuditLog.objects.filter(action="backup.create", resource_id=str(server.pk)).exists()


def test_a_name_is_made_up_when_none_is_given(client_for, customer, server):
    body = client_for(customer).post(url(server), {}, format="json").json()
    assert body["backupName"].startswith("backup-")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x" * 101}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"ignore": "logs/"}, "ignore"),
        ({"ignore": ["a\x00b"]}, "ignore"),
        ({"compression": "rar"}, "compression"),
        ({"password": "x"}, "password"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, customer, server, payload, field):
    response = client_for(customer).post(url(server), payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not Backup.objects.exists()


def test_a_manual_backup_over_the_limit_is_a_400_that_says_so(client_for, customer, server):
    completed(server, "one")
    completed(server, "two")
    response = client_for(customer).post(url(server), {}, format="json")
    assert response.status_code == 400
    assert "may keep 2 backups and has 2" in response.json()["message"]
    assert Backup.objects.count() == 2


def test_a_stranger_gets_404_and_a_member_without_the_permission_403(client_for, stranger, make_user, server):
    backup = completed(server)
    for path in (url(server), url(server, backup), url(server, backup, "download")):
        assert client_for(stranger).get(path).status_code == 404
    member = make_user()
    ServerMember.objects.create(server=server, user=member, permissions=["backup.read"])
    assert client_for(member).get(url(server)).status_code == 200
    for method, path in [
        ("post", url(server)),
        ("post", url(server, backup, "restore")),
        ("delete", url(server, backup)),
        ("post", url(server, backup, "lock")),
        ("get", url(server, backup, "download")),
    ]:
        response = getattr(client_for(member), method)(path, {}, format="json")
        assert response.status_code == 403, (path, response.content)
    assert Backup.objects.count() == 1 and not Job.objects.exists()


def test_another_servers_backup_is_a_404(client_for, customer, server):
    other = a_server(customer, "other")
    backup = completed(other)
    assert client_for(customer).get(url(server, backup)).status_code == 404
    assert client_for(customer).delete(url(server, backup)).status_code == 404
    assert client_for(customer).get(f"/api/servers/{server.pk}/backups/not-a-uuid").status_code == 404


def test_a_suspended_server_lists_its_backups_but_refuses_the_rest_with_423(client_for, customer, server):
    backup = completed(server)
    Server.objects.filter(pk=server.pk).update(status=S.SUSPENDED, suspension_reason="unpaid")
    client = client_for(customer)
    assert client.get(url(server)).status_code == 200
    for method, path in [
        ("post", url(server)),
        ("post", url(server, backup, "restore")),
        ("delete", url(server, backup)),
        ("post", url(server, backup, "unlock")),
        ("get", url(server, backup, "download")),
    ]:
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 423, (path, response.content)
        assert "unpaid" in response.json()["message"]


def test_restoring_needs_a_stopped_server_and_a_completed_backup(client_for, customer, server):
    client = client_for(customer)
    for status in (Backup.Status.PENDING, Backup.Status.IN_PROGRESS, Backup.Status.FAILED):
        backup = completed(server, status, status=status)
        response = client.post(url(server, backup, "restore"))
        assert response.status_code == 409, response.content
        assert status in response.json()["message"]
        backup.delete()
    backup = completed(server)
    for status in (S.RUNNING, S.INSTALLING, S.TRANSFERRING):
        Server.objects.filter(pk=server.pk).update(status=status)
        assert client.post(url(server, backup, "restore")).status_code == 409
    Server.objects.filter(pk=server.pk).update(status=S.STOPPED)
    making = completed(server, "making", status=Backup.Status.PENDING)
    response = client.post(url(server, backup, "restore"))
    assert response.status_code == 409 and "being made" in response.json()["message"]
    making.delete()

    response = client.post(url(server, backup, "restore"))
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Backup restoration started"
    server.refresh_from_db()
    assert server.status == S.RESTORING
    job = Job.objects.get(pk=response.json()["jobId"])
    assert job.kind == Job.Kind.RESTORE and job.detail["backupId"] == str(backup.pk)
    # While it restores: no second restore, no backup, no deletion of the backup read.
    assert client.post(url(server, backup, "restore")).status_code == 409
    assert client.post(url(server), {}, format="json").status_code == 409
    assert client.delete(url(server, backup)).status_code == 409


def test_a_locked_backup_cannot_be_deleted_until_unlocked(client_for, customer, server):
    backup = unarchived(server)
    client = client_for(customer)
    locked = client.post(url(server, backup, "lock"))
    assert locked.status_code == 200 and locked.json()["data"]["locked"] is True
    response = client.delete(url(server, backup))
    assert response.status_code == 409 and "locked" in response.json()["message"]
    assert client.post(url(server, backup, "unlock")).json()["data"]["locked"] is False
    response = client.delete(url(server, backup))
    assert response.status_code == 200 and response.json()["message"] == "Backup deleted successfully"
    assert not Backup.objects.exists()
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"backup.lock", "backup.unlock", "backup.delete"} <= actions


def test_a_backup_being_made_cannot_be_deleted_or_downloaded(client_for, customer, server):
    backup = completed(server, status=Backup.Status.IN_PROGRESS)
    client = client_for(customer)
    assert client.delete(url(server, backup)).status_code == 409
    assert client.get(url(server, backup, "download")).status_code == 409


def test_a_node_that_cannot_be_reached_is_a_503_and_the_backup_stays(client_for, customer, server):
    backup = completed(server)
    for method, path in [("get", url(server, backup, "download")), ("delete", url(server, backup))]:
        response = getattr(client_for(customer), method)(path)
        assert response.status_code == 503, response.content
        assert response.json()["statusCode"] == 503
    assert Backup.objects.filter(pk=backup.pk).exists()


def test_a_store_that_fails_or_cannot_be_reached_is_a_503_with_the_reason(
    client_for, customer, server, settings
):
    backup = completed(server, "on-s3", storage=Backup.Storage.S3, node=None, location="x/y.tar.zst")
    client = client_for(customer)
    settings.BACKUP_S3 = {**settings.BACKUP_S3, "bucket": ""}  # the store's setup gone since
    for method, path in [("get", url(server, backup, "download")), ("delete", url(server, backup))]:
        response = getattr(client, method)(path)
        assert response.status_code == 503, response.content
        assert "HEARTH_BACKUP_S3_BUCKET" in response.json()["message"]
    # The store itself unreachable (a closed port): botocore's error, as a 503 too.
    settings.BACKUP_S3 = {**settings.BACKUP_S3, "bucket": "b", "endpoint_url": "http://127.0.0.1:9"}
    response = client.delete(url(server, backup))
    assert response.status_code == 503 and "S3 store" in response.json()["message"], response.content
    assert Backup.objects.filter(pk=backup.pk).exists()
