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

from config import metrics, realtime
from servers import console
from servers.models import Server
from servers.monitor.output import CURSOR_SECONDS, cursor_key
from servers.states import set_status

if TYPE_CHECKING:
    from servers.monitor.follower import OutputFollower

logger = logging.getLogger(__name__)


# One call for every server of a flush. ARGV[1]: the writes (msgpack without the bin type, which Redis's
# cmsgpack lacks), each [lease key, lease value, history key, history length, cursor key, cursor,
# cursor ttl, channel, entries, messages]. Returns 1 or 0 per write: whether its lease held. The keys
# travel in ARGV rather than KEYS: packing three KEYS a server was a third of the flush's CPU (the
# panel's Redis is one server, never a cluster). RPUSH in slices: Lua's unpack takes ~8,000 values at most.
_WRITE = """
local done = {}
for w, write in ipairs(cmsgpack.unpack(ARGV[1])) do
  local history, entries = write[3], write[9]
  done[w] = 0
  if redis.call('GET', write[1]) == write[2] then
    for i = 1, #entries, 1000 do
      redis.call('RPUSH', history, unpack(entries, i, math.min(i + 999, #entries)))
    end
    if #entries > 0 then redis.call('LTRIM', history, -write[4], -1) end
    redis.call('SET', write[5], write[6], 'EX', write[7])
    for _, message in ipairs(write[10]) do redis.call('PUBLISH', write[8], message) end
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

    def due(self, *followers: "OutputFollower", now: bool = False) -> None:
        """Called when followers have appended lines (by the node's reader, a round at a time); `now`
        while one's server is starting (its ready line moves it to running: 50 ms of waiting for the
        tick were most of what the monitor added to a start)."""
        with self.lock:
            self.waiting.update(followers)
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
        disowned = self._disowned({f.watcher for f, batch, _ in taken if batch and f.recheck_due()})
        writes, ended, lines = [], [], collections.Counter()
        for follower, batch, end in taken:
            if follower in disowned:
                continue
            batch = self._unwritten(follower, batch)
            if batch:
                runs, became_ready, admitted = follower.admit(batch)
                writes.append((follower, runs, became_ready, batch[-1][2]))
                lines[follower.watcher.node_id] += admitted
            if end:
                ended.append(follower)
        for node_id, count in lines.items():
            metrics.console_lines(node_id, count)
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
    def _disowned(watchers) -> set:
        """The followers of these watchers whose container is no longer their server's own on their
        node, finished: one query per node for all of its followers, so they fall due together and a
        busy node is asked once every RECHECK_SECONDS, not at every flush."""
        disowned = set()
        for watcher in watchers:
            followers = list(watcher.followers.values())
            owners = watcher.owners(f.container_id for f in followers)
            for follower in followers:
                follower.checked_at = time.monotonic()
                if owners.get(follower.container_id) != follower.server_id:
                    logger.info(
                        "monitor: %s is no longer %s's own container here",
                        follower.container_id,
                        follower.server_id,
                    )
                    follower.finish()
                    disowned.add(follower)
        return disowned

    def _write(self, writes) -> list[bool]:
        """Every server's lines in one script call; each write True when its node's lease held."""
        if not writes:
            return []
        data, history_lines = [], settings.CONSOLE_HISTORY_LINES
        for follower, runs, _, last_ns in writes:
            entries, messages = [], []
            for stream, texts in runs:
                lines, carrying = console.prepared(follower.server_id, stream, texts)
                entries += lines
                messages += [realtime.encoded(message) for message in carrying]
            lease = follower.watcher.lease
            data.append(
                [
                    lease.key,
                    lease.value,
                    console.history_key(follower.server_id),
                    history_lines,
                    cursor_key(follower.server_id),
                    f"{follower.container_id} {last_ns}",
                    CURSOR_SECONDS,
                    realtime.group_channel(console.group_name(follower.server_id)),
                    entries,
                    messages,
                ]
            )
        try:
            return [bool(done) for done in self._run(msgpack.packb(data, use_bin_type=False))]
        except redis.RedisError:  # Redis down: the lines are lost to the console, the cursor stays put
            logger.warning("monitor: console history unavailable", exc_info=True)
            return [True] * len(writes)

    def _run(self, data: bytes) -> list[int]:
        client = console.connection()
        if self.sha is None:
            self.sha = client.script_load(_WRITE)
        try:
            return client.evalsha(self.sha, 0, data)
        except redis.exceptions.NoScriptError:  # Redis restarted: load it again
            self.sha = client.script_load(_WRITE)
            return client.evalsha(self.sha, 0, data)


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
