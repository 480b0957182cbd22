"""The marketplace's one task: a plugin job (install, update, modpack), loaded by id (marketplace/install.py)."""

from celery import shared_task


@shared_task(acks_late=True)
def marketplace_job_task(server_id: str, job_id: str) -> None:
    from marketplace.install import marketplace_job_execute

    marketplace_job_execute(server_id=server_id, job_id=job_id)
