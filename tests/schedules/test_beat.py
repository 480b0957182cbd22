"""A real `celery beat` process (the Procfile's scheduler) fires tasks for the module's real worker: its
sync of CELERY_BEAT_SCHEDULE leaves users' tasks alone, it records its tick for /api/admin/health, a
restart after it was stopped gives each task's catch-up policy the missed slots, and a slot's chain
starts on time and keeps its delays."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from schedules import services
from schedules.models import Run, Task
from servers.models import Server
from tests.fixtures.browser import BIN, Panel, database_env
from tests.polling import wait_for

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]
S = Server.Status
T = Run.Trigger
SAY = {"action": "command", "payload": {"command": "say hi"}}


def start_beat(panel: Panel) -> None:
    panel.spawn(
        "beat",
        str(BIN / "celery"),
        "-A",
        "config",
        "beat",
        "-S",
        "schedules.beat:Scheduler",
        "--pidfile=",
        "--loglevel",
        "INFO",
    )


def ticked_since(client, moment: float):
    scheduler = client.get("/api/admin/health").json()["data"]["scheduler"]
    ticked = scheduler["lastTickAt"] and datetime.fromisoformat(scheduler["lastTickAt"]).timestamp() > moment
    return scheduler if ticked else None


def test_beat_fires_on_time_keeps_user_tasks_and_catches_up_after_a_stop(
    celery_worker, _eager_tasks, settings, tmp_path, row_server, client_for, admin
):
    settings.SCHEDULE_CATCH_UP_GRACE_SECONDS = 0  # any slot beat was down for is a missed one
    every_minute = {"schedule": "* * * * *", "actor": None}
    online = row_server(status=S.RUNNING, name="online")
    once = services.task_create(server=online, name="once", steps=[SAY], catch_up="once", **every_minute)
    skip = services.task_create(server=online, name="skip", steps=[SAY], **every_minute)
    chain = services.task_create(
        server=online, name="chain", steps=[SAY, {**SAY, "delay_seconds": 2}], **every_minute
    )
    suspended = services.task_create(
        server=row_server(status=S.SUSPENDED, name="suspended"), name="held", steps=[SAY], **every_minute
    )
    ours = set(PeriodicTask.objects.filter(name__startswith="hearth-task:").values_list("pk", flat=True))
    staff = client_for(admin)

    panel = Panel(env=database_env(), logs=tmp_path)
    try:
        began = timezone.now().timestamp()
        start_beat(panel)
        wait_for(lambda: ticked_since(staff, began), 60, lambda: f"beat's first tick:\n{panel.log('beat')}")
        # Beat wrote its CELERY_BEAT_SCHEDULE entries and left every user task as it was.
        assert PeriodicTask.objects.filter(name="heartbeat").exists()
        assert (
            set(PeriodicTask.objects.filter(name__startswith="hearth-task:").values_list("pk", flat=True))
            == ours
        )
        assert PeriodicTask.objects.filter(pk__in=ours, enabled=True).count() == 4
        panel.stop("beat")

        # As if beat had stopped ten minutes ago: its last firing of each task, and ours, are that old.
        ten_ago = timezone.now() - timedelta(minutes=10)
        PeriodicTask.objects.filter(pk__in=ours).update(last_run_at=ten_ago)
        Task.objects.update(last_slot_at=ten_ago)
        Run.objects.all().delete()
        start_beat(panel)
        caught_up = wait_for(
            lambda: (
                {
                    r.task_id: r
                    for r in Run.objects.filter(trigger=T.CATCH_UP).exclude(status=Run.Status.RUNNING)
                }
                if Run.objects.filter(trigger=T.CATCH_UP).exclude(status=Run.Status.RUNNING).count() == 4
                else None
            ),
            30,
            lambda: (
                f"catch-up runs of the four tasks: {list(Run.objects.values_list('trigger', 'status'))}"
                f"\n{panel.log('beat')}"
            ),
        )
        assert caught_up[once.pk].status == Run.Status.SUCCEEDED
        assert (
            "Makes up for 10 runs" in caught_up[once.pk].reason
            or "Makes up for 11 runs" in caught_up[once.pk].reason
        )
        assert (
            caught_up[skip.pk].status == Run.Status.SKIPPED
            and "missed while the scheduler" in caught_up[skip.pk].reason
        )
        assert caught_up[suspended.pk].status == Run.Status.SKIPPED  # its policy is skip too

        # The next minute: each task's slot, the chain's first step within a second of it.
        def scheduled_chain():
            run = (
                Run.objects.filter(task=chain, trigger=T.SCHEDULED).exclude(status=Run.Status.RUNNING).first()
            )
            return run

        run = wait_for(
            scheduled_chain, 75, lambda: f"the chain's scheduled run\n{panel.log('beat')}", interval=0.5
        )
        first, second = run.steps
        started = datetime.fromisoformat(first["startedAt"])
        assert timedelta(0) <= started - run.scheduled_for < timedelta(seconds=1), (
            run.scheduled_for,
            started,
        )
        gap = datetime.fromisoformat(second["startedAt"]) - datetime.fromisoformat(first["finishedAt"])
        assert timedelta(seconds=2) <= gap < timedelta(seconds=4), gap
        assert run.status == Run.Status.SUCCEEDED and second["output"] == "Sent: say hi"
        held = wait_for(
            lambda: Run.objects.filter(task=suspended, trigger=T.SCHEDULED).first(), 10, "the held run"
        )
        assert held.status == Run.Status.SKIPPED and held.scheduled_for == run.scheduled_for
    finally:
        for name in list(panel.procs):
            panel.stop(name)
