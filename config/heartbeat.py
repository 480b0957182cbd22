"""Liveness of the background processes, kept as expiring keys in Redis."""

import time

from django.conf import settings
from django.core.cache import cache

SERVICES = ("worker", "beat", "monitor", "sftp")


def beat(service: str) -> None:
    cache.set(f"heartbeat:{service}", time.time(), timeout=settings.HEARTBEAT_TTL_SECONDS)


def tick(service: str, at: float) -> None:
    """A loop of `service` ran at `at`: alive, and when it last ticked (kept without expiry, so a stuck
    process shows how long ago it last moved)."""
    cache.set_many({f"heartbeat:{service}": at}, timeout=settings.HEARTBEAT_TTL_SECONDS)
    cache.set(f"last-tick:{service}", at, timeout=None)


def last_tick(service: str) -> float | None:
    return cache.get(f"last-tick:{service}")


def status() -> dict[str, str]:
    seen = cache.get_many([f"heartbeat:{name}" for name in SERVICES])
    return {name: "running" if f"heartbeat:{name}" in seen else "down" for name in SERVICES}
