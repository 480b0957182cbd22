"""Cron expressions: validated once for both readers (croniter computes the run times we show and the slot
a firing belongs to; Celery's crontab is what beat fires on), and run times computed in the task's zone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from celery.schedules import crontab
from croniter import croniter

from config.errors import InvalidInput

FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
EXAMPLE = "five fields: minute hour day-of-month month day-of-week, e.g. 0 3 * * * (every day at 03:00)"


def parse(expression: str) -> list[str]:
    """The five fields of `expression`, or InvalidInput (400) saying what is wrong with it."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise InvalidInput({"schedule": f"A schedule has {EXAMPLE}; got {len(fields)} field(s)."})
    if not croniter.is_valid(" ".join(fields)):
        raise InvalidInput({"schedule": f"'{' '.join(fields)}' is not a valid cron expression ({EXAMPLE})."})
    # Cron runs a job when EITHER day field matches; Celery's crontab only when both do. Refusing the
    # mix keeps what we show (croniter) and what beat fires (Celery) the same.
    if fields[2] != "*" and fields[4] != "*":
        raise InvalidInput(
            {"schedule": "Restrict the day of the month or the day of the week, not both (use * for one)."}
        )
    try:
        crontab(**dict(zip(FIELDS, fields, strict=True)))
    except (ValueError, TypeError) as exc:
        raise InvalidInput({"schedule": f"'{' '.join(fields)}' cannot be scheduled: {exc}"}) from exc
    return fields


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. Europe/Berlin), or InvalidInput (400)."""
    if not name or name not in _zones():
        raise InvalidInput(
            {"timezone": f"Unknown time zone '{name}': use an IANA name such as Europe/Berlin."}
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput({"timezone": f"Unknown time zone '{name}'."}) from exc


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


_ZONES: set[str] | None = None


def next_runs(expression: str, timezone: str, *, count: int = 1, after: datetime) -> list[datetime]:
    """The next `count` run times after `after`, exact in `timezone` (DST included), as aware datetimes."""
    runs = croniter(" ".join(parse(expression)), after.astimezone(zone(timezone)))
    return [runs.get_next(datetime) for _ in range(count)]


def latest_slot(expression: str, timezone: str, *, at: datetime) -> datetime:
    """The latest run time at or before `at`: the slot a firing at `at` belongs to."""
    # croniter's get_prev is strict and ignores fractions of a second: from the whole second after
    # `at` it returns `at`'s own second when that is a run time.
    start = at.astimezone(zone(timezone)).replace(microsecond=0) + timedelta(seconds=1)
    return croniter(" ".join(parse(expression)), start).get_prev(datetime)


def slots_between(
    expression: str, timezone: str, *, after: datetime, until: datetime, cap: int = 1000
) -> int:
    """How many run times fall in (after, until], counting at most `cap`."""
    runs = croniter(" ".join(parse(expression)), after.astimezone(zone(timezone)))
    count = 0
    while count < cap and runs.get_next(datetime) <= until:
        count += 1
    return count
