"""The beat scheduler: django-celery-beat's DatabaseScheduler, plus what makes a stuck or restarted beat
visible — each loop records its tick (config.heartbeat, shown by /api/admin/health), each task's firing
carries when it was sent and when this beat started (so a slot missed while beat was down is told from
one merely delivered late), and a start asks the worker to apply the catch-up policies."""

import logging
import time

from django_celery_beat.schedulers import DatabaseScheduler

from config import heartbeat

logger = logging.getLogger(__name__)
FIRE_TASK = "schedules.tasks.task_fire_task"
TICK_EVERY_SECONDS = 1.0  # at most one Redis write per second for the tick, however often beat loops
# DatabaseScheduler asks PostgreSQL whether any PeriodicTask changed on every loop, and beat loops once
# per due entry: 20 tasks due together cost 20 queries between the first message and the last. Asking at
# most this often keeps changes seen within a second (the loop interval) and the burst to publishing.
CHANGES_EVERY_SECONDS = 0.5


class Scheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self.started_at = time.time()
        self._tick_recorded = 0.0
        self._changes_checked = 0.0
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        super().setup_schedule()
        from schedules.tasks import tasks_catch_up_task

        try:
            tasks_catch_up_task.apply_async((self.started_at,))
        except Exception:  # the broker is not up yet: beat still runs, and fires overdue entries itself
            logger.warning("Cannot queue the catch-up of missed runs", exc_info=True)

    def schedule_changed(self):
        now = time.monotonic()
        if now - self._changes_checked < CHANGES_EVERY_SECONDS:
            return False
        self._changes_checked = now
        return super().schedule_changed()

    def tick(self, *args, **kwargs):
        now = time.time()
        if now - self._tick_recorded >= TICK_EVERY_SECONDS:
            try:
                heartbeat.tick("beat", now)
                self._tick_recorded = now
            except Exception:  # Redis down must not stop the schedule
                logger.warning("Cannot record beat's tick", exc_info=True)
        return super().tick(*args, **kwargs)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        if entry.task == FIRE_TASK:
            headers = entry.options.setdefault("headers", {})
            headers["hearth_fired_at"] = time.time()
            headers["hearth_beat_started_at"] = self.started_at
        return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
