"""Backups end to end through the API on the real engines (the local node and the SSH node), with the
backup engine (nodes/client/backups.py, backups/storage.py): made, downloaded (its bytes match the
recorded checksum), restored over changed files (every file as it was, the new one gone) and deleted;
and a running game saved first with its template's commands, the after command sent once the archive
is made; a worker process killed mid-backup. Tasks run eagerly here (tests/backups/conftest.py)."""

import hashlib
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from backups import work
from backups.models import Backup
from nodes.client import client_for as client_for_node
from servers import jobs, runtime
from servers.files import service
from servers.models import Job, Server
from templates_app.models import Template
from tests.backups.test_jobs import game_lines
from tests.fixtures.browser import ROOT, database_env
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
        backup_done_pattern_is_regex=True,
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


def test_a_worker_killed_mid_backup_leaves_a_failed_backup_and_no_archive(files_server, client_for, customer):
    """A real worker process, killed while the archive is being written: the reaper fails the backup
    (never completed-looking), deleting it removes whatever its archive became, and the next backup
    of the server leaves only its own archive."""
    server = files_server()
    root = runtime.ensure_directory(client_for_node(server.node), server)
    big = os.path.join(root, "big.bin")
    with open(big, "wb") as handle:  # a few seconds of tar, zstd and sha256
        for _ in range(20):
            handle.write(os.urandom(10 * 1024 * 1024))
    uid, gid = (int(part) for part in runtime.container_user(server).split(":"))
    os.chown(big, uid, gid)
    backup_dir = os.path.join(server.node.data_dir, "backups", str(server.pk))
    job = jobs.job_create(server=server, kind=Job.Kind.BACKUP, actor=customer)
    backup = Backup.objects.create(server=server, name="killed", job=job, created_by=customer)
    code = f"from backups.work import backup_execute; backup_execute(backup_id='{backup.pk}')"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=database_env()
    )
    try:
        wait_for(lambda: any(n.startswith(".tmp-") for n in _listing(backup_dir)), 60, "a temporary archive")
        backup.refresh_from_db()
        assert backup.status == Backup.Status.IN_PROGRESS
    finally:
        worker.kill()
        worker.wait(10)

    assert work.backups_reap(now=timezone.now() + work.STALE_AFTER + timedelta(seconds=1)) == 1
    backup.refresh_from_db()
    assert backup.status == Backup.Status.FAILED and "worker stopped responding" in backup.error
    assert not backup.checksum and backup.completed_at
    # The backup container the dead worker started may still finish its archive: wait for it to end.
    wait_for(lambda: not any(n.startswith(".tmp-") for n in _listing(backup_dir)), 60, "the container to end")
    api = client_for(customer)
    assert api.delete(f"/api/servers/{server.pk}/backups/{backup.pk}").status_code == 200
    assert not [n for n in _listing(backup_dir) if str(backup.pk) in n]

    os.remove(big)
    made = api.post(f"/api/servers/{server.pk}/backups", {"name": "next"}, format="json")
    following = Backup.objects.get(pk=made.json()["backupId"])
    assert following.status == Backup.Status.COMPLETED, following.error
    assert _listing(backup_dir) == [following.location]


def _listing(directory: str) -> list[str]:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []
