"""Schedules: a server's cron tasks (power actions, commands, backups) and their runs, synced to django-celery-beat."""

from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "schedules"

    def ready(self):
        from schedules import signals  # noqa: F401 - connects the receivers
