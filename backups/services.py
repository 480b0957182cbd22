"""Backups: made, restored, downloaded, deleted, locked and pruned (the jobs' work is in backups/work.py).

Every change takes the server's row lock first (then a backup's), so the per-server limit holds however
many requests arrive at once, and a restore cannot begin while a backup of the same server is being made
(or the other way round). A backup counts towards the limit from the moment it is asked for (pending)
until it is deleted; a failed one holds no archive and does not count.
"""

import contextlib
import logging
import re
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from backups import storage
from backups.access import check_backup_access
from backups.models import Backup
from backups.s3 import S3NotConfigured
from config.errors import IllegalTransition, InvalidInput, NotFound, Unavailable
from config.tasks import queue
from nodes.client import BackupCorrupt, BackupFailed
from servers import jobs
from servers.files.access import BUSY, file_jobs_under_way
from servers.models import Job, Server
from servers.states import refuse, transition

logger = logging.getLogger(__name__)
B = Backup.Status
S = Server.Status
COUNTED = (B.PENDING, B.IN_PROGRESS, B.COMPLETED)  # what the limit counts
LIVE = (B.PENDING, B.IN_PROGRESS)
LIVE_JOBS = (Job.Status.PENDING, Job.Status.RUNNING)
NAME_CHARS = 100
IGNORE_PATTERNS = 100  # patterns per backup
IGNORE_CHARS = 255  # characters per pattern
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ---- create --------------------------------------------------------------------------------------


def backup_create(
    *,
    server: Server,
    actor,
    name: str = "",
    ignore=(),
    compression: str | None = None,
    scheduled: bool = False,
    request=None,
) -> Backup:
    """A pending backup of `server` and its job, queued. Over the server's limit a manual backup is
    refused (400); a scheduled one (actor None: a schedule's step) removes the oldest unlocked one."""
    from backups.tasks import backup_create_task

    name = _valid_name(name)
    ignore = _valid_ignore(ignore)
    compression = _valid_compression(compression)
    storage_kind = _storage_kind()
    check_backup_access(actor, server, "backup.create")
    with transaction.atomic():
        current = Server.objects.select_for_update().get(pk=server.pk)  # the limit's lock
        _refuse_busy(current, "back up")
        replaces = _make_room(current, scheduled=scheduled)
        job = jobs.job_create(server=current, kind=Job.Kind.BACKUP, actor=actor, heartbeat_at=timezone.now())
        backup = Backup.objects.create(
            server=current,
            name=name,
            storage=storage_kind,
            compression=compression,
            ignore=ignore,
            scheduled=scheduled,
            created_by=actor,
            job=job,
        )
        job.detail = {
            "backupId": str(backup.pk),
            "backupName": name,
            **({"replaces": replaces} if replaces else {}),
        }
        job.save(update_fields=["detail"])
        audit(
            "backup.create",
            actor=actor,
            request=request,
            resource=current,
            backupId=str(backup.pk),
            name=name,
            storage=storage_kind,
            scheduled=scheduled,
            **({"by": "schedule"} if actor is None else {}),
            **({"replaces": replaces} if replaces else {}),
        )
        queue(backup_create_task, backup.pk)
    return backup


def _valid_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        return f"backup-{timezone.now():%Y%m%d-%H%M%S}"
    if len(name) > NAME_CHARS:
        raise InvalidInput({"name": f"A backup's name has at most {NAME_CHARS} characters."})
    if CONTROL.search(name):
        raise InvalidInput({"name": "A backup's name cannot hold control characters (newlines, tabs…)."})
    return name


def _valid_ignore(ignore) -> list[str]:
    if isinstance(ignore, str) or not all(isinstance(p, str) for p in ignore or ()):
        raise InvalidInput({"ignore": 'ignore is a list of patterns (strings), e.g. ["logs/", "*.tmp"].'})
    patterns = [p.strip() for p in ignore or () if p.strip()]
    if len(patterns) > IGNORE_PATTERNS:
        raise InvalidInput({"ignore": f"At most {IGNORE_PATTERNS} ignore patterns per backup."})
    for pattern in patterns:
        if len(pattern) > IGNORE_CHARS or CONTROL.search(pattern):
            raise InvalidInput(
                {"ignore": f"Each pattern has at most {IGNORE_CHARS} characters and no control characters."}
            )
    return patterns


def _valid_compression(compression: str | None) -> str:
    compression = compression or settings.BACKUP_COMPRESSION
    if compression not in Backup.Compression.values:
        raise InvalidInput({"compression": f"compression is one of {', '.join(Backup.Compression.values)}."})
    return compression


def _storage_kind() -> str:
    kind = settings.BACKUP_STORAGE
    if kind == Backup.Storage.S3 and not settings.BACKUP_S3.get("bucket"):
        raise Unavailable("Backups go to S3, but no bucket is configured (HEARTH_BACKUP_S3_BUCKET).")
    if kind not in Backup.Storage.values:
        raise Unavailable(f"HEARTH_BACKUP_STORAGE is {kind!r}: it must be local or s3.")
    return kind


