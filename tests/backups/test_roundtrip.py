"""Backups end to end through the API on the real engines (the local node and the SSH node), with the
backup engine (nodes/client/backups.py, backups/storage.py): made, downloaded (its bytes match the
recorded checksum), restored over changed files (every file as it was, the new one gone) and deleted;
and a running game saved first with its template's commands, the after command sent once the archive
is made. Tasks run eagerly here (tests/backups/conftest.py)."""

import hashlib

import pytest

from backups.models import Backup
from servers.files import service
from servers.models import Job, Server
from templates_app.models import Template
from tests.backups.test_jobs import game_lines
from tests.fixtures.servers import wait_status
from tests.polling import wait_for

# Committed rows: each request's queued task runs (eagerly) once its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)
S = Server.Status
FILES = {
    "/server.properties": "motd=before\n",
    "/world/level.dat": "level\n" * 1000,
    "/world/region/r.0.0.mca": "region\n" * 5000,
    "/names/with space & 'quote'.txt": "odd\n",
}


def contents(server) -> dict:
    return {path: service.file_read_text(server=server, path=path)["content"] for path in FILES}


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_a_backup_is_made_downloaded_restored_and_deleted(files_server, client_for, customer, engine, via):
    server = files_server(engine, via)
    for path, content in FILES.items():
        service.file_create(server=server, actor=customer, path=path, content=content)
    api = client_for(customer)
    base = f"/api/servers/{server.pk}/backups"

    made = api.post(base, {"name": "before", "ignore": ["*.tmp"]}, format="json")
    assert made.status_code == 200, made.content
    backup = Backup.objects.get(pk=made.json()["backupId"])
    assert backup.status == Backup.Status.COMPLETED, backup.error
    assert backup.checksum.startswith("sha256:") and len(backup.checksum) == 71 and backup.size_bytes > 0
    assert Job.objects.get(pk=backup.job_id).status == Job.Status.SUCCEEDED
    shown = api.get(f"{base}/{backup.pk}").json()["data"]
    assert (
        shown["status"] == "completed" and shown["checksum"] == backup.checksum and shown["progress"] == 100
    )

    download = api.get(f"{base}/{backup.pk}/download")
    assert download.status_code == 200
    archive = b"".join(download.streaming_content)
    assert len(archive) == backup.size_bytes
    assert "sha256:" + hashlib.sha256(archive).hexdigest() == backup.checksum

    service.file_write_text(server=server, actor=customer, path="/server.properties", content="motd=after\n")
    service.file_delete(server=server, actor=customer, path="/world/region")
    service.file_create(server=server, actor=customer, path="/made-later.txt", content="new\n")
    restored = api.post(f"{base}/{backup.pk}/restore")
    assert restored.status_code == 200, restored.content
    assert Job.objects.get(pk=restored.json()["jobId"]).status == Job.Status.SUCCEEDED
    assert wait_status(server, S.STOPPED).status_reason == ""
    assert contents(server) == FILES
    listed = {e["name"] for e in api.get(f"/api/servers/{server.pk}/files").json()["data"]}
    assert "made-later.txt" not in listed

    assert api.delete(f"{base}/{backup.pk}").status_code == 200
    assert not Backup.objects.filter(pk=backup.pk).exists()


def test_a_running_game_is_saved_before_its_backup_and_told_after(
    files_server, client_for, customer, monitor
):
    server = files_server()
    Template.objects.filter(pk=server.template_id).update(
        backup_before_commands="say save-off\nsay saved-all",
        backup_done_pattern=r"\[Server\] saved-all",
        backup_after_commands="say save-on",
    )
    api = client_for(customer)
    assert api.post(f"/api/servers/{server.pk}/install").status_code == 200
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
    wait_status(server, S.RUNNING)

    made = api.post(f"/api/servers/{server.pk}/backups", {}, format="json")
    assert made.status_code == 200, made.content
    backup = Backup.objects.get(pk=made.json()["backupId"])
    assert backup.status == Backup.Status.COMPLETED, backup.error
    wait_for(lambda: "[Server] save-on" in game_lines(server), 15, lambda: game_lines(server)[-10:])
    lines = game_lines(server)
    assert lines.index("[Server] saved-all") < lines.index("[Server] save-on")
    assert api.post(f"/api/servers/{server.pk}/kill").status_code == 200
