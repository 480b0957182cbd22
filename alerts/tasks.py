"""Celery entry points of alerts: thin wrappers over alerts.evaluation and alerts.delivery."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

# An attempt is bounded by its timeout (config/outbound.py's deadline); these stop a stuck one anyway
# (alerts.delivery.time_limits(): claim() redoes a dead attempt only after the hard one).
_SOFT, _HARD = (settings.ALERT_DELIVERY_TIMEOUT_SECONDS + 30, settings.ALERT_DELIVERY_TIMEOUT_SECONDS + 60)


EVALUATING = "alerts:evaluating"


@shared_task(ignore_result=True)
def alerts_evaluate_task() -> int:
    """Beat's evaluation every 30 s; skipped while the previous one still runs (an alert storm on
    thousands of servers can take longer than that: bench/alerts), so runs never pile up."""
    from alerts.evaluation import evaluate_rules

    if not cache.add(EVALUATING, True, timeout=600):  # expires on its own if a worker died mid-run
        return 0
    try:
        return evaluate_rules()
    finally:
        cache.delete(EVALUATING)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=_SOFT, time_limit=_HARD)
def alerts_deliver_task(delivery_id: str, attempt: int | None = None) -> None:
    """One attempt of one alert delivery (alerts.delivery.send claims it: a message seen twice sends once)."""
    from alerts.delivery import send

    send(delivery_id, attempt)


@shared_task(ignore_result=True)
def alerts_sweep_deliveries_task() -> int:
    """Beat's safety net: queue again pending deliveries whose message was lost (alerts.delivery.sweep)."""
    from alerts.delivery import sweep

    return sweep()