def _refuse_busy(server: Server, what: str) -> None:
    if server.status == S.SUSPENDED:
        refuse(server, "backup")
    if server.status in BUSY:
        raise IllegalTransition(
            f"Cannot {what} the server while it is {BUSY[server.status]}.", current_state=server.status
        )
    if Job.objects.filter(server=server, kind=Job.Kind.DELETE, status__in=LIVE_JOBS).exists():
        raise IllegalTransition(
            f"Cannot {what} the server while it is being deleted.", current_state=server.status
        )


def _make_room(server: Server, *, scheduled: bool) -> list[str]:
    """(Server row locked.) Nothing when under the limit; a manual backup over it is refused; a
    scheduled one is given the oldest completed unlocked backups it will replace (their ids): they are
    deleted only once it completes (prune_replaced), so a scheduled backup that fails costs nothing.
    Those already promised to another backup being made count as gone, so the limit stays exact."""
    promised = _promised(server)
    counted = Backup.objects.filter(server=server, status__in=COUNTED).exclude(pk__in=promised)
    count, limit = counted.count(), server.backup_limit
    if count < limit:
        return []
    if limit == 0:
        raise InvalidInput("This server may keep no backups (its backup limit is 0).")
    if not scheduled:
        raise InvalidInput(
            f"This server may keep {limit} backup{'s' if limit != 1 else ''} and has {count}: "
            "delete one (unlock it first if it is locked) before making another."
        )
    excess = count - limit + 1
    oldest = list(
        counted.filter(status=B.COMPLETED, locked=False)
        .order_by("created_at")
        .values_list("pk", flat=True)[:excess]
    )
    if len(oldest) < excess:
        raise InvalidInput(
            f"This server's backup limit ({limit}) is reached and its other backups are locked or still "
            "being made: none could be removed to make room."
        )
    return [str(pk) for pk in oldest]


def _promised(server: Server) -> set[str]:
    """Ids of the backups that scheduled backups still being made will replace."""
    details = Job.objects.filter(server=server, kind=Job.Kind.BACKUP, status__in=LIVE_JOBS).values_list(
        "detail", flat=True
    )
    return {pk for detail in details for pk in (detail or {}).get("replaces", ())}


def prune_replaced(backup: Backup, job: Job) -> None:
    """(In the completing backup's fenced step: its job and server rows locked.) Delete the backups it
    was made to replace — rows now, archives once committed. Each is locked and re-checked first: one
    locked, restored or deleted since stays as it is (a lock always wins over pruning)."""
    ids = (job.detail or {}).get("replaces") or []
    if not ids:
        return
    candidates = Backup.objects.select_for_update().filter(
        pk__in=ids, server_id=backup.server_id, status=B.COMPLETED, locked=False
    )
    for old in list(candidates.select_related("server")):
        if _being_restored(old):
            continue
        Backup.objects.filter(pk=old.pk).delete()
        audit(
            "backup.prune", actor=None, resource=old.server, backupId=str(old.pk), name=old.name, why="limit"
        )
        _discard_later(old)


def _discard_later(backup: Backup) -> None:
    """Remove a deleted row's archive once the deletion commits (a task: the node may be slow)."""
    from backups.tasks import backup_discard_task

    queue(
        backup_discard_task,
        backup_id=str(backup.pk),
        server_id=str(backup.server_id),
        node_id=str(backup.node_id or ""),
        storage=backup.storage,
        location=backup.location,
        compression=backup.compression,
    )


# ---- restore ---------------------------------------------------------------------------------------


def backup_restore(*, backup: Backup, actor, request=None) -> Job:
    """Replace the server's files with the backup's (a job). The server must be stopped (409), the
    backup completed (409) and no other backup of the server being made (409)."""
    from backups.tasks import backup_restore_task

    check_backup_access(actor, backup.server, "backup.restore")
    with transaction.atomic():
        server = Server.objects.select_for_update().get(pk=backup.server_id)  # server, then backup
        current = Backup.objects.select_for_update().filter(pk=backup.pk).first()
        if current is None:
            raise NotFound("Backup not found.")
        if current.status != B.COMPLETED:
            raise IllegalTransition(
                f"Only a completed backup can be restored; this one is {current.status}.",
                current_state=current.status,
            )
        if server.status not in (S.STOPPED, S.CRASHED):
            refuse(server, "restore")
        if Backup.objects.filter(server=server, status__in=LIVE).exists():
            raise IllegalTransition(
                "A backup of this server is being made: restore once it has finished.",
                current_state=server.status,
            )
        if file_jobs_under_way(server).exists():
            raise IllegalTransition(
                "An archive or download job is writing this server's files: restore once it has finished.",
                current_state=server.status,
            )
        job = jobs.job_create(
            server=server,
            kind=Job.Kind.RESTORE,
            actor=actor,
            heartbeat_at=timezone.now(),
            detail={"backupId": str(current.pk), "backupName": current.name},
        )
        transition(server, action="restore", to=S.RESTORING, status_reason=f"Restoring backup {current.name}")
        audit(
            "backup.restore",
            actor=actor,
            request=request,
            resource=server,
            backupId=str(current.pk),
            name=current.name,
        )
        queue(backup_restore_task, job.pk)
    return job


