"""Which monitor watches which node: several `manage.py monitor` processes share the nodes through
leases in Redis, so each node is watched by exactly one of them, and by another within
MONITOR_LEASE_SECONDS + MONITOR_TICK_SECONDS when that one dies.

A lease is a key per node holding the holder's value (its monitor id and a random part new with every
acquisition), set to expire unless renewed. The value is also the fence: every console write of a
watcher checks in Redis, in the same script, that the lease still holds exactly its value
(servers/monitor/flusher.py), so a monitor that stalled past its lease and woke up writes nothing the
new holder has not written already. The new holder reads on from the output cursor the old one left.

Monitors say they are alive in a sorted set; each takes at most its share of the online nodes
(ceil(nodes / live monitors)) and hands back one extra per tick when a new monitor joins.
"""

import contextlib
import logging
import math
import os
import secrets
import socket
import time

import redis
from django.conf import settings

from servers import console

logger = logging.getLogger(__name__)

# Renew our lease if it is still ours; take it again if it vanished (Redis restarted and lost it): nobody
# else held it meanwhile, since then the key would be there.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not current then return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1 end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def _prefix() -> str:
    return f"{settings.CACHES['default']['KEY_PREFIX']}:monitor"


def lease_key(node_id) -> str:
    return f"{_prefix()}:lease:{node_id}"


def holder(node_id) -> str | None:
    """The value of the node's lease (its holder's monitor id first), or None when nobody holds it."""
    value = console.connection().get(lease_key(node_id))
    return value.decode() if value else None


class Lease:
    """One node's lease as held by one monitor."""

    def __init__(self, node_id: str, value: str):
        self.node_id, self.key, self.value = node_id, lease_key(node_id), value
        self.lost = False  # set by a renewal or a fenced write that found it gone: the watcher retires

    @classmethod
    def acquire(cls, node_id: str, monitor_id: str) -> "Lease | None":
        value = f"{monitor_id} {secrets.token_hex(8)}"
        taken = console.connection().set(lease_key(node_id), value, nx=True, px=_ttl_ms())
        return cls(node_id, value) if taken else None

    def renew(self) -> bool:
        if not self.lost and not console.connection().eval(_RENEW, 1, self.key, self.value, _ttl_ms()):
            self.lost = True
        return not self.lost

    def release(self) -> None:
        self.lost = True
        try:
            console.connection().eval(_RELEASE, 1, self.key, self.value)
        except redis.RedisError:  # it expires on its own
            logger.info("monitor: could not release the lease of node %s", self.node_id)


def _ttl_ms() -> int:
    return int(settings.MONITOR_LEASE_SECONDS * 1000)


def monitor_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def live_monitors(me: str) -> int:
    """How many monitors are alive (this one included), each having said so within a lease's time."""
    key, now = f"{_prefix()}:alive", time.time()
    pipe = console.connection().pipeline()
    pipe.zadd(key, {me: now})
    pipe.zremrangebyscore(key, "-inf", now - settings.MONITOR_LEASE_SECONDS)
    pipe.zcard(key)
    pipe.expire(key, int(settings.MONITOR_LEASE_SECONDS * 10))
    return max(1, pipe.execute()[2])


def leave(me: str) -> None:
    """Stopped: the others may take our share now rather than once we look dead."""
    with contextlib.suppress(redis.RedisError):
        console.connection().zrem(f"{_prefix()}:alive", me)


def share(nodes: int, monitors: int) -> int:
    return math.ceil(nodes / monitors) if nodes else 0
