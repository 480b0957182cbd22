"""Thin Celery tasks: load ids, call schedules.engine."""

from celery import shared_task

from schedules import engine


@shared_task(bind=True, ignore_result=True)
def task_fire_task(self, task_id: str) -> None:
    """What beat sends for every task (schedules.beat adds when it fired and when that beat started)."""
    engine.task_fire(
        task_id=task_id,
        fired_at=_header(self.request, "hearth_fired_at"),
        beat_started_at=_header(self.request, "hearth_beat_started_at"),
    )


@shared_task(ignore_result=True)
def task_execute_task(task_id: str, actor_id: str | None = None) -> None:
    from django.contrib.auth import get_user_model

    from schedules.models import Run, Task

    task = Task.objects.filter(pk=task_id).first()
    if task is not None:
        actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
        engine.run_begin(task=task, trigger=Run.Trigger.MANUAL, actor=actor)


@shared_task(ignore_result=True)
def step_run_task(run_id: str, index: int) -> None:
    engine.step_run(run_id=run_id, index=index)


@shared_task(ignore_result=True)
def step_watch_task(run_id: str, index: int) -> None:
    engine.step_watch(run_id=run_id, index=index)


@shared_task(ignore_result=True)
def tasks_catch_up_task(beat_started_at: float) -> None:
    engine.tasks_catch_up(beat_started_at=beat_started_at)


def _header(request, name: str) -> float | None:
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