# ---- delete, lock, download -------------------------------------------------------------------------


def backup_delete(*, backup: Backup, actor, request=None) -> None:
    """Remove the archive, then the row (a node that cannot be reached keeps both: 503). Locked (409),
    still being made (409) or being restored (409) backups stay."""
    check_backup_access(actor, backup.server, "backup.delete")
    with transaction.atomic():
        current = Backup.objects.select_for_update().filter(pk=backup.pk).first()
        if current is None:
            raise NotFound("Backup not found.")
        if current.locked:
            raise IllegalTransition(
                "The backup is locked: unlock it before deleting it.", current_state="locked"
            )
        if current.status in LIVE:
            raise IllegalTransition(
                "The backup is still being made: delete it once it has finished or failed.",
                current_state=current.status,
            )
        if _being_restored(current):
            raise IllegalTransition(
                "The backup is being restored: delete it once that is done.", current_state="restoring"
            )
        with storage_answers("The backup's archive could not be removed"):
            storage.discard(current)
        current.delete()
        audit(
            "backup.delete",
            actor=actor,
            request=request,
            resource=backup.server,
            backupId=str(backup.pk),
            name=backup.name,
        )


@contextlib.contextmanager
def storage_answers(doing: str):
    """What the archive's storage says (the node's backup tools, the S3 store) as the user's answer: a
    damaged or missing archive 409, a store or node that fails or cannot be reached 503, with why."""
    try:
        yield
    except BackupCorrupt as exc:
        raise IllegalTransition(f"{doing}: {exc.reason}", current_state="corrupt") from exc
    except BackupFailed as exc:
        raise Unavailable(f"{doing}: {exc.reason}") from exc
    except (BotoCoreError, ClientError, S3NotConfigured) as exc:
        raise Unavailable(f"{doing}: the S3 store answered {exc}") from exc


def _being_restored(backup: Backup) -> bool:
    return Job.objects.filter(
        kind=Job.Kind.RESTORE, status__in=LIVE_JOBS, detail__backupId=str(backup.pk)
    ).exists()


def backup_lock(*, backup: Backup, actor, request=None) -> Backup:
    """A locked backup is never deleted or pruned (locking needs backup.delete: it decides deletion)."""
    return _set_locked(backup, actor, True, request)


def backup_unlock(*, backup: Backup, actor, request=None) -> Backup:
    return _set_locked(backup, actor, False, request)


def _set_locked(backup: Backup, actor, locked: bool, request) -> Backup:
    check_backup_access(actor, backup.server, "backup.delete")
    with transaction.atomic():
        if not Backup.objects.filter(pk=backup.pk).update(locked=locked, updated_at=timezone.now()):
            raise NotFound("Backup not found.")
        action = "backup.lock" if locked else "backup.unlock"
        audit(
            action,
            actor=actor,
            request=request,
            resource=backup.server,
            backupId=str(backup.pk),
            name=backup.name,
        )
    backup.locked = locked
    return backup


def backup_download(*, backup: Backup, actor, request=None):
    """The archive of a completed backup: a short-lived link (S3) or its bytes (storage.Download)."""
    check_backup_access(actor, backup.server, "backup.download")
    if backup.status != B.COMPLETED:
        raise IllegalTransition(
            f"Only a completed backup can be downloaded; this one is {backup.status}.",
            current_state=backup.status,
        )
    with storage_answers("The backup cannot be downloaded"):
        download = storage.download(backup)
    audit(
        "backup.download",
        actor=actor,
        request=request,
        resource=backup.server,
        backupId=str(backup.pk),
        name=backup.name,
    )
    return download


# ---- retention by age, a server's deletion ----------------------------------------------------------


def backups_prune(*, now=None) -> int:
    """Beat: delete unlocked backups older than BACKUP_MAX_AGE_DAYS (0: keep them). A node or store that
    cannot be reached keeps the row (and its archive) for the next run."""
    days = settings.BACKUP_MAX_AGE_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Backup.objects.filter(locked=False, status__in=(B.COMPLETED, B.FAILED), created_at__lt=cutoff)
    pruned = 0
    for backup_id in list(old.values_list("pk", flat=True)):
        with transaction.atomic():
            backup = (
                old.select_for_update(skip_locked=True).select_related("server").filter(pk=backup_id).first()
            )
            if backup is None or _being_restored(backup):
                continue
            try:
                storage.discard(backup)
            except Exception:  # the next run tries again
                logger.warning("Could not prune backup %s", backup_id, exc_info=True)
                continue
            backup.delete()
            audit(
                "backup.prune", resource=backup.server, backupId=str(backup_id), name=backup.name, why="age"
            )
        pruned += 1
    return pruned
