from celery import shared_task

from config import heartbeat as hb


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat every 30 s: that it ran proves both beat and a worker are alive."""
    hb.beat("beat")
    hb.beat("worker")
