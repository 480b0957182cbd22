from celery import shared_task


@shared_task(ignore_result=True, soft_time_limit=300)
def databases_drop_orphans_task() -> None:
    from databases.services import databases_drop_orphans

    databases_drop_orphans()
