"""Backups in the admin: the list with its filters and the job's progress, and actions that call the
services (a refusal is a message), for staff with the permission; Support staff only read."""

import pytest
from django.contrib.messages import get_messages

from accounts.models import AuditLog
from backups.models import Backup
from servers.models import Server
from tests.fixtures.backups import completed, unarchived

pytestmark = pytest.mark.django_db
LISTING = "/admin/backups/backup/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def act(client, action: str, *backups):
    selected = {"action": action, "_selected_action": [str(b.pk) for b in backups]}
    return client.post(LISTING, selected, follow=True)


def test_staff_see_backups_with_their_server_status_storage_and_job(signed_in, admin, offline_server):
    backup = completed(offline_server, "nightly")
    client = signed_in(admin)
    page = client.get(LISTING, {"status__exact": "completed", "storage__exact": "local"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "nightly" in text and offline_server.name in text
    assert client.get(f"{LISTING}{backup.pk}/change/").status_code == 200
    assert client.get(LISTING, {"status__exact": "failed"}).content.decode().count("nightly") == 0


def test_actions_lock_unlock_delete_and_restore_through_the_services(signed_in, admin, offline_server):
    kept, gone = unarchived(offline_server, "kept"), unarchived(offline_server, "gone")
    client = signed_in(admin)
    assert "Lock: 1 backup(s)." in messages_of(act(client, "backups_lock", kept))
    refused = messages_of(act(client, "backups_delete", kept, gone))
    assert any("kept: The backup is locked" in m for m in refused) and "Delete: 1 backup(s)." in refused
    assert list(Backup.objects.values_list("name", flat=True)) == ["kept"]
    act(client, "backups_unlock", kept)
    Server.objects.filter(pk=offline_server.pk).update(status=Server.Status.RUNNING)
    refused = messages_of(act(client, "backups_restore", completed(offline_server, "on-node")))
    assert any("Cannot restore a server that is running" in m for m in refused)
    actions = set(AuditLog.objects.filter(user=admin).values_list("action", flat=True))
    assert {"backup.lock", "backup.unlock", "backup.delete"} <= actions


def test_support_staff_read_backups_but_have_no_actions(signed_in, make_user, offline_server):
    support = make_user(email="support@example.com", username="support", role="Support")
    backup = completed(offline_server)
    client = signed_in(support)
    page = client.get(LISTING)
    assert page.status_code == 200 and "backups_delete" not in page.content.decode()
    act(client, "backups_delete", backup)
    assert Backup.objects.filter(pk=backup.pk).exists()
