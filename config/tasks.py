from celery import shared_task
from django.db import transaction

from config import heartbeat as hb


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat every 30 s: that it ran proves both beat and a worker are alive."""
    hb.beat("beat")
    hb.beat("worker")


def queue(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits (at once outside one): a worker never runs
    ahead of the rows it will read, and a rolled-back request queues nothing. Ids go as strings."""
    transaction.on_commit(lambda: task.delay(*[str(arg) for arg in args], **kwargs))
