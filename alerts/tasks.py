"""Celery entry points of alerts: thin wrappers over alerts.evaluation and alerts.delivery."""

from celery import shared_task


@shared_task(ignore_result=True)
def alerts_evaluate_task() -> int:
    from alerts.evaluation import evaluate_rules

    return evaluate_rules()


@shared_task(ignore_result=True, acks_late=True)
def alerts_deliver_task(delivery_id: str, attempt: int | None = None) -> None:
    """One attempt of one alert delivery (alerts.delivery.send claims it: a message seen twice sends once)."""
    from alerts.delivery import send

    send(delivery_id, attempt)
