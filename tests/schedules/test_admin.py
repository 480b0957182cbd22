"""Tasks in the admin: next run and last result listed, steps inline, changes through the service (beat's
row follows), "run now" as the API's execute, and the run history; Support may look but not run."""

import pytest
from django_celery_beat.models import PeriodicTask

from schedules import engine, services
from schedules.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(row_server):
    task = services.task_create(
        server=row_server(),
        actor=None,
        name="nightly",
        schedule="0 3 * * *",
        steps=[{"action": "command", "payload": {"command": "save-all"}}],
    )
    engine.run_begin(task=task, trigger=Run.Trigger.MANUAL)  # a stopped server: the command is refused
    return task


def test_staff_see_next_run_and_last_result_and_change_a_task_through_the_service(signed_in, admin, task):
    client = signed_in(admin)
    listing = client.get("/admin/schedules/task/").content.decode()
    assert "nightly" in listing, listing[listing.find("result_list") :][:3000]
    assert "03:00" in listing and "failed (manual)" in listing
    page = client.get(f"/admin/schedules/task/{task.pk}/change/")
    assert page.status_code == 200 and "save-all" in page.content.decode()
    form = {
        "name": "nightly",
        "schedule": "30 4 * * *",
        "timezone": "UTC",
        "enabled": "on",
        "catch_up": "skip",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "1",
        "steps-0-id": str(task.steps.get().pk),
        "steps-0-task": str(task.pk),
        "steps-0-position": "0",
        "steps-0-action": "command",
        "steps-0-payload": '{"command": "save-all"}',
        "steps-0-delay_seconds": "0",
        "runs-TOTAL_FORMS": "1",
        "runs-INITIAL_FORMS": "1",
        "runs-0-id": str(task.runs.get().pk),
        "runs-0-task": str(task.pk),
    }
    saved = client.post(f"/admin/schedules/task/{task.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    assert PeriodicTask.objects.get(pk=task.periodic_task_id).crontab.minute == "30"
    history = client.get("/admin/schedules/run/").content.decode()
    assert "nightly" in history and "Step 1 failed" in history


def test_run_now_queues_a_manual_run_and_support_cannot(
    signed_in, admin, make_user, task, _eager_tasks, django_capture_on_commit_callbacks
):
    action = {"action": "run_now", "_selected_action": [str(task.pk)]}
    support = make_user(role="Support")
    with django_capture_on_commit_callbacks(execute=True):
        signed_in(support).post("/admin/schedules/task/", action)
    assert task.runs.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        answer = signed_in(admin).post("/admin/schedules/task/", action, follow=True)
    assert "Queued 1 task(s)" in answer.content.decode()
    assert task.runs.count() == 2 and task.runs.filter(actor=admin, trigger=Run.Trigger.MANUAL).exists()
