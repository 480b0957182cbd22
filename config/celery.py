import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["config"])

# Task counts and durations for GET /metrics (config/metrics.py), in every process that runs tasks.
from config.metrics import connect_celery_signals  # noqa: E402

connect_celery_signals()
