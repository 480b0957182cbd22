"""Running tasks: beat's firing becomes a run of the slot it belongs to (or the catch-up policy's answer
for a slot missed while beat was down), and a run walks its chain one step per Celery message.

A step asks a server service (power, command, backup) and, when that gave a job, is watched by short
countdown messages until the job ends; the next step is queued with its delay as a countdown. No worker
is held while a chain waits. Every change to a run happens under its row lock and checks the step's
status first, so a second delivery of any message does nothing."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import DomainError, NotAllowed
from schedules import cron
from schedules.models import Run, Step, Task
from schedules.services import missing_permission
from servers.lifecycle import power  # at import, not first use: a worker child's first firing is on time
from servers.lifecycle.command import server_command
from servers.models import Job, Server

logger = logging.getLogger(__name__)
A = Step.Action
S = Server.Status
R = Run.Status
WATCH_SECONDS = 1.0  # how often a step waiting on its job looks again
PRUNE_EVERY = 20  # runs beyond SCHEDULE_RUNS_KEPT are removed every this many runs of a task


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


# ---- beginning a run ------------------------------------------------------------------------------------


def task_fire(*, task_id, fired_at: float | None = None, beat_started_at: float | None = None) -> None:
    """Beat fired `task_id` at `fired_at` (a beat started at `beat_started_at`): run the slot it belongs
    to, unless beat was down at that slot and is this late — then the task's catch-up policy answers."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        return _remove_orphan(task_id)
    if not task.enabled:
        return  # disabled after beat loaded it
    fired = _at(fired_at) or timezone.now()
    slot = cron.latest_slot(task.schedule, task.timezone, at=fired)
    late = (fired - slot).total_seconds() > settings.SCHEDULE_CATCH_UP_GRACE_SECONDS
    beat_was_down = beat_started_at is None or _at(beat_started_at) > slot
    if late and beat_was_down:
        return slot_missed(task, slot, fired=fired)
    run_begin(task=task, trigger=Run.Trigger.SCHEDULED, slot=slot, fired=fired)


def tasks_catch_up(*, beat_started_at: float) -> int:
    """When beat starts: each enabled task's latest slot that passed while it was down, past the grace,
    gets the catch-up policy. Beat fires overdue entries itself too, but not those its DatabaseScheduler
    leaves out (crontabs whose hour is far from now); the slot bookkeeping makes the two agree."""
    started = _at(beat_started_at)
    handled = 0
    for task in Task.objects.filter(enabled=True):
        try:
            slot = cron.latest_slot(task.schedule, task.timezone, at=started)
        except Exception:  # one task's schedule never keeps the others from their catch-up
            logger.warning("No latest slot for task %s (%r)", task.pk, task.schedule, exc_info=True)
            continue
        fresh = task.last_slot_at is None or slot > task.last_slot_at
        if fresh and (started - slot).total_seconds() > settings.SCHEDULE_CATCH_UP_GRACE_SECONDS:
            handled += slot_missed(task, slot) is not None
    return handled


def slot_missed(task: Task, slot: datetime, *, fired: datetime | None = None) -> Run | None:
    """Slots up to `slot` were missed: one catch-up run, or one skipped run saying how many were lost."""
    since = task.last_slot_at or task.created_at
    missed = max(1, cron.slots_between(task.schedule, task.timezone, after=since, until=slot))
    runs = f"{missed} run{'s' if missed > 1 else ''}"
    if task.catch_up == Task.CatchUp.ONCE:
        return run_begin(
            task=task,
            trigger=Run.Trigger.CATCH_UP,
            slot=slot,
            fired=fired,
            note=f"Makes up for {runs} missed while beat was down.",
        )
    return run_begin(
        task=task,
        trigger=Run.Trigger.CATCH_UP,
        slot=slot,
        fired=fired,
        skip=f"{runs} missed while the scheduler was down; the catch-up policy is skip.",
    )


