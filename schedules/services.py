"""Creating, changing and deleting tasks. Each task owns one django-celery-beat PeriodicTask (and its own
CrontabSchedule): they are written in the same transaction as the task, so beat fires exactly the tasks
that exist, on the schedule they have now. Beat's own sync of CELERY_BEAT_SCHEDULE only updates the
entries named there (update_or_create by name), so it never touches these."""

import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.audit import audit
from accounts.permissions import can
from config.errors import InvalidInput, NotAllowed
from schedules import cron
from schedules.models import Step, Task
from servers.models import Server

FIRE_TASK = "schedules.tasks.task_fire_task"
MAX_STEPS = 20
MAX_STEP_DELAY_SECONDS = 3600  # a longer wait is better a second task: countdowns past Redis's
# visibility timeout (one hour) are redelivered
MAX_COMMAND_LENGTH = 4096
A = Step.Action


# What a step does on the server needs the same permission as doing it by hand: task.create alone must
# not let a member stop, command or back up a server they may not.
STEP_PERMISSIONS = {
    A.START: ("server.start",),
    A.STOP: ("server.stop",),
    A.RESTART: ("server.restart",),
    A.KILL: ("server.kill",),
    A.COMMAND: ("server.console",),
    A.BACKUP: ("backup.create", "backup.delete"),  # a scheduled backup rotates out the oldest one
}


def missing_permission(user, server, action: str) -> str | None:
    """The first permission a step of `action` needs that `user` lacks on `server`, or None."""
    return next((needed for needed in STEP_PERMISSIONS[action] if not can(user, needed, server)), None)


def require_step_permissions(user, server, steps: list[dict]) -> None:
    """NotAllowed (403) unless `user` may do every step's action on `server` themselves."""
    if user is None:
        return  # the panel itself (tests, the benchmark)
    for step in steps:
        if needed := missing_permission(user, server, step["action"]):
            raise NotAllowed(f"A {step['action']} step needs the {needed} permission on this server.")


def periodic_task_name(task: Task) -> str:
    return f"hearth-task:{task.pk}"


# ---- input ---------------------------------------------------------------------------------------------


def clean_steps(steps) -> list[dict]:
    """The chain as rows to write, or InvalidInput (400) naming the step and what is wrong with it."""
    if not isinstance(steps, list) or not steps:
        raise InvalidInput({"steps": 'A task needs at least one step, e.g. [{"action": "restart"}].'})
    if len(steps) > MAX_STEPS:
        raise InvalidInput({"steps": f"A task has at most {MAX_STEPS} steps."})
    return [_clean_step(number, step) for number, step in enumerate(steps, start=1)]


def _clean_step(number: int, step) -> dict:
    where = f"step {number}"
    if not isinstance(step, dict):
        raise InvalidInput({"steps": f"{where}: expected an object with an action."})
    action = step.get("action")
    if action not in A.values:
        raise InvalidInput(
            {"steps": f"{where}: action must be one of {', '.join(A.values)}; got {action!r}."}
        )
    delay = step.get("delay_seconds", 0)
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_STEP_DELAY_SECONDS:
        raise InvalidInput(
            {"steps": f"{where}: delaySeconds must be a whole number from 0 to {MAX_STEP_DELAY_SECONDS}."}
        )
    go_on = step.get("continue_on_failure", False)
    if not isinstance(go_on, bool):
        raise InvalidInput({"steps": f"{where}: continueOnFailure must be true or false."})
    return {
        "action": action,
        "payload": _clean_payload(where, action, step.get("payload")),
        "delay_seconds": delay,
        "continue_on_failure": go_on,
    }


def _clean_payload(where: str, action: str, payload) -> dict:
    payload = payload or {}
    if not isinstance(payload, dict):
        raise InvalidInput({"payload": f'{where}: payload must be an object, e.g. {{"command": "say hi"}}.'})
    if action == A.COMMAND:
        command = payload.get("command")
        if not isinstance(command, str) or not command.strip():
            raise InvalidInput({"payload": f'{where}: a command step needs payload.command, e.g. "say hi".'})
        if len(command) > MAX_COMMAND_LENGTH or "\n" in command or "\r" in command:
            raise InvalidInput(
                {
                    "payload": f"{where}: the command must be one line of at most {MAX_COMMAND_LENGTH} characters."
                }
            )
        return {"command": command}
    if action == A.BACKUP:
        name = payload.get("name", "")
        if not isinstance(name, str) or len(name) > 100:
            raise InvalidInput({"payload": f"{where}: payload.name must be text of at most 100 characters."})
        return {"name": name} if name else {}
    return {}


def _clean_fields(fields: dict) -> dict:
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name or len(name) > 100:
            raise InvalidInput({"name": "A task needs a name of 1 to 100 characters."})
        fields["name"] = name
    if "schedule" in fields:
        fields["schedule"] = " ".join(cron.parse(fields["schedule"]))
    if "timezone" in fields:
        cron.zone(fields["timezone"])
    if "catch_up" in fields and fields["catch_up"] not in Task.CatchUp.values:
        raise InvalidInput({"catchUp": "catchUp is skip (the default) or once."})
    return fields


# ---- beat's row -----------------------------------------------------------------------------------------


