"""Liveness of the background processes, kept as expiring keys in Redis."""

import socket
import time

from django.conf import settings
from django.core.cache import cache

SERVICES = ("worker", "beat", "monitor", "sftp")


def beat(service: str) -> None:
    """Alive: as the service (any of its processes), and as its process on this host (a replica's own)."""
    now = time.time()
    cache.set_many(
        {f"heartbeat:{service}": now, f"heartbeat:{service}@{socket.gethostname()}": now},
        timeout=settings.HEARTBEAT_TTL_SECONDS,
    )


def alive_here(service: str) -> bool:
    return cache.get(f"heartbeat:{service}@{socket.gethostname()}") is not None


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