def run_begin(
    *,
    task: Task,
    trigger: str,
    slot: datetime | None = None,
    fired: datetime | None = None,
    actor=None,
    skip: str = "",
    note: str = "",
) -> Run | None:
    """Record a run of `task` and start its chain; None when the slot was already dealt with."""
    try:
        with transaction.atomic():
            task = (
                Task.objects.select_for_update(of=("self",))
                .select_related("server", "created_by")  # the services queue tasks: no node or template here
                .get(pk=task.pk)
            )
            if slot is not None:
                if task.last_slot_at is not None and slot <= task.last_slot_at:
                    return None  # a redelivery, or the sweep and beat both reached this slot
                task.last_slot_at = slot
            skip = skip or _skip_reason(task, trigger)
            now = timezone.now()
            run = Run.objects.create(
                task=task,
                trigger=trigger,
                scheduled_for=slot,
                fired_at=fired,
                actor=actor,
                status=R.SKIPPED if skip else R.RUNNING,
                reason=skip or note,
                finished_at=now if skip else None,
                steps=[_snapshot(step) for step in task.steps.all()],
            )
            if not skip:
                task.last_run_at, task.run_count = now, task.run_count + 1
            task.save(update_fields=["last_slot_at", "last_run_at", "run_count"])
            if task.run_count % PRUNE_EVERY == 0:
                _prune_runs(task)
            if run.status == R.RUNNING and (not run.steps or run.steps[0]["delaySeconds"] == 0):
                # The first step in this very transaction and message: the fastest start after the slot.
                if run.steps:
                    _start_step(run, 0, task.server)
                else:
                    _end_run(run)
            elif run.status == R.RUNNING:
                _queue_step(run, 0)
    except IntegrityError:
        return None  # the unique slot constraint: someone else recorded it first
    return run


def _skip_reason(task: Task, trigger: str) -> str:
    if task.server.status == S.SUSPENDED:
        return "The server is suspended."
    if trigger != Run.Trigger.MANUAL and task.only_when_online and task.server.status != S.RUNNING:
        return f"The server is not online (it is {task.server.status}) and the task runs only when it is."
    return ""


def _snapshot(step: Step) -> dict:
    return {
        "action": step.action,
        "payload": step.payload,
        "delaySeconds": step.delay_seconds,
        "continueOnFailure": step.continue_on_failure,
        "status": "pending",
        "startedAt": None,
        "finishedAt": None,
        "output": "",
        "error": "",
        "jobId": None,
    }


def _prune_runs(task: Task) -> None:
    keep = (
        Run.objects.filter(task=task)
        .order_by("-started_at")
        .values_list("pk", flat=True)[: settings.SCHEDULE_RUNS_KEPT]
    )
    Run.objects.filter(task=task).exclude(pk__in=list(keep)).delete()


def _remove_orphan(task_id) -> None:
    """Beat fired a task that no longer exists (deleted while beat held it): drop its beat row."""
    from django_celery_beat.models import PeriodicTask

    from schedules.services import periodic_task_remove

    periodic_task_remove(PeriodicTask.objects.filter(name=f"hearth-task:{task_id}", hearth_task=None).first())


# ---- walking the chain ----------------------------------------------------------------------------------


def _queue_step(run: Run, index: int) -> None:
    """Step `index` in its own message, its delay as the countdown: no worker waits meanwhile."""
    from schedules.tasks import step_run_task

    delay = run.steps[index]["delaySeconds"]
    transaction.on_commit(lambda: step_run_task.apply_async((str(run.pk), index), countdown=delay))


def _locked_run(run_id) -> Run | None:
    return (
        Run.objects.select_for_update(of=("self",))
        .select_related("task__created_by")
        .filter(pk=run_id, status=R.RUNNING)
        .first()
    )


def step_run(*, run_id, index: int) -> None:
    """Start step `index` of the run: ask the service; finish the step unless a job is to be awaited."""
    with transaction.atomic():
        run = _locked_run(run_id)
        if run is None or run.steps[index]["status"] != "pending":
            return  # a second delivery, or the run ended
        server = Server.objects.filter(pk=run.task.server_id).first()
        _start_step(run, index, server)


