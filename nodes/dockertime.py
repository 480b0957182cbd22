"""Docker's times, exactly: RFC 3339 with nanoseconds, the engine's `since`, and where a run's output starts."""

import calendar
import functools
import itertools
import time


@functools.lru_cache(maxsize=64)
def _epoch_seconds(whole: str) -> int:
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))


def stamp_ns(stamp: bytes) -> int:
    """Docker's per-frame RFC 3339 time (trailing zeros of the nanoseconds trimmed) → unix nanoseconds."""
    whole, _, fraction = stamp.decode().rstrip("Z").partition(".")
    return _epoch_seconds(whole) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def nanos(timestamp: str | None) -> int:
    """Docker's RFC 3339 time (nanoseconds, 'Z') → exact unix nanoseconds; 0 for its zero time or garbage.

    Exact, not a float: Docker's `since` compares at nanosecond precision, a float of today's time holds
    a few hundred."""
    from datetime import datetime

    if not timestamp or timestamp.startswith("0001-"):
        return 0
    whole, _, rest = timestamp.rstrip("Z").partition(".")
    fraction = "".join(itertools.takewhile(str.isdigit, rest))
    try:
        seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    except ValueError:
        return 0
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9])


def output_since(
    started_at: str, finished_at: str, last_exit: int | None, last_output: bytes | None = None
) -> str:
    """Where one run's output starts in the container's log (its StartedAt and FinishedAt, the engine's
    RFC 3339 text), as Docker's `since` (seconds.nanoseconds,
    inclusive): after the previous run ended, so this run's first line is read and the previous run's
    lines are not. Neither StartedAt nor the start event will do: the game writes a few ms before both.
    The previous run's last lines can be stamped just after its FinishedAt (the engine copies output
    after the exit; 1 run in 15, measured), so the last line already read, when known, is a bound too."""
    started, finished = nanos(started_at), nanos(finished_at)
    if finished < started:  # running (or the zero time: the container's first run)
        boundary = finished
    elif last_exit is not None and last_exit < started:  # this run ended already; its predecessor's end
        boundary = last_exit
    else:  # nothing known of the previous run: a second before the start, its own early lines included
        boundary = max(0, started - 1_000_000_000)
    if last_output and (read := nanos(last_output.decode(errors="replace"))) < started:
        boundary = max(boundary, read)
    if boundary == 0:
        return "0"
    return as_since(
        boundary + 1
    )  # `since` keeps lines at or after it; the previous run's end is not this run


def as_since(value: int) -> str:
    """Unix nanoseconds → Docker's `since` (seconds.nanoseconds), exact."""
    return f"{value // 1_000_000_000}.{value % 1_000_000_000:09d}"


def since_ns(since: str) -> int:
    seconds, _, fraction = since.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def epoch(timestamp: str) -> float:
    """Docker's RFC 3339 time with nanoseconds → unix seconds (microsecond precision); 0 when unreadable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(timestamp[:26].rstrip("Z") + "+00:00").timestamp()
    except (TypeError, ValueError):
        return 0.0
