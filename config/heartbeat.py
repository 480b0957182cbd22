"""Liveness of the background processes, kept as expiring keys in Redis."""

import time

from django.conf import settings
from django.core.cache import cache

SERVICES = ("worker", "beat", "monitor", "sftp")


def beat(service: str) -> None:
    cache.set(f"heartbeat:{service}", time.time(), timeout=settings.HEARTBEAT_TTL_SECONDS)


def status() -> dict[str, str]:
    seen = cache.get_many([f"heartbeat:{name}" for name in SERVICES])
    return {name: "running" if f"heartbeat:{name}" in seen else "down" for name in SERVICES}