def _start_step(run: Run, index: int, server: Server | None) -> None:
    """Mark step `index` started and ask its service (inside the caller's transaction, the run locked)."""
    step = run.steps[index]
    step.update(status="running", startedAt=timezone.now().isoformat())
    job_id, output, error = None, "", ""
    try:
        with transaction.atomic():  # a refusal rolls back whatever the service had written
            job_id, output = _act(server, step, run.task.created_by)
    except DomainError as exc:
        error = exc.message
    except Exception as exc:  # the chain must end recorded, whatever a service raised
        logger.exception("Step %s of run %s failed", index, run.pk)
        error = str(exc) or exc.__class__.__name__
    step.update(output=output, jobId=str(job_id) if job_id else None)
    if job_id is None:
        _finish_step(run, index, error=error)
    else:
        run.save(update_fields=["steps"])
        _watch(run.pk, index, countdown=WATCH_SECONDS)


def step_watch(*, run_id, index: int) -> None:
    """Look at the job step `index` waits on: finish the step when the job has ended, else look again."""
    with transaction.atomic():
        run = _locked_run(run_id)
        if run is None or run.steps[index]["status"] != "running":
            return
        step = run.steps[index]
        job = Job.objects.filter(pk=step["jobId"]).first()
        if job is None:
            return _finish_step(run, index, error="The step's job is gone.")
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            error = "" if job.status == Job.Status.SUCCEEDED else (job.error or "The job failed.")
            return _finish_step(run, index, error=error)
        waited = (timezone.now() - datetime.fromisoformat(step["startedAt"])).total_seconds()
        if waited > settings.SCHEDULE_STEP_TIMEOUT_SECONDS:
            return _finish_step(run, index, error=f"The step's job did not finish within {int(waited)} s.")
    _watch(run_id, index, countdown=WATCH_SECONDS)


def _watch(run_id, index: int, *, countdown: float) -> None:
    from schedules.tasks import step_watch_task

    transaction.on_commit(lambda: step_watch_task.apply_async((str(run_id), index), countdown=countdown))


def _finish_step(run: Run, index: int, *, error: str) -> None:
    """Record how step `index` ended; go on to the next step, or end the run."""
    step = run.steps[index]
    step.update(status="failed" if error else "succeeded", error=error, finishedAt=timezone.now().isoformat())
    following = index + 1 < len(run.steps)
    if following and (not error or step["continueOnFailure"]):
        run.save(update_fields=["steps"])
        return _queue_step(run, index + 1)
    for later in run.steps[index + 1 :]:
        later["status"] = "skipped"
    _end_run(run)


def _end_run(run: Run) -> None:
    failed = [n + 1 for n, s in enumerate(run.steps) if s["status"] == "failed"]
    run.status = R.FAILED if failed else R.SUCCEEDED
    if failed:
        run.reason = f"Step {', '.join(map(str, failed))} failed: {run.steps[failed[-1] - 1]['error']}"
    run.finished_at = timezone.now()
    run.save(update_fields=["steps", "status", "reason", "finished_at"])


def _act(server: Server | None, step: dict, run_as) -> tuple[object, str]:
    """Ask the service for the step's action as the schedule (no actor): (the job to await or None, output)."""
    if server is None:
        raise DomainError("The server was deleted.")
    action = step["action"]
    if run_as is not None and (needed := missing_permission(run_as, server, action)):
        raise NotAllowed(f"{run_as.username}, whose chain this is, no longer holds {needed} on this server.")
    if action in (A.START, A.STOP, A.RESTART, A.KILL):
        job = getattr(power, f"server_{action}")(server=server, actor=None)
        return job.pk, f"{action.capitalize()} requested."
    if action == A.COMMAND:
        server_command(server=server, actor=None, command=step["payload"]["command"])
        return None, f"Sent: {step['payload']['command']}"
    if action == A.BACKUP:
        try:
            from backups.services import backup_create
        except ImportError as exc:
            raise DomainError("Backups are not available on this panel.") from exc
        backup = backup_create(
            server=server, actor=None, scheduled=True, name=step["payload"].get("name", "")
        )
        return backup.job_id, f"Backup {backup.pk} requested."
    raise DomainError(f"Unknown action {action!r}.")
