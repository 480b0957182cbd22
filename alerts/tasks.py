"""Celery entry points of alerts: thin wrappers over alerts.evaluation and alerts.delivery."""

from celery import shared_task


@shared_task(ignore_result=True)
def alerts_evaluate_task() -> int:
    from alerts.evaluation import evaluate_rules

    return evaluate_rules()
