"""The monitor's console writes: one thread per process gathers what every follower has read and writes
it at most every CONSOLE_FLUSH_SECONDS in one Redis round trip for all servers (bench/console's cost table),
and at once while a server is starting.

That round trip is one script that, for each server and atomically, checks its node's lease still
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

import msgpack
import redis
from django.conf import settings
from django.db import connections

from config import realtime
from servers import console
from servers.models import Server
from servers.monitor.output import CURSOR_SECONDS, cursor_key
from servers.states import set_status

if TYPE_CHECKING:
    from servers.monitor.follower import OutputFollower

logger = logging.getLogger(__name__)


# One call for every server of a flush. KEYS: lease, history and cursor of each write; ARGV[1]: the writes
# (msgpack without the bin type, which Redis's cmsgpack lacks), each [lease value, history length, cursor, cursor ttl, channel, entries, messages]. Returns
# 1 or 0 per write: whether its lease held. RPUSH in slices: Lua's unpack takes ~8,000 values at most.
_WRITE = """
local done = {}
for w, write in ipairs(cmsgpack.unpack(ARGV[1])) do
  local lease, history, cursor = KEYS[3 * w - 2], KEYS[3 * w - 1], KEYS[3 * w]
  done[w] = 0
  if redis.call('GET', lease) == write[1] then
    local entries = write[6]
    for i = 1, #entries, 1000 do
      redis.call('RPUSH', history, unpack(entries, i, math.min(i + 999, #entries)))
    end
    if #entries > 0 then redis.call('LTRIM', history, -write[2], -1) end
    redis.call('SET', cursor, write[3], 'EX', write[4])
    for _, message in ipairs(write[7]) do redis.call('PUBLISH', write[5], message) end
    done[w] = 1
  end
end
return done
"""


class Flusher(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True, name="console-flusher")
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.waiting: set = set()  # followers with lines (or their end) not yet written
        self.arrived = threading.Event()
        self.hurry = threading.Event()  # a starting server's output: written now, not at the next tick
        self.sha = None  # of the write script, once loaded
        # server id → (container id, Docker's time of the last line written): a follower that replaces
        # another of the same run read the cursor when it began, maybe before the other's last write
        self.written: dict[str, tuple[str, int]] = {}

    def due(self, follower: "OutputFollower", *, now: bool = False) -> None:
        """Called by a follower's reader when it has appended lines; `now` while its server is starting
        (its ready line moves it to running: 50 ms of waiting for the tick were most of what the monitor
        added to a start)."""
        with self.lock:
            self.waiting.add(follower)
        if now:
            self.hurry.set()
        self.arrived.set()

    def run(self):
        last = 0.0
        while True:
            self.arrived.wait()
            self.arrived.clear()
            self.hurry.wait(max(0.0, last + settings.CONSOLE_FLUSH_SECONDS - time.monotonic()))
            self.hurry.clear()
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
            batch = self._unwritten(follower, batch)
            if batch:
                writes.append((follower, *follower.admit(batch), batch[-1][2]))
            if end:
                ended.append(follower)
        for (follower, _, became_ready, last_ns), written in zip(writes, self._write(writes), strict=True):
            if not written:  # the node's lease is another monitor's now
                follower.watcher.lease.lost = True
                follower.finish()
                continue
            self.written[follower.server_id] = (follower.container_id, last_ns)
            if became_ready:  # after its lines: whoever sees `running` finds the ready line in the history
                set_status(follower.server_id, Server.Status.RUNNING, expect={Server.Status.STARTING})
        for follower in ended:
            follower.finish()

    def _unwritten(self, follower, batch: list) -> list:
        """The lines of a batch this process has not written yet (each line once, whichever of two
        followers of one run read it)."""
        container_id, last_ns = self.written.get(follower.server_id, ("", 0))
        if container_id != follower.container_id or not batch or batch[0][2] > last_ns:
            return batch
        return [line for line in batch if line[2] > last_ns]

    @staticmethod
    def _disowned(followers) -> set:
        """Of these followers, those whose container is no longer their server's own on their node: one
        query per node (its watcher's `owners`) for all of its servers due a check."""
        by_watcher = collections.defaultdict(list)
        for follower in followers:
            by_watcher[follower.watcher].append(follower)
        disowned = set()
        for watcher, group in by_watcher.items():
            owners = watcher.owners(f.container_id for f in group)
            for follower in group:
                follower.checked_at = time.monotonic()
                if owners.get(follower.container_id) != follower.server_id:
                    disowned.add(follower)
        return disowned

    def _write(self, writes) -> list[bool]:
        """Every server's lines in one script call; each write True when its node's lease held."""
        if not writes:
            return []
        keys, data = [], []
        for follower, runs, _, last_ns in writes:
            entries, messages = [], []
            for stream, texts in runs:
                lines, carrying = console.prepared(follower.server_id, stream, texts)
                entries += lines
                messages += [realtime.encoded(message) for message in carrying]
            lease = follower.watcher.lease
            keys += [lease.key, console.history_key(follower.server_id), cursor_key(follower.server_id)]
            data.append(
                [
                    lease.value,
                    settings.CONSOLE_HISTORY_LINES,
                    f"{follower.container_id} {last_ns}",
                    CURSOR_SECONDS,
                    realtime.group_channel(console.group_name(follower.server_id)),
                    entries,
                    messages,
                ]
            )
        try:
            return [bool(done) for done in self._run(keys, msgpack.packb(data, use_bin_type=False))]
        except redis.RedisError:  # Redis down: the lines are lost to the console, the cursor stays put
            logger.warning("monitor: console history unavailable", exc_info=True)
            return [True] * len(writes)

    def _run(self, keys: list[str], data: bytes) -> list[int]:
        client = console.connection()
        if self.sha is None:
            self.sha = client.script_load(_WRITE)
        try:
            return client.evalsha(self.sha, len(keys), *keys, data)
        except redis.exceptions.NoScriptError:  # Redis restarted: load it again
            self.sha = client.script_load(_WRITE)
            return client.evalsha(self.sha, len(keys), *keys, data)


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
