import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["config"])

# Task counts and durations for GET /metrics (config/metrics.py), in every process that runs tasks.
from config.metrics import connect_celery_signals  # noqa: E402

connect_celery_signals()


@signals.task_prerun.connect(weak=False, dispatch_uid="hearth-db-prerun")
@signals.task_postrun.connect(weak=False, dispatch_uid="hearth-db-postrun")
def _connections_back_to_the_pool(task=None, **kwargs):
    """Around every task, as Django does around a request: its connections go back to the process's
    pool (which checks a connection before lending it: one broken by a PostgreSQL restart is replaced),
    and a connection that failed is closed. Not for an eager task, which runs in its caller's
    connection and transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
