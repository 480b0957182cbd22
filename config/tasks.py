import logging

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from config import heartbeat as hb

logger = logging.getLogger(__name__)

# How long a task message's id is remembered: Redis redelivers an unacknowledged message after its
# visibility timeout (one hour by default), so a day covers every redelivery.
DELIVERY_MEMORY_SECONDS = 24 * 3600


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat every 30 s: that it ran proves both beat and a worker are alive."""
    hb.beat("beat")
    hb.beat("worker")


def queue(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits (at once outside one): a worker never runs
    ahead of the rows it will read, and a rolled-back request queues nothing. Ids go as strings."""
    transaction.on_commit(lambda: task.delay(*[str(arg) for arg in args], **kwargs))


def first_delivery(request) -> bool:
    """False when this task message (its id) already ran once: for tasks without a job row to claim
    (a console command, a disk check), whose second run would act twice. At most once: the id is
    recorded before the work, so a delivery lost mid-way (a worker killed) is not run again and
    `acks_late` buys these tasks nothing; the next command or the next check does the work."""
    if not request.id:  # called directly, not from a message
        return True
    try:
        return cache.add(f"task-delivered:{request.id}", 1, timeout=DELIVERY_MEMORY_SECONDS)
    except Exception:  # the cache is the broker's Redis: if it fails, running beats dropping
        logger.warning("Cannot record delivery of task %s; running it", request.id, exc_info=True)
        return True
