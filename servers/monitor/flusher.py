"""The monitor's console writes: one thread per process gathers what every follower has read and writes
it at most every FLUSH_INTERVAL in one Redis round trip for all servers (bench/console's cost table).

Each server's share of that round trip is one script that, atomically, checks its node's lease still
is this monitor's (the fence: servers/monitor/leases.py), appends the lines to the history, moves the
output cursor past them and publishes them to the server's subscribers. History and cursor move
together, so whoever reads the container next (this monitor after a reconnect, another one after a
failover) goes on exactly after the last recorded line: no gap, no line twice.
"""

import collections
import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from django.db import connections

from config import realtime
from servers import console
from servers.models import Server
from servers.monitor.output import CURSOR_SECONDS, cursor_key
from servers.ownership import servers_of
from servers.states import set_status

if TYPE_CHECKING:
    from servers.monitor.follower import OutputFollower

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.01  # seconds between two writes

# KEYS: lease, history, cursor. ARGV: lease value, history length, cursor, cursor ttl, channel, n, the n
# history entries, then the messages to publish. RPUSH in slices: Lua's unpack takes ~8,000 values at most.
_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[6])
for i = 7, 6 + n, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, 6 + n)))
end
if n > 0 then redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1) end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
for i = 7 + n, #ARGV do redis.call('PUBLISH', ARGV[5], ARGV[i]) end
return 1
"""


class Flusher(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True, name="console-flusher")
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.waiting: set = set()  # followers with lines (or their end) not yet written
        self.arrived = threading.Event()
        self.script = None

    def due(self, follower: "OutputFollower") -> None:
        """Called by a follower's reader when it has appended lines."""
        with self.lock:
            self.waiting.add(follower)
        self.arrived.set()

    def run(self):
        last = 0.0
        while True:
            self.arrived.wait()
            self.arrived.clear()
            time.sleep(max(0.0, last + FLUSH_INTERVAL - time.monotonic()))
            last = time.monotonic()
            with self.lock:
                followers, self.waiting = self.waiting, set()
            try:
                self.flush(followers)
            except Exception:  # never the end of every console of the process
                logger.exception("monitor: console write failed")
            finally:
                connections.close_all()

    def flush(self, followers) -> None:
        taken = []
        for follower in followers:
            batch, ended = follower.take()
            if follower.closed:
                continue
            if follower.watcher.stopping.is_set() or follower.watcher.lease.lost:
                follower.finish()  # the node's next watcher reads on from the cursor
                continue
            taken.append((follower, batch, ended))
        disowned = self._disowned([f for f, batch, _ in taken if batch and f.recheck_due()])
        writes, ended = [], []
        for follower, batch, end in taken:
            if follower in disowned:
                logger.info(
                    "monitor: %s is no longer %s's own container here",
                    follower.container_id,
                    follower.server_id,
                )
                follower.finish()
                continue
            if batch:
                writes.append((follower, *follower.admit(batch), batch[-1][2]))
            if end:
                ended.append(follower)
        for (follower, _, became_ready, _), written in zip(writes, self._write(writes), strict=True):
            if not written:
                follower.watcher.lease.lost = True
                follower.finish()
            elif became_ready:  # after its lines: whoever sees `running` finds the ready line in the history
                set_status(follower.server_id, Server.Status.RUNNING, expect={Server.Status.STARTING})
        for follower in ended:
            follower.finish()

    @staticmethod
    def _disowned(followers) -> set:
        """Of these followers, those whose container is no longer their server's own on their node: one
        query per node for all of its servers due a check."""
        by_node = collections.defaultdict(list)
        for follower in followers:
            by_node[follower.watcher.node_id].append(follower)
        disowned = set()
        for node_id, group in by_node.items():
            owners = servers_of(node_id, [f.container_id for f in group])
            for follower in group:
                follower.checked_at = time.monotonic()
                if owners.get(follower.container_id) != follower.server_id:
                    disowned.add(follower)
        return disowned

    def _write(self, writes) -> list[bool]:
        """One pipeline for every server's lines; each write True when its node's lease held."""
        if not writes:
            return []
        client = console.connection()
        if self.script is None:
            self.script = client.register_script(_WRITE)
        pipe = client.pipeline(transaction=False)
        limit = settings.CONSOLE_HISTORY_LINES
        for follower, runs, _, last_ns in writes:
            entries, payloads = [], []
            for stream, texts in runs:
                lines, messages = console.prepared(follower.server_id, stream, texts)
                entries += lines
                payloads += [realtime.encoded(message) for message in messages]
            lease = follower.watcher.lease
            self.script(
                keys=[lease.key, console.history_key(follower.server_id), cursor_key(follower.server_id)],
                args=[
                    lease.value,
                    limit,
                    f"{follower.container_id} {last_ns}",
                    CURSOR_SECONDS,
                    realtime.group_channel(console.group_name(follower.server_id)),
                    len(entries),
                    *entries,
                    *payloads,
                ],
                client=pipe,
            )
        try:
            return [bool(result) for result in pipe.execute()]
        except redis.RedisError:  # Redis down: the lines are lost to the console, the cursor stays put
            logger.warning("monitor: console history unavailable", exc_info=True)
            return [True] * len(writes)


_lock = threading.Lock()
_flusher: Flusher | None = None


def flusher() -> Flusher:
    """This process's flusher (a forked child gets its own)."""
    global _flusher
    with _lock:
        if _flusher is None or _flusher.pid != os.getpid() or not _flusher.is_alive():
            _flusher = Flusher()
            _flusher.start()
        return _flusher
