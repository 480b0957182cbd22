"""Console lines and state changes: kept in a bounded per-server history in Redis and fanned out
to the server's channel-layer group, where every subscribed browser receives them."""

import json
import logging
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring

import redis
from django.conf import settings
from django.db import transaction

from config import realtime

logger = logging.getLogger(__name__)

# Characters of output per WebSocket message: with JSON escaping and multibyte characters, well under
# the 1 MiB the `websockets` client accepts (and the web process, the other way: uvicorn --ws-max-size).
MESSAGE_CHARS = 64 * 1024

_local = threading.local()


def connection() -> redis.Redis:
    """This thread's Redis client (console history, stdin channel, output cursors)."""
    client = getattr(_local, "redis", None)
    if client is None:
        client = _local.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return client


def group_name(server_id) -> str:
    return f"server.{server_id}"


def history_key(server_id) -> str:
    return f"{settings.CACHES['default']['KEY_PREFIX']}:console:{server_id}"


def _send(server_id, message: dict) -> None:
    realtime.publish(group_name(server_id), message)


def _entries(stream: str, texts: list[str]) -> tuple[str, list[str]]:
    """(timestamp, history entries as JSON) for lines that arrived together.

    Built by hand: a flood makes thousands, and json.dumps plus a uuid4 per line cost 13 µs each."""
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    prefix = secrets.token_hex(4)  # ids: one random prefix per batch, then the line's place in it
    return stamp, [
        f'{{"id":"{prefix}{i:04x}","stream":"{stream}","data":{encode_basestring(text)},'
        f'"timestamp":"{stamp}","ts":{now}}}'
        for i, text in enumerate(texts)
    ]


def record(server_id, entries: list[str]) -> None:
    """Append encoded entries to the server's history (newest last), trimmed to CONSOLE_HISTORY_LINES."""
    key = history_key(server_id)
    try:
        pipe = connection().pipeline()
        pipe.rpush(key, *entries)
        pipe.ltrim(key, -settings.CONSOLE_HISTORY_LINES, -1)
        pipe.execute()
    except redis.RedisError:
        logger.warning("Console history unavailable for server %s", server_id, exc_info=True)


# Line breaks and terminal controls, in a panel line that names something from outside (a marketplace
# project, a file, an engine's error): shown as spaces, so a name can neither start a forged line nor
# move the cursor.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def write(server_id, data: str) -> None:
    """One line of the panel's own (an action, a status, an install step) to history and subscribers."""
    write_lines(server_id, "system", [_CONTROLS.sub(" ", data.rstrip("\n"))])


def write_lines(server_id, stream: str, texts: list[str]) -> None:
    """Many lines of one stream (a chunk of game output): one history write, and as few messages as fit."""
    if not texts:
        return
    entries, messages = prepared(server_id, stream, texts)
    record(server_id, entries)
    for message in messages:
        _send(server_id, message)


def prepared(server_id, stream: str, texts: list[str]) -> tuple[list[str], list[dict]]:
    """(history entries, the messages carrying the lines): as few messages as fit under MESSAGE_CHARS
    (clients such as `websockets` refuse messages over 1 MiB, as the web process does)."""
    texts = [text if text.endswith("\n") else f"{text}\n" for text in texts]
    stamp, entries = _entries(stream, texts)
    messages, chunk, size = [], [], 0
    for text in texts:
        if chunk and size + len(text) > MESSAGE_CHARS:
            messages.append(_log_message(server_id, stream, chunk, stamp))
            chunk, size = [], 0
        chunk.append(text)
        size += len(text)
    messages.append(_log_message(server_id, stream, chunk, stamp))
    return entries, messages


def _log_message(server_id, stream: str, texts: list[str], stamp: str) -> dict:
    return {
        "type": "server_log",
        "serverId": str(server_id),
        "stream": stream,
        "data": "".join(texts),
        "timestamp": stamp,
    }


def stdin_channel(lease: str) -> str:
    """Where the monitor holding a node's lease (servers/monitor/leases.py) takes its console input: one
    channel per holding, so a monitor that lost the node never receives the next holder's commands."""
    return f"{settings.CACHES['default']['KEY_PREFIX']}:stdin:{lease}"


# Publish to the channel of whoever holds the node's lease now, in one round trip.
_SEND_COMMAND = """
local holder = redis.call('GET', KEYS[1])
if not holder then return 0 end
return redis.call('PUBLISH', ARGV[1] .. holder, ARGV[2])
"""


def send_command(server, text: str) -> bool:
    """Hand a console command to the monitor watching the server's node, which holds the game's stdin.

    False when no monitor is listening (the caller then attaches itself).
    """
    from servers.monitor.leases import lease_key

    try:
        receivers = connection().eval(
            _SEND_COMMAND,
            1,
            lease_key(server.node_id),
            stdin_channel(""),
            json.dumps({"server": str(server.pk), "data": text}),
        )
    except redis.RedisError:
        return False
    return receivers > 0


def publish_state(server_id, state: str, previous: str) -> None:
    _send(
        server_id,
        {
            "type": "server_state_update",
            "serverId": str(server_id),
            "state": state,
            "previousState": previous,
        },
    )


def write_on_commit(server_id, text: str) -> None:
    """A console line once the transaction commits: nobody reads of an action that was rolled back."""
    transaction.on_commit(lambda: write(server_id, text))
