"""Celery tasks of backups: each loads its ids and calls one service, which claims the work."""

from botocore.exceptions import BotoCoreError
from celery import shared_task

from config.errors import Unavailable
from nodes.client import BackupFailed

# An archive removed after its row is gone has no other chance: a node or store down for a while is
# tried again, ever later (about 1 s, 2 s, 4 s… capped at 10 min, some 40 min in all), then logged.
DISCARD_RETRIES = 8


@shared_task(acks_late=True, ignore_result=True)
def backup_create_task(backup_id: str) -> None:
    from backups.work import backup_execute

    backup_execute(backup_id=backup_id)


@shared_task(acks_late=True, ignore_result=True)
def backup_restore_task(job_id: str) -> None:
    from backups.work import backup_restore_execute

    backup_restore_execute(job_id=job_id)


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Unavailable, BackupFailed, BotoCoreError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=DISCARD_RETRIES,
)
def backup_discard_task(**fields) -> None:
    """Remove the archive of a backup whose row is already gone (pruned to make room); idempotent, so
    retried while the node or the store cannot be reached."""
    from backups import storage
    from backups.models import Backup

    storage.discard(
        Backup(
            id=fields["backup_id"],
            server_id=fields["server_id"],
            node_id=fields["node_id"] or None,
            storage=fields["storage"],
            location=fields["location"],
            compression=fields["compression"],
        )
    )


@shared_task(ignore_result=True)
def backups_reap_task() -> None:
    """Beat: settle backups and restores whose worker died."""
    from backups.work import backups_reap

    backups_reap()


@shared_task(ignore_result=True)
def backups_prune_task() -> None:
    """Beat: delete unlocked backups older than BACKUP_MAX_AGE_DAYS."""
    from backups.services import backups_prune

    backups_prune()
