"""The backup and restore jobs' work, and the reaper of those whose worker died.

Each job is claimed once with a lease token (servers/transfer_lease.py): a redelivered task finds it
claimed and returns; the worker renews the lease while it works (a thread, every HEARTBEAT_SECONDS, and
each progress report); the reaper takes over a job quiet for STALE_AFTER and settles it — the backup
`failed` with the reason and its archive (or the temporary file of one) removed, a restoring server
stopped again. Every final step runs fenced (the job's row locked, the lease re-checked), so a worker
that comes back late cannot mark a reaped backup completed.
"""

import logging
import threading
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from backups import services, storage
from backups.console_wait import save_commands, send_after_commands
from backups.models import Backup
from config.errors import DomainError
from nodes.client import BackupFailed, NodeUnavailable
from nodes.client.backups import OPERATION_LIFETIME_SECONDS
from servers import console, jobs
from servers.models import Job, Server
from servers.states import set_status
from servers.transfer_lease import Lease, LeaseLost, claim, take_over

logger = logging.getLogger(__name__)
B = Backup.Status
S = Server.Status
HEARTBEAT_SECONDS = 15.0
STALE_AFTER = timedelta(minutes=3)  # many heartbeats missed: the worker is gone
# A job no worker has claimed yet may only be waiting in a busy queue; Redis redelivers an unacked task
# after its visibility timeout (1 h), so one still unclaimed well past that was lost for good.
PENDING_STALE_AFTER = timedelta(hours=2)
# Errors that are an answer (the node, the store, the game), not a bug: logged without a trace.
ANSWERS = (DomainError, NodeUnavailable, BackupFailed)  # BackupCorrupt is a BackupFailed
TURN_POLL_SECONDS = 2.0  # while another backup of the same server is being made


class Heartbeat:
    """Renews the lease from a thread while the work blocks in one long call (a big file in the tar)."""

    def __init__(self, lease: Lease):
        self.lease, self._stop = lease, threading.Event()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"backup-heartbeat-{lease.job_id}"
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                self._beat_once()
        finally:
            connection.close()

    def _beat_once(self) -> None:
        """One renewal; an error (the database restarting, a dropped connection) is logged and the next
        beat tries again: a thread that stopped here would let the reaper fail a healthy backup."""
        try:
            jobs.job_progress(self.lease.job_id, owner=self.lease.token)
        except Exception:
            logger.warning("Backup heartbeat of job %s failed", self.lease.job_id, exc_info=True)
            connection.close()  # a broken connection is reopened by the next query


