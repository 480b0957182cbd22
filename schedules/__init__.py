"""Schedules: a server's cron tasks (power actions, commands, backups) and their runs, synced to django-celery-beat."""
