"""Runs, with the server services for real and tasks inline: a chain stops at a failing step unless it
may go on, tasks of suspended or offline servers are recorded as skipped, and a slot beat missed gets the
catch-up policy (skip by default, or one run) exactly once however many times it is reported."""

import importlib.util
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from schedules import engine, services
from schedules.models import Run, Task
from servers.models import Server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]
S = Server.Status
T = Run.Trigger


def make_task(server, steps, **fields) -> Task:
    fields.setdefault("name", "chain")
    fields.setdefault("schedule", "*/5 * * * *")
    return services.task_create(server=server, actor=server.owner, steps=steps, **fields)


def execute(task) -> Run:
    engine.run_begin(task=task, trigger=T.MANUAL, actor=task.server.owner)
    return task.runs.get(trigger=T.MANUAL)


def test_a_failing_step_ends_the_chain_and_the_rest_is_skipped(row_server):
    task = make_task(
        row_server(), [{"action": "command", "payload": {"command": "say hi"}}, {"action": "kill"}]
    )
    run = execute(task)
    assert run.status == Run.Status.FAILED
    first, second = run.steps
    assert first["status"] == "failed" and "stopped" in first["error"], first
    assert second["status"] == "skipped" and second["startedAt"] is None
    assert run.reason.startswith("Step 1 failed")
    task.refresh_from_db()
    assert task.run_count == 1 and task.last_run_at is not None


def test_with_continue_on_failure_the_chain_goes_on(row_server):
    server = row_server(status=S.RUNNING)
    task = make_task(
        server,
        [
            {"action": "start", "continue_on_failure": True},  # already running: refused
            {"action": "command", "payload": {"command": "say still here"}, "delay_seconds": 1},
        ],
    )
    run = execute(task)
    first, second = run.steps
    assert first["status"] == "failed" and "running" in first["error"]
    assert second["status"] == "succeeded" and second["output"] == "Sent: say still here"
    assert run.status == Run.Status.FAILED and run.finished_at is not None


def test_a_power_step_waits_for_its_job_and_fails_with_the_jobs_error(row_server):
    task = make_task(row_server(), [{"action": "start"}, {"action": "command", "payload": {"command": "x"}}])
    run = execute(task)  # the node is unreachable: the start job fails
    first = run.steps[0]
    assert first["jobId"] and first["status"] == "failed" and first["error"], first
    assert run.steps[1]["status"] == "skipped"


def test_suspended_and_offline_servers_runs_are_recorded_as_skipped(row_server):
    suspended = make_task(row_server(status=S.SUSPENDED, name="s"), [{"action": "restart"}])
    offline = make_task(row_server(name="o"), [{"action": "restart"}], only_when_online=True)
    now = timezone.now().timestamp()
    Task.objects.update(last_slot_at=timezone.now() - timedelta(hours=1))  # made an hour ago
    for task in (suspended, offline):
        engine.task_fire(task_id=task.pk, fired_at=now, beat_started_at=now - 3600)
    skipped = {run.task_id: run for run in Run.objects.all()}
    assert skipped[suspended.pk].status == Run.Status.SKIPPED and "suspended" in skipped[suspended.pk].reason
    assert skipped[offline.pk].status == Run.Status.SKIPPED and "not online" in skipped[offline.pk].reason
    assert all(run.trigger == T.SCHEDULED and run.steps[0]["status"] == "pending" for run in skipped.values())
    offline.refresh_from_db()
    assert offline.run_count == 0  # nothing ran


def at(hh, mm, ss=0) -> float:
    return datetime(2026, 6, 1, hh, mm, ss, tzinfo=UTC).timestamp()


def test_a_slot_missed_while_beat_was_down_is_skipped_by_default_and_counted(row_server):
    task = make_task(row_server(status=S.RUNNING), [{"action": "command", "payload": {"command": "say"}}])
    Task.objects.filter(pk=task.pk).update(last_slot_at=datetime(2026, 6, 1, 9, 50, tzinfo=UTC))
    # Beat came back at 10:06 and fired the overdue task at 10:07:30: slots 09:55, 10:00, 10:05 were missed.
    for _ in range(2):  # beat's firing, then a redelivery of it
        engine.task_fire(task_id=task.pk, fired_at=at(10, 7, 30), beat_started_at=at(10, 6))
    run = Run.objects.get(task=task)
    assert run.trigger == T.CATCH_UP and run.status == Run.Status.SKIPPED
    assert run.scheduled_for == datetime(2026, 6, 1, 10, 5, tzinfo=UTC)
    assert run.reason.startswith("3 runs missed while the scheduler was down")
    engine.tasks_catch_up(beat_started_at=at(10, 6))  # the start-up sweep reaches the same slot: no-op
    assert Run.objects.filter(task=task).count() == 1


def test_with_catch_up_once_one_run_makes_up_for_the_missed_ones(row_server):
    task = make_task(
        row_server(status=S.RUNNING), [{"action": "command", "payload": {"command": "say"}}], catch_up="once"
    )
    Task.objects.filter(pk=task.pk).update(last_slot_at=datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    assert engine.tasks_catch_up(beat_started_at=at(10, 6, 30)) == 1
    engine.task_fire(
        task_id=task.pk, fired_at=at(10, 6, 31), beat_started_at=at(10, 6, 30)
    )  # beat's own, too
    run = Run.objects.get(task=task)
    assert run.trigger == T.CATCH_UP and run.status == Run.Status.SUCCEEDED
    assert "Makes up for 25 runs" in run.reason


def test_a_firing_merely_delivered_late_runs_as_scheduled(row_server):
    task = make_task(row_server(status=S.RUNNING), [{"action": "command", "payload": {"command": "say"}}])
    Task.objects.filter(pk=task.pk).update(last_slot_at=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    # Beat was up since 09:00 and sent it at 10:05:00.2; a busy worker took it 3 minutes later.
    engine.task_fire(task_id=task.pk, fired_at=at(10, 5) + 0.2, beat_started_at=at(9, 0))
    run = Run.objects.get(task=task)
    assert run.trigger == T.SCHEDULED and run.status == Run.Status.SUCCEEDED
    assert run.scheduled_for == datetime(2026, 6, 1, 10, 5, tzinfo=UTC)


def test_a_backup_step_asks_for_a_scheduled_backup(row_server):
    task = make_task(row_server(), [{"action": "backup", "payload": {"name": "nightly"}}])
    run = execute(task)
    step = run.steps[0]
    if importlib.util.find_spec("backups.services") is None:  # the backups service is not in this tree
        assert step["status"] == "failed" and step["error"] == "Backups are not available on this panel."
        return
    from backups.models import Backup

    backup = Backup.objects.get(server=task.server)
    assert backup.scheduled and backup.created_by is None and step["status"] in ("failed", "succeeded")


def test_a_chain_runs_with_its_authors_permissions_as_they_are_now(row_server, make_user):
    from servers.models import ServerMember

    server = row_server(status=S.RUNNING)
    member = make_user()
    grant = ServerMember.objects.create(
        server=server, user=member, permissions=["task.create", "server.console"]
    )
    task = services.task_create(
        server=server,
        actor=member,
        name="m",
        schedule="0 3 * * *",
        steps=[{"action": "command", "payload": {"command": "say"}}],
    )
    grant.permissions = ["task.create"]
    grant.save()
    run = execute(task)
    assert run.status == Run.Status.FAILED and "no longer holds server.console" in run.steps[0]["error"]
