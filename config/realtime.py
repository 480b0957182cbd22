"""Messages to WebSocket clients from synchronous code (the monitor, workers, views).

Everything goes through one long-lived event loop per process: async_to_sync would run every send on
a new loop, and channels_redis opens a Redis connection for each loop (1.7 ms of CPU per console
message in the monitor). A message that cannot be sent is logged, never raised: a console line or
a report is not worth failing the operation that produced it.
"""

import asyncio
import logging
import os
import threading

import redis.exceptions
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked worker needs a thread of its own
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, daemon=True, name="channel-publisher").start()
        return _loop


def publish(group: str, message: dict) -> None:
    """group_send, waited for (so one thread's messages arrive in order)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _running_loop())
        future.result(timeout=settings.NODE_TIMEOUT_SECONDS)
    except (
        redis.exceptions.ConnectionError,
        OSError,
    ) as exc:  # Redis not up (yet: bootstrap runs before make run starts it)
        logger.warning("Could not publish %s to %s: %s", message.get("type"), group, exc)
    except Exception:
        logger.warning("Could not publish %s to %s", message.get("type"), group, exc_info=True)


def group_channel(group: str) -> str:
    """The Redis Pub/Sub channel of a channel-layer group (channels_redis.pubsub's naming), for code that
    publishes many groups' messages in one Redis round trip (the monitor's console writes)."""
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}__group__{group}"


def encoded(message: dict) -> bytes:
    """A message as the channel layer puts it on the wire, for a PUBLISH to `group_channel`."""
    return get_channel_layer().serialize(message)


def backlog(layer, channel: str) -> int:
    """Messages waiting in this process for one consumer: channels_redis.pubsub queues each channel's
    messages without bound (an asyncio.Queue per channel, on the consumer's loop)."""
    queue = layer._get_layer().channels.get(channel)
    return queue.qsize() if queue is not None else 0


def user_group(user_id) -> str:
    """Every WebSocket of one user: told when their access changes."""
    return f"user.{user_id}"


def access_changed(*groups: str) -> None:
    """The WebSockets in these groups (a server's subscribers, a user's sockets) check their access again,
    once the current transaction commits."""
    from django.db import transaction

    transaction.on_commit(lambda: [publish(group, {"type": "access_changed"}) for group in groups])
