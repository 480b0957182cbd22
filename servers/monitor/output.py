"""What the monitor does to a server's output on its way out: the throttle, long lines cut, and the read
cursor that lets a later reader of the same container skip what was already recorded (moved by the
flusher's write, with the lines)."""

import time

from django.conf import settings

from servers import console


class Throttle:
    """A token bucket: CONSOLE_LINES_PER_100MS lines per 100 ms on average, in bursts of at most that many.

    What is over goes unpublished. Of a batch over the limit the NEWEST lines are kept (after a flood the
    last lines, the error, are what the customer needs), and a notice says how many were skipped: at most
    every 5 s while the flood goes on (as Wings does), and once more when it ends, so the count is exact.
    A bucket rather than fixed windows: the rate a flood gets does not depend on where the monitor's
    batches fall.
    """

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.tokens, self.refilled_at, self.noticed_at = (
            float(settings.CONSOLE_LINES_PER_100MS),
            0.0,
            float("-inf"),
        )
        self.skipped = 0  # since the last notice

    def admit(self, texts: list) -> tuple[list, str]:
        """(the lines to publish, a notice to publish before them or "")."""
        now, burst = self.clock(), settings.CONSOLE_LINES_PER_100MS
        self.tokens = min(burst, self.tokens + (now - self.refilled_at) * burst * 10)
        self.refilled_at = now
        room = min(len(texts), int(self.tokens))
        self.tokens -= room
        over = len(texts) - room
        self.skipped += over
        notice = ""
        if self.skipped and (not over or now - self.noticed_at > 5):
            notice = (
                f"Server is outputting console data too quickly; throttling: {self.skipped} lines "
                "skipped (the newest are kept)."
            )
            self.skipped, self.noticed_at = 0, now
        return texts[over:], notice


CURSOR_SECONDS = 7 * 86400  # a cursor outlives any gap between two readers of a container


def cursor_key(server_id: str) -> str:
    return f"{settings.CACHES['default']['KEY_PREFIX']}:console:{server_id}:read"


def read_cursor(server_id: str, container_id: str) -> int:
    """Docker's time (ns) of the last line of this container already recorded, 0 when none is."""
    try:
        value = console.connection().get(cursor_key(server_id))
    except Exception:  # Redis down: read from the run's start, as before
        return 0
    owner, _, ns = (value or b"").decode().partition(" ")
    return int(ns) if owner == container_id and ns.isdigit() else 0


def cut(text: str, limit: int) -> str:
    """A line of at most `limit` (CONSOLE_MAX_LINE_CHARS) characters."""
    return text if len(text) <= limit else f"{text[:limit]}… [line cut at {limit} characters]"
