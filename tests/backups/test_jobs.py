"""The backup and restore jobs without a reachable node: a failure ends the backup `failed` with the
reason; a worker killed mid-job is settled by the reaper (and its late return changes nothing); a
second delivery does nothing; the game's save commands wait for the done line; a server being backed
up cannot be deleted."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from backups import work
from backups.console_wait import save_commands, wait_for_line
from backups.models import Backup
from backups.services import backup_create, backup_restore
from config.errors import IllegalTransition, Unavailable
from nodes.client.backups import OPERATION_LIFETIME_SECONDS
from servers import console, jobs
from servers.lifecycle.delete import server_delete
from servers.models import Job, Server
from servers.transfer_lease import LeaseLost, claim
from tests.fixtures.backups import completed

pytestmark = pytest.mark.django_db
B = Backup.Status
S = Server.Status


# The node of these tests cannot be reached, so the reaper cannot end a dead job's container: it settles
# the job once that container has ended by itself.
def past_its_container():
    return timezone.now() + timedelta(seconds=OPERATION_LIFETIME_SECONDS + 1)


@pytest.fixture
def server(offline_server):
    return offline_server


def test_a_backup_the_node_cannot_make_ends_failed_with_the_reason(server):
    backup = backup_create(server=server, actor=server.owner)
    work.backup_execute(backup_id=backup.pk)
    backup.refresh_from_db()
    assert backup.status == B.FAILED and backup.error and backup.completed_at
    assert not backup.location or backup.size_bytes == 0
    job = Job.objects.get(pk=backup.job_id)
    assert job.status == Job.Status.FAILED and job.error == backup.error
    work.backup_execute(backup_id=backup.pk)  # a second delivery finds the job claimed
    assert Backup.objects.get(pk=backup.pk).error == backup.error


def test_a_failed_restore_stops_the_server_again_and_says_why(server):
    job = backup_restore(backup=completed(server), actor=server.owner)
    work.backup_restore_execute(job_id=job.pk)
    server.refresh_from_db()
    assert server.status == S.STOPPED and server.status_reason.startswith("Restore failed: ")
    assert Job.objects.get(pk=job.pk).status == Job.Status.FAILED


def test_a_worker_killed_mid_backup_leaves_a_failed_backup_and_its_late_return_changes_nothing(server):
    backup = backup_create(server=server, actor=server.owner)
    lease = claim(backup.job_id)  # the worker that then dies
    Backup.objects.filter(pk=backup.pk).update(status=B.IN_PROGRESS)
    assert work.backups_reap() == 0  # its heartbeat is fresh: alive
    assert work.backups_reap(now=past_its_container()) == 1
    backup.refresh_from_db()
    assert backup.status == B.FAILED and "worker stopped responding" in backup.error
    assert Job.objects.get(pk=backup.job_id).status == Job.Status.FAILED
    with pytest.raises(LeaseLost):  # the worker was only slow: it may not complete the backup now
        work._backup_completed(lease, backup)
    assert Backup.objects.get(pk=backup.pk).status == B.FAILED


def test_the_reaper_of_a_running_games_backup_sends_the_after_commands(server):
    """The dead worker may have typed save-off: the reaper turns saving back on (here the node is
    unreachable, so what it tried is said on the console)."""
    server.template.backup_after_commands = "save-on"
    server.template.save(update_fields=["backup_after_commands"])
    Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
    backup = backup_create(server=server, actor=server.owner)
    claim(backup.job_id)
    Backup.objects.filter(pk=backup.pk).update(status=B.IN_PROGRESS)
    assert work.backups_reap(now=past_its_container()) == 1
    history = [line for _stream, line in console_lines(server)]
    assert any("Could not send the after-backup commands" in line for line in history), history


def console_lines(server):
    import json

    raw = console.connection().lrange(console.history_key(server.pk), 0, -1)
    return [(e.get("stream"), e.get("data", "")) for e in map(json.loads, raw)]


def test_a_backup_whose_task_never_ran_is_failed_by_the_reaper(server):
    backup = backup_create(server=server, actor=None, scheduled=True)
    # Waiting in a busy queue is not dead: only one unclaimed past the broker's redelivery is.
    assert work.backups_reap(now=timezone.now() + work.STALE_AFTER + timedelta(minutes=30)) == 0
    assert Backup.objects.get(pk=backup.pk).status == B.PENDING
    assert work.backups_reap(now=timezone.now() + work.PENDING_STALE_AFTER + timedelta(seconds=1)) == 1
    assert Backup.objects.get(pk=backup.pk).status == B.FAILED
    work.backup_execute(backup_id=backup.pk)  # its late delivery finds the job taken
    assert Backup.objects.get(pk=backup.pk).status == B.FAILED


def test_a_worker_whose_lease_was_lost_after_its_archive_was_made_removes_that_archive(server, monkeypatch):
    backup = backup_create(server=server, actor=server.owner)
    discarded = []

    def store_while_the_reaper_takes_over(made, _server, *, progress):
        made.location, made.node, made.size_bytes = "late.tar.zst", server.node, 10
        work.backups_reap(now=past_its_container())

    monkeypatch.setattr(work.storage, "store", store_while_the_reaper_takes_over)
    monkeypatch.setattr(work.storage, "discard", lambda b: discarded.append(b.location))
    work.backup_execute(backup_id=backup.pk)
    assert Backup.objects.get(pk=backup.pk).status == B.FAILED
    assert "late.tar.zst" in discarded  # known only to the late worker: it removes it


def test_a_heartbeat_that_meets_a_database_error_keeps_beating(server, monkeypatch):
    backup = backup_create(server=server, actor=server.owner)
    lease = claim(backup.job_id)
    calls = []

    def flaky(job_id, progress=None, *, owner):
        calls.append(job_id)
        if len(calls) == 1:
            raise OperationalError("the database restarted")
        return 1

    monkeypatch.setattr(work.jobs, "job_progress", flaky)
    monkeypatch.setattr(work, "HEARTBEAT_SECONDS", 0.05)
    with work.Heartbeat(lease):
        time.sleep(0.5)
    assert len(calls) >= 3  # the error did not end the renewals


def test_a_restore_whose_worker_died_stops_the_server_again(server):
    job = backup_restore(backup=completed(server), actor=server.owner)
    claim(job.pk)
    work.backups_reap(now=past_its_container())
    server.refresh_from_db()
    assert server.status == S.STOPPED and "worker stopped responding" in server.status_reason


def test_a_server_being_backed_up_cannot_be_deleted(server):
    backup = backup_create(server=server, actor=server.owner)
    with pytest.raises(IllegalTransition, match="backup of this server is being made"):
        server_delete(server=server, actor=server.owner)
    assert Server.objects.get(pk=server.pk).status == S.STOPPED
    Backup.objects.filter(pk=backup.pk).update(status=B.COMPLETED)
    server_delete(server=server, actor=server.owner)
    with pytest.raises(IllegalTransition, match="being deleted"):
        backup_create(server=server, actor=server.owner)


def test_no_reinstall_or_transfer_while_a_backup_or_restore_of_the_server_runs(server):
    from nodes.models import Node
    from servers.lifecycle.install import server_install
    from servers.transfer import server_transfer

    target = Node.objects.create(
        name="bk-target",
        location=server.node.location,
        hostname="t",
        public_address="203.0.113.2",
        max_memory_mb=100_000,
        max_cpu_cores=64,
        is_online=True,
    )
    backup = backup_create(server=server, actor=server.owner)
    with pytest.raises(IllegalTransition, match="backup of this server is being made: reinstall"):
        server_install(server=server, actor=server.owner, reinstall=True)
    with pytest.raises(IllegalTransition, match="backup of this server is being made: transfer"):
        server_transfer(server=server, actor=server.owner, target=target)
    assert Server.objects.get(pk=server.pk).status == S.STOPPED
    Backup.objects.filter(pk=backup.pk).update(status=B.COMPLETED)
    restoring = jobs.job_create(server=server, kind=Job.Kind.RESTORE, status=Job.Status.RUNNING)
    with pytest.raises(IllegalTransition, match="being restored to this server: install"):
        server_install(server=server, actor=server.owner)
    Job.objects.filter(pk=restoring.pk).update(status=Job.Status.SUCCEEDED)
    server_install(server=server, actor=server.owner, reinstall=True)  # nothing in the way now
    assert Server.objects.get(pk=server.pk).status == S.INSTALLING


def test_no_restore_while_an_archive_or_download_job_writes_the_files(server):
    backup = completed(server)
    decompressing = jobs.job_create(server=server, kind=Job.Kind.DECOMPRESS, status=Job.Status.RUNNING)
    with pytest.raises(IllegalTransition, match="archive or download job is writing"):
        backup_restore(backup=backup, actor=server.owner)
    assert Server.objects.get(pk=server.pk).status == S.STOPPED
    Job.objects.filter(pk=decompressing.pk).update(status=Job.Status.SUCCEEDED)
    assert backup_restore(backup=backup, actor=server.owner).kind == Job.Kind.RESTORE


def game_lines(server) -> list[str]:
    """The game's console lines kept in the history, oldest first."""
    from backups.console_wait import game_lines_since

    return [line.strip() for line in game_lines_since(server.pk, 0)]


