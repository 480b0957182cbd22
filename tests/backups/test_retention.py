"""Retention: the per-server limit (manual refused, scheduled pruning the oldest unlocked), locks that
are never pruned, the maximum age pruned by beat, and the limit under 50 simultaneous creates."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditLog
from backups import work
from backups.models import Backup
from backups.services import backup_create, backup_lock, backups_prune
from config.errors import InvalidInput
from servers.models import Server
from servers.transfer_lease import claim
from tests.fixtures.backups import completed, unarchived
from tests.fixtures.races import status_of, while_row_locked

B = Backup.Status


@pytest.fixture
def server(offline_server):
    return offline_server


def aged(backup: Backup, days: float) -> Backup:
    Backup.objects.filter(pk=backup.pk).update(created_at=timezone.now() - timedelta(days=days))
    return backup


@pytest.mark.django_db
def test_a_scheduled_backup_over_the_limit_replaces_the_oldest_unlocked_one_once_it_completes(server):
    oldest_locked = aged(completed(server, "locked", locked=True), 3)
    oldest_unlocked = aged(completed(server, "old"), 2)
    Server.objects.filter(pk=server.pk).update(backup_limit=2)
    made = backup_create(server=server, actor=None, scheduled=True)
    # Kept until the new one has completed: a scheduled backup that fails costs nothing.
    assert set(Backup.objects.values_list("name", flat=True)) == {"locked", "old", made.name}
    assert made.scheduled and made.created_by is None
    audit = AuditLog.objects.get(action="backup.create")
    assert audit.user is None and audit.metadata["by"] == "schedule"
    # Promised to the first, "old" is not offered twice: a second one finds nothing to replace.
    with pytest.raises(InvalidInput, match="locked or still being made"):
        backup_create(server=server, actor=None, scheduled=True)
    complete(made)
    assert set(Backup.objects.values_list("name", flat=True)) == {"locked", made.name}
    assert Backup.objects.get(pk=oldest_locked.pk).locked
    assert AuditLog.objects.filter(action="backup.prune", metadata__backupId=str(oldest_unlocked.pk)).exists()


@pytest.mark.django_db
def test_a_failed_scheduled_backup_keeps_the_one_it_would_have_replaced(server):
    old = completed(server, "old")
    completed(server, "newer")
    failing = backup_create(server=server, actor=None, scheduled=True)
    work.backup_execute(backup_id=failing.pk)  # the node cannot be reached
    assert Backup.objects.get(pk=failing.pk).status == B.FAILED
    assert Backup.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_a_backup_locked_after_it_was_promised_for_replacement_is_kept(server):
    old = completed(server, "old")
    completed(server, "newer")
    made = backup_create(server=server, actor=None, scheduled=True)
    backup_lock(backup=old, actor=server.owner)
    complete(made)
    assert Backup.objects.get(pk=old.pk).locked  # a lock always wins over pruning


def complete(backup: Backup) -> None:
    """What the worker does once the archive is made, without a node: claim, fill, complete."""
    lease = claim(backup.job_id)
    backup.refresh_from_db()
    backup.location, backup.size_bytes, backup.checksum = "made.tar.zst", 1, "sha256:" + "b" * 64
    work._backup_completed(lease, backup)


@pytest.mark.django_db
def test_a_scheduled_backup_is_refused_when_every_other_one_is_locked_or_being_made(server):
    completed(server, "locked", locked=True)
    completed(server, "making", status=B.IN_PROGRESS)
    with pytest.raises(InvalidInput, match="locked or still being made"):
        backup_create(server=server, actor=None, scheduled=True)
    assert Backup.objects.count() == 2


@pytest.mark.django_db
def test_failed_backups_do_not_count_and_a_limit_of_zero_allows_none(server):
    completed(server, "failed", status=B.FAILED)
    completed(server, "kept")
    assert backup_create(server=server, actor=server.owner).status == B.PENDING  # 2 counted of 2
    Server.objects.filter(pk=server.pk).update(backup_limit=0)
    server.refresh_from_db()
    with pytest.raises(InvalidInput, match="may keep no backups"):
        backup_create(server=server, actor=None, scheduled=True)


@pytest.mark.django_db
def test_beat_prunes_unlocked_backups_older_than_the_maximum_age(server, settings):
    old = aged(unarchived(server, "old"), 10)
    old_failed = aged(unarchived(server, "old-failed", status=B.FAILED), 10)
    old_locked = aged(unarchived(server, "old-locked", locked=True), 10)
    recent = aged(unarchived(server, "recent"), 1)
    unreachable = aged(completed(server, "on-a-node-that-is-down"), 10)
    settings.BACKUP_MAX_AGE_DAYS = 0
    assert backups_prune() == 0  # no maximum age: everything is kept
    settings.BACKUP_MAX_AGE_DAYS = 7
    assert backups_prune() == 2
    # The one whose node is down stays, for the next run.
    assert set(Backup.objects.values_list("pk", flat=True)) == {old_locked.pk, recent.pk, unreachable.pk}
    assert not Backup.objects.filter(pk__in=[old.pk, old_failed.pk]).exists()


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_creates_with_a_limit_of_two_make_exactly_two(server):
    from config.celery import app

    pool = connection.pool
    sizes = (pool.min_size, pool.max_size)
    pool.resize(sizes[0], 60)  # a connection per contender, all parked on the server's row at once
    try:
        outcomes = while_row_locked(
            Server.objects.filter(pk=server.pk),
            [lambda: backup_create(server=server, actor=server.owner) for _ in range(50)],
            timeout=60,
        )
    finally:
        pool.resize(*sizes)
        app.control.purge()  # the two jobs' messages: no worker runs here
    made = [o for o in outcomes if isinstance(o, Backup)]
    refused = [o for o in outcomes if not isinstance(o, Backup)]
    assert len(made) == 2, refused[:3]
    assert {status_of(o) for o in refused} == {400}
    assert Backup.objects.filter(server=server).count() == 2


@pytest.mark.django_db
def test_an_archive_removed_later_is_retried_while_its_node_is_down(server, monkeypatch):
    from backups import storage, tasks
    from nodes.client import NodeUnavailable

    calls = []

    def down_twice(backup):
        calls.append(backup.location)
        if len(calls) <= 2:
            raise NodeUnavailable("matrix-node", "down for a moment")

    monkeypatch.setattr(storage, "discard", down_twice)
    fields = {"server_id": str(server.pk), "node_id": "", "storage": "s3", "compression": "zstd"}
    tasks.backup_discard_task.apply(kwargs={"backup_id": str(server.pk), "location": "k", **fields})
    assert calls == ["k", "k", "k"]
    assert tasks.backup_discard_task.max_retries == tasks.DISCARD_RETRIES  # bounded


@pytest.mark.django_db
def test_a_server_created_without_a_limit_of_its_own_gets_the_settings_default(server, settings):
    settings.BACKUP_DEFAULT_LIMIT = 7
    fields = {f: getattr(server, f) for f in ("owner", "node", "template", "docker_image")}
    made = Server.objects.create(
        name="no-plan", allocated_memory_mb=128, allocated_cpu_cores=1, allocated_disk_mb=128, **fields
    )
    assert made.backup_limit == 7
