"""A server's scheduled tasks: a cron expression in a time zone, an ordered chain of steps (power actions,
console commands, backups), and the history of its runs. Each task owns one django-celery-beat
PeriodicTask with its own CrontabSchedule, which schedules.services keeps in step with it."""

import uuid

from django.conf import settings
from django.db import models


class Task(models.Model):
    """A cron-scheduled chain of steps on one server."""

    class CatchUp(models.TextChoices):
        SKIP = "skip"  # a run missed while beat was down is recorded as skipped
        ONCE = "once"  # one run makes up for however many were missed

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server = models.ForeignKey("servers.Server", on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=100)
    schedule = models.CharField(max_length=100, help_text="Five-field cron expression, e.g. 0 3 * * *")
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    only_when_online = models.BooleanField(default=False)
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, default=CatchUp.SKIP)
    last_run_at = models.DateTimeField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0)
    # The latest scheduled time already dealt with (run, skipped or missed): a slot at or before it is
    # never acted on again, whichever of beat's firing, a redelivery or the catch-up sweep comes second.
    last_slot_at = models.DateTimeField(null=True, blank=True)
    # PROTECT: deleting the beat row alone (the django-celery-beat admin) cannot silently stop a task.
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="hearth_task",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["server", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schedule})"


class Step(models.Model):
    """One action of a task's chain; `delay_seconds` is counted from the end of the previous step."""

    class Action(models.TextChoices):
        START = "start"
        STOP = "stop"
        RESTART = "restart"
        KILL = "kill"
        BACKUP = "backup"
        COMMAND = "command"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=16, choices=Action.choices)
    payload = models.JSONField(default=dict, blank=True)  # {"command": "..."}; {"name": ...} for backups
    delay_seconds = models.PositiveIntegerField(default=0)
    continue_on_failure = models.BooleanField(default=False)

    class Meta:
        ordering = ["task", "position"]
        constraints = [models.UniqueConstraint(fields=["task", "position"], name="schedules_step_position")]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.action}"


class Run(models.Model):
    """One execution of a task: what set it off, how it ended, and each step's outcome.

    `steps` is a copy of the chain taken when the run began (editing the task later does not rewrite
    history), each entry with its status, times, output or error and the job it waited on."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled"
        MANUAL = "manual"
        CATCH_UP = "catch-up"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    scheduled_for = models.DateTimeField(null=True, blank=True)  # the cron slot; none for a manual run
    fired_at = models.DateTimeField(null=True, blank=True)  # when beat sent it (scheduled and catch-up runs)
    reason = models.TextField(blank=True)  # why it was skipped or failed
    steps = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["task", "-started_at"])]
        # One run per slot: a second delivery of beat's message, or the catch-up sweep, finds it taken.
        constraints = [
            models.UniqueConstraint(
                fields=["task", "scheduled_for"],
                condition=models.Q(scheduled_for__isnull=False),
                name="schedules_run_once_per_slot",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task.name} {self.trigger} {self.status}"