def _sync_periodic_task(task: Task, *, reschedule: bool) -> None:
    """Write the task's PeriodicTask and CrontabSchedule as the task says now. `reschedule` (a new or
    changed schedule, or re-enabled) counts the next run from now, not from an older last run."""
    fields = dict(zip(cron.FIELDS, task.schedule.split(), strict=True))
    periodic = task.periodic_task
    if periodic is None:
        crontab = CrontabSchedule.objects.create(timezone=task.timezone, **fields)
        periodic = PeriodicTask(name=periodic_task_name(task), task=FIRE_TASK, crontab=crontab)
    else:
        crontab = periodic.crontab
        for key, value in {**fields, "timezone": task.timezone}.items():
            setattr(crontab, key, value)
        crontab.save()
    periodic.args = json.dumps([str(task.pk)])
    periodic.enabled = task.enabled
    periodic.description = f"{task.name} on server {task.server_id}"
    if reschedule:
        periodic.last_run_at = timezone.now()
    periodic.save()  # bumps PeriodicTasks.last_update: beat reloads within its loop interval
    if task.periodic_task_id != periodic.pk:
        task.periodic_task = periodic
        Task.objects.filter(pk=task.pk).update(periodic_task=periodic)


def _write_steps(task: Task, steps: list[dict]) -> None:
    task.steps.all().delete()
    Step.objects.bulk_create(Step(task=task, position=i, **step) for i, step in enumerate(steps))


# ---- services -------------------------------------------------------------------------------------------


def task_create(*, server, actor, steps: list, request=None, **fields) -> Task:
    """A new task on `server` with its chain of steps, and its beat row."""
    fields = _clean_fields({"timezone": "UTC", **fields})
    for required in ("name", "schedule"):
        if required not in fields:
            raise InvalidInput({required: f"{required} is required."})
    steps = clean_steps(steps)
    require_step_permissions(actor, server, steps)
    with transaction.atomic():
        current = Server.objects.select_for_update().get(pk=server.pk)  # creates of one server take turns
        if Task.objects.filter(server=server).count() >= current.schedule_limit:
            raise InvalidInput(f"This server may have at most {current.schedule_limit} scheduled tasks.")
        task = Task.objects.create(server=server, created_by=actor, last_slot_at=timezone.now(), **fields)
        _write_steps(task, steps)
        _sync_periodic_task(task, reschedule=True)
        audit("task.create", actor=actor, request=request, resource=server, task=str(task.pk), name=task.name)
    return task


def task_update(*, task: Task, actor, request=None, steps: list | None = None, **fields) -> Task:
    """Change any of the task's fields and, given `steps`, its whole chain; beat's row follows. The
    chain then runs with the permissions of whoever changed it last (created_by), who must hold what
    its steps need: task.update alone cannot re-enable or reschedule someone else's stop or kill."""
    fields = _clean_fields(fields)
    steps = clean_steps(steps) if steps is not None else None
    chain = (
        steps
        if steps is not None
        else [{"action": action} for action in task.steps.values_list("action", flat=True)]
    )
    require_step_permissions(actor, task.server, chain)
    if actor is not None:
        fields["created_by"] = actor
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",))
            .select_related("periodic_task__crontab")
            .get(pk=task.pk)
        )
        reschedule = any(
            key in fields and fields[key] != getattr(task, key) for key in ("schedule", "timezone")
        ) or (fields.get("enabled") is True and not task.enabled)
        for key, value in fields.items():
            setattr(task, key, value)
        if reschedule:
            task.last_slot_at = timezone.now()  # slots before the change were never this task's
        task.save()
        if steps is not None:
            _write_steps(task, steps)
        _sync_periodic_task(task, reschedule=reschedule)
        changed = sorted(set(fields) - {"created_by"}) + (["steps"] if steps is not None else [])
        audit(
            "task.update",
            actor=actor,
            request=request,
            resource=task.server,
            task=str(task.pk),
            changed=changed,
        )
    return task


def task_delete(*, task: Task, actor, request=None) -> None:
    """Delete the task, its steps, its runs and its beat rows together."""
    with transaction.atomic():
        audit(
            "task.delete",
            actor=actor,
            request=request,
            resource=task.server,
            task=str(task.pk),
            name=task.name,
        )
        task.delete()  # schedules.signals removes the beat rows, as when the server's deletion cascades


def tasks_disable_authored_by(user) -> int:
    """A deleted account's chains stop: they ran with its permissions, which go with it (left enabled
    they would run unchecked). The server's owner may enable them again, as their own."""
    tasks = Task.objects.select_related("periodic_task__crontab").filter(created_by=user, enabled=True)
    for task in tasks:
        task.enabled = False
        task.save(update_fields=["enabled"])
        _sync_periodic_task(task, reschedule=False)
    return len(tasks)


def periodic_task_remove(periodic: PeriodicTask | None) -> None:
    """Delete a task's beat row and its own crontab (a missing one is fine)."""
    if periodic is None:
        return
    crontab_id = periodic.crontab_id
    periodic.delete()
    CrontabSchedule.objects.filter(pk=crontab_id).delete()


def next_run_at(task: Task):
    """When beat fires the task next (exact in its zone), or None while it is disabled."""
    if not task.enabled:
        return None
    return cron.next_runs(task.schedule, task.timezone, after=timezone.now())[0]