def _reporter(lease: Lease, *, first: int, span: int):
    """The `progress(percent, line)` callable given to storage: the job's progress scaled into
    first..first+span, the line on the console, and LeaseLost when the reaper has taken the job.
    Storage reports at its steps and every few hundred MB, so nothing needs throttling here."""

    def progress(percent: int, line: str = "") -> None:
        lease.beat(progress=min(99, first + span * max(0, min(100, percent)) // 100), line=line or None)

    return progress


# ---- backup ----------------------------------------------------------------------------------------


def backup_execute(*, backup_id) -> None:
    """Make the archive of a pending backup; completed with its size and checksum, or failed with the
    reason and no archive left. Safe to deliver twice."""
    backup = Backup.objects.select_related("server__node", "server__template").filter(pk=backup_id).first()
    if backup is None or backup.job_id is None:
        return
    lease = claim(backup.job_id)
    if lease is None:
        return  # another delivery, or the reaper, has it
    server = backup.server
    stored = False
    try:
        with Heartbeat(lease):
            if not _take_turn(backup, lease):
                jobs.job_failed(backup.job_id, "The backup was no longer pending.")
                return
            lease.beat(progress=1, line=f"Backup {backup.name}: started.")
            with save_commands(server, lease):
                lease.beat(progress=10)
                storage.store(backup, server, progress=_reporter(lease, first=10, span=85))
                stored = True
            _backup_completed(lease, backup)
    except LeaseLost:
        # The reaper settled it and removed what its row knew of; an archive finished after that is
        # known only to this object (its location was never saved): remove it, or nothing ever will.
        if stored:
            _discard_quietly(backup)
        return
    except Exception as exc:
        if stored:
            _discard_quietly(backup)  # made, but never recorded as completed: no archive of a failed one
        reason = _reason(exc)
        if not isinstance(exc, ANSWERS):
            logger.exception("Backup %s failed", backup.pk)
        _backup_failed(lease, backup, reason)


def _take_turn(backup: Backup, lease: Lease) -> bool:
    """Wait while another backup of the same server is being made (they share its backup directory,
    whose leftover temporaries a run clears first), then move this one to in_progress; False when it
    is no longer pending. The check and the move hold the server's row lock, so two cannot both go."""
    while True:
        with transaction.atomic():
            Server.objects.select_for_update().filter(pk=backup.server_id).first()
            others = Backup.objects.filter(
                server_id=backup.server_id,
                status=B.IN_PROGRESS,  # and alive: one whose worker died waits for the reaper, not us
                job__status=Job.Status.RUNNING,
                job__heartbeat_at__gte=timezone.now() - STALE_AFTER,
            ).exclude(pk=backup.pk)
            if not others.exists():
                moved = Backup.objects.filter(pk=backup.pk, status=B.PENDING).update(status=B.IN_PROGRESS)
                backup.status = B.IN_PROGRESS if moved else backup.status
                return bool(moved)
        lease.beat()  # still ours (LeaseLost if the reaper took it), and alive while it waits
        time.sleep(TURN_POLL_SECONDS)


def _backup_completed(lease: Lease, backup: Backup) -> None:
    with lease.fenced() as (job, _server):
        backup.status, backup.completed_at, backup.error = B.COMPLETED, timezone.now(), ""
        backup.save(
            update_fields=[
                "status",
                "completed_at",
                "error",
                "size_bytes",
                "checksum",
                "location",
                "node",
                "updated_at",
            ]
        )
        services.prune_replaced(backup, job)  # only now: a failed backup never costs the last good one
        jobs.job_log(job.pk, [f"Archive {backup.location}: {backup.size_bytes} bytes, {backup.checksum}."])
        jobs.job_succeeded(job.pk)
    console.write(backup.server_id, f"Backup {backup.name}: completed ({backup.size_mb} MB).")


def _backup_failed(lease: Lease, backup: Backup, reason: str) -> None:
    try:
        with lease.fenced() as (job, _server):
            _mark_failed(backup, reason)
            jobs.job_failed(job.pk, reason)
    except LeaseLost:
        return
    console.write(backup.server_id, f"Backup {backup.name} failed: {reason}")


def _mark_failed(backup: Backup, reason: str) -> None:
    Backup.objects.filter(pk=backup.pk, status__in=(B.PENDING, B.IN_PROGRESS)).update(
        status=B.FAILED, error=reason[:2000], completed_at=timezone.now(), updated_at=timezone.now()
    )


def _reason(exc: Exception) -> str:
    return getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc) or exc.__class__.__name__


# ---- restore ---------------------------------------------------------------------------------------


def backup_restore_execute(*, job_id) -> None:
    """Replace the server's files with the backup's; the server stopped again either way (a failed
    restore leaves the original files as they were, and says why)."""
    lease = claim(job_id)
    if lease is None:
        return
    job = Job.objects.select_related("server__node", "server__template").get(pk=job_id)
    backup = Backup.objects.filter(pk=job.detail.get("backupId")).first()
    server = job.server
    try:
        if server is None or backup is None:
            raise LookupError("The server or the backup was deleted.")
        with Heartbeat(lease):
            lease.beat(progress=1, line=f"Restoring backup {backup.name}…")
            storage.restore(backup, server, progress=_reporter(lease, first=5, span=90))
        with lease.fenced() as (job, _server):
            set_status(server.pk, S.STOPPED, expect={S.RESTORING}, status_reason="")
            jobs.job_succeeded(job.pk)
        console.write(server.pk, f"Backup {backup.name} restored.")
    except LeaseLost:
        return
    except Exception as exc:
        reason = _reason(exc)
        if not isinstance(exc, (*ANSWERS, LookupError)):
            logger.exception("Restore job %s failed", job_id)
        _restore_failed(lease, reason)


def _restore_failed(lease: Lease, reason: str) -> None:
    try:
        with lease.fenced() as (job, server):
            if server is not None:
                set_status(
                    server.pk, S.STOPPED, expect={S.RESTORING}, status_reason=f"Restore failed: {reason}"
                )
            jobs.job_failed(job.pk, reason)
    except LeaseLost:
        return
    if server is not None:
        console.write(server.pk, f"Restore failed: {reason}. The server's files were left as they were.")


# ---- the reaper -------------------------------------------------------------------------------------


def backups_reap(*, now: datetime | None = None) -> int:
    """Beat: settle backup and restore jobs whose worker has been quiet for STALE_AFTER, and those no
    worker claimed within PENDING_STALE_AFTER (as of `now`)."""
    now = now or timezone.now()
    live = Job.objects.filter(kind__in=(Job.Kind.BACKUP, Job.Kind.RESTORE))
    running_cutoff, pending_cutoff = now - STALE_AFTER, now - PENDING_STALE_AFTER
    quiet = [
        (job_id, running_cutoff, True)
        for job_id in live.filter(status=Job.Status.RUNNING)
        .annotate(last_sign=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_sign__lt=running_cutoff)
        .values_list("pk", flat=True)
    ] + [
        (job_id, pending_cutoff, False)  # never claimed: nothing of it ever ran on a node
        for job_id in live.filter(status=Job.Status.PENDING, created_at__lt=pending_cutoff).values_list(
            "pk", flat=True
        )
    ]
    reaped = 0
    for job_id, cutoff, ran in quiet:
        lease = take_over(job_id, cutoff=cutoff)
        if lease is None or (ran and not _stopped(lease, now)):
            continue
        try:
            _reap(lease)
        except LeaseLost:
            continue
        reaped += 1
    return reaped


def _stopped(lease: Lease, now: datetime) -> bool:
    """End what the dead worker left running on the node (its container goes on without it) and undo a
    restore it interrupted mid-swap, before the job is settled: until then nothing may start the server
    or touch its files. When the node cannot be reached the job waits, owned by the reaper, until the
    operation's container has ended by itself (OPERATION_LIFETIME_SECONDS after the job began)."""
    job = Job.objects.filter(pk=lease.job_id).select_related("server__node", "server__template").first()
    if job is None or job.server is None:
        return True
    try:
        storage.stop_operations(job.server)
    except Exception as exc:
        outlived = now - (job.started_at or job.created_at) > timedelta(seconds=OPERATION_LIFETIME_SECONDS)
        logger.warning(
            "The dead job %s's operations could not be ended (%s)%s",
            job.pk,
            exc,
            "; their container has ended by now" if outlived else "; trying again later",
        )
        return outlived
    return True


def _reap(lease: Lease) -> None:
    reason = "The worker stopped responding (it was killed or lost) before the job finished."
    left: Backup | None = None
    was_saving = False
    with lease.fenced() as (job, server):
        if job.kind == Job.Kind.BACKUP:
            left = Backup.objects.filter(job=job).select_related("server__template", "node").first()
            if left is not None:
                was_saving = left.status == B.IN_PROGRESS  # it may have typed the before commands
                _mark_failed(left, reason)
        elif server is not None:
            set_status(server.pk, S.STOPPED, expect={S.RESTORING}, status_reason=f"Restore failed: {reason}")
        jobs.job_failed(job.pk, reason)
    if left is not None:
        _discard_quietly(left)  # the temporary (or complete but unrecorded) archive
        if was_saving and left.server.status == S.RUNNING:
            send_after_commands(left.server)  # a game the dead worker left with saving off
        console.write(left.server_id, f"Backup {left.name} failed: {reason}")
    elif server is not None:
        console.write(server.pk, f"Restore failed: {reason}")


def _discard_quietly(backup: Backup) -> None:
    try:
        storage.discard(backup)
    except Exception:
        logger.warning("Could not remove what the dead backup %s left", backup.pk, exc_info=True)