class _Beats:
    def __init__(self):
        self.lines = []

    def beat(self, *, progress=None, line=None):
        self.lines.append(line)


def test_the_save_commands_wait_for_the_done_line_written_after_them(server):
    server.template.backup_before_commands = ""
    server.template.backup_done_pattern = r"Saved the (game|world)"
    server.template.backup_done_pattern_is_regex = True
    Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
    console.write_lines(server.pk, "stdout", ["Saved the game"])  # before: an older save does not count
    later = threading.Timer(
        0.5, lambda: console.write_lines(server.pk, "stdout", ["[Server] Saved the world"])
    )
    started = time.monotonic()
    later.start()
    with save_commands(server, _Beats()):
        waited = time.monotonic() - started
    later.join()
    assert 0.4 < waited < 5


def test_a_save_that_never_reports_done_fails_the_backup_with_a_clear_message(server):
    with pytest.raises(Unavailable, match=r"did not report its save done .* within 0.3 s"):
        wait_for_line(server.pk, "never printed", since=time.time(), timeout=0.3)


@pytest.mark.django_db(transaction=True)
def test_a_second_backup_of_the_same_server_waits_for_the_first(server, monkeypatch):
    """They share the server's backup directory, whose leftover temporaries a run clears first."""
    monkeypatch.setattr(work, "TURN_POLL_SECONDS", 0.1)
    running = jobs.job_create(
        server=server, kind=Job.Kind.BACKUP, status=Job.Status.RUNNING, heartbeat_at=timezone.now()
    )
    first = completed(server, "first", status=B.IN_PROGRESS, job=running)
    # Made as backup_create makes it, but not queued: the test runs the worker itself.
    second = completed(
        server, "second", status=B.PENDING, job=jobs.job_create(server=server, kind=Job.Kind.BACKUP)
    )
    worker = threading.Thread(target=work.backup_execute, kwargs={"backup_id": second.pk})
    worker.start()
    time.sleep(0.5)
    assert Backup.objects.get(pk=second.pk).status == B.PENDING  # waiting its turn
    Job.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - work.STALE_AFTER)  # died
    worker.join(30)
    assert Backup.objects.get(pk=second.pk).status == B.FAILED  # it went (and the node was not there)
    assert Backup.objects.get(pk=first.pk).status == B.IN_PROGRESS  # the reaper's, not the second's
