from celery import shared_task


@shared_task(ignore_result=True)
def audit_prune_task() -> int:
    from accounts.audit import audit_prune

    return audit_prune()
