"""Where an alert is sent and how: a delivery row per destination (a rule's webhook or email action, a
subscription of the alert's server), created with the alert and sent by Celery after it commits."""

from alerts.models import Alert


def deliver_on_commit(alert: Alert, rules) -> None:
    """Create the alert's deliveries (inside the caller's transaction) and send them once it commits."""
