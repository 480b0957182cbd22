"""The console follower: one per running server turns its container's output into lines (read live by
the node's reader, servers/monitor/reader.py) and hands them to the flusher (servers/monitor/flusher.py),
which records and publishes them and moves the server to running at the template's ready line."""

import collections
import contextlib
import itertools
import logging
import operator
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import close_old_connections

from nodes.dockertime import as_since, nanos, since_ns, stamp_ns
from servers.models import Server
from servers.monitor.flusher import flusher
from servers.monitor.output import Throttle, cut, read_cursor
from templates_app.ready import template_matcher

if TYPE_CHECKING:
    from servers.monitor.watcher import NodeWatcher

logger = logging.getLogger(__name__)

STREAMS = {1: "stdout", 2: "stderr"}  # Docker's frame header → our stream name
# How often a follower checks that its container still is its server's own on this node: a server moved
# to another node (or recreated) stops taking this container's lines within this, even from a node that
# keeps the old container running and streaming while it claims it stopped.
RECHECK_SECONDS = 1.0
LATE_OUTPUT_SECONDS = 0.5  # after a run's stream ends, when its log is read once more (see _late)
# How long after the run's end its last lines can be stamped: the engine stamps a line when it copies it,
# and on a busy node that copy lags the exit (by more than 50 ms, seen in the suite).
LATE_OUTPUT_MARGIN_NS = 5_000_000_000
NEXT_RUN_EARLY_NS = 100_000_000  # a run's first lines are stamped a few ms before its StartedAt


def _ready_matcher(template):
    return template_matcher(template)  # RE2 (linear time), on one line capped in length


class OutputFollower:
    """Reads one run of one server's container (stdout and stderr), once for every viewer.

    Its thread opens the run's stream and, once the node's reader has read it to the end, reads what
    the log got late. The frames become lines as they come and go to the process's one Flusher, which
    writes what has gathered for every server at most every CONSOLE_FLUSH_SECONDS in one Redis round
    trip: a lone line goes out at once, a flood in batches.
    """

    def __init__(self, watcher: "NodeWatcher", server_id: str, container_id: str, since: str, run: int):
        self.watcher, self.server_id, self.container_id, self.since = watcher, server_id, container_id, since
        self.run_started = run  # the run's StartedAt (ns): which run of the container this reads
        # (stream, text, Docker's ns time of the line), then None at the end
        self.pending: collections.deque = collections.deque()
        self.output = None  # the log stream, closed when the container stops being this server's
        self.closed = False  # this follower is done: its reader opens no more streams
        self.checked_at = time.monotonic()  # it was the server's own when the follower was made
        self.throttle = Throttle()
        self.ready, self.waiting = None, False
        # What `feed` keeps between frames: the end of a line not yet complete per stream, the Docker
        # time of the newest line per stream and overall, and where the cursor stood when reading began.
        self.partial, self.newest, self.last_ns, self.recorded = {1: "", 2: ""}, {}, 0, 0
        self.live_ended = threading.Event()  # set by the node's reader when the live stream is over
        self.reader = threading.Thread(target=self._read, daemon=True, name=f"follow-{server_id[:8]}")
        self.flusher = flusher()  # looked up once: the reader hands it every chunk

    def start(self) -> None:
        close_old_connections()
        server = Server.objects.select_related("template").filter(pk=self.server_id).first()
        if server is None:
            self.finish()
            return
        self.ready = _ready_matcher(server.template)
        self.waiting = server.status == Server.Status.STARTING
        self.reader.start()

    def is_alive(self) -> bool:
        return not self.closed

    def join(self, timeout: float | None = None) -> None:
        if self.reader.ident is not None:
            self.reader.join(timeout)

    def recheck_due(self) -> bool:
        """Is the container's ownership to be asked again (at most every RECHECK_SECONDS)?"""
        return time.monotonic() - self.checked_at >= RECHECK_SECONDS

    def take(self) -> tuple[list, bool]:
        """(the lines gathered since the last take, whether the run's output has ended)."""
        batch = [self.pending.popleft() for _ in range(len(self.pending))]
        ended = bool(batch) and batch[-1] is None
        if ended:
            batch.pop()
        return batch, ended

    def admit(self, batch: list) -> tuple[list[tuple[str, list[str]]], bool, int]:
        """What of a batch goes to the console, as (stream, texts) runs, a throttling notice first;
        whether the batch holds the template's ready line while the server is starting; how many of
        its lines were admitted."""
        became_ready = self.waiting and any(self.ready(text) for _, text, _ in batch)
        self.waiting = self.waiting and not became_ready
        admitted, notice = self.throttle.admit(batch)
        runs = [("system", [notice])] if notice else []  # the skipped lines came before the kept ones
        limit = settings.CONSOLE_MAX_LINE_CHARS
        runs += [
            (stream, [cut(text.rstrip("\r"), limit) for _, text, _ in run])
            for stream, run in itertools.groupby(admitted, key=operator.itemgetter(0))
        ]
        return runs, became_ready, len(admitted)

    def finish(self) -> None:
        if self.watcher.followers.get(self.server_id) is self:  # a later run may have its own already
            del self.watcher.followers[self.server_id]
        self.closed = True
        if self.output is not None:  # ends the reader too, when we stopped before the container did
            with contextlib.suppress(Exception):
                self.output.close()

    def _read(self) -> None:
        """The run's output, live through the node's reader (servers/monitor/reader.py), then what its
        log got after the stream ended (`_late`); None marks the end.

        Frames carry Docker's time: what an earlier reader of this run recorded (before a reconnect or a
        monitor restart), and what the engine sends twice, is skipped, so every line is recorded once.
        """
        self.recorded = recorded = read_cursor(self.server_id, self.container_id)
        self.newest = {1: recorded, 2: recorded}  # per stream: the engine stamps stdout and stderr apart
        try:
            since = max(self.since, as_since(recorded + 1), key=since_ns) if recorded else self.since

            def after_the_last_line() -> str:  # where the late read goes on from
                read = max(self.last_ns, recorded)
                return as_since(read + 1) if read else since

            self._live(since)
            for frames in self._late(after_the_last_line):
                self.feed(frames)
                self.flusher.due(self, now=self.waiting)
        except Exception as exc:  # the container went away or the node dropped: events will tell
            logger.debug("Output of %s ended: %s", self.server_id, exc)
        finally:
            partial, last_ns = self.partial, self.last_ns
            self.pending.extend(
                (STREAMS.get(kind, "stdout"), rest, last_ns) for kind, rest in partial.items() if rest
            )
            self.pending.append(None)
            self.flusher.due(self)

    def feed(self, frames: list) -> None:
        """Split frames of output into lines, after the last line already recorded (see _read)."""
        limit, partial, newest, recorded = (
            settings.CONSOLE_MAX_LINE_CHARS,
            self.partial,
            self.newest,
            self.recorded,
        )
        stamp = None
        for kind, stamped in frames:
            stamp, _, payload = stamped.partition(b" ")  # "<RFC 3339 ns time> <output>"
            ns = stamp_ns(stamp)
            # Recorded by an earlier reader of this container, or sent again by the engine (its follow
            # repeats lines when the log file rotates): each stream's times rise.
            if ns <= newest.get(kind, recorded):
                continue
            newest[kind] = self.last_ns = ns
            text = partial.get(kind, "") + payload.decode(errors="replace")
            *complete, rest = text.split("\n")
            if len(rest) > limit:  # a line without end: emit what we have
                complete, rest = [*complete, rest], ""
            partial[kind] = rest
            self.pending.extend((STREAMS.get(kind, "stdout"), line, ns) for line in complete)
        if stamp is not None:
            self.watcher.last_output[self.container_id] = stamp  # the next run reads from after it

    def _live(self, since: str) -> None:
        """Until the run's stream ends: the node's reader reads it and calls `feed`."""
        if self.closed or self.watcher.stopping.is_set():
            return
        output = self.output = self.watcher.client.live_logs(self.container_id, since)
        reader = self.watcher.reader
        self.watcher.streams.add(output)  # cut with the node's other streams when it drops
        try:
            reader.add(output, self)
            while not self.live_ended.wait(1.0):
                if not reader.is_alive():  # the watcher stopped, or its reader failed
                    output.release()
                    return
        finally:
            self.watcher.streams.discard(output)

    def _followed(self, since: str, until: str | None = None):
        """The container's log from `since` in chunks of frames: followed while it runs, or up to `until`."""
        output = self.output = self.watcher.client.follow_logs(
            self.container_id, since, timestamps=True, until=until
        )
        self.watcher.streams.add(output)
        try:
            for frames in output:
                yield frames
                if self.watcher.stopping.is_set():
                    return
        finally:
            self.watcher.streams.discard(output)
            output.close()  # now, not at garbage collection: each open stream holds a connection

    def _late(self, since):
        """What the run printed last and its log got only after the stream ended: the engine copies a
        run's output into its log after the exit, so a reader that reached the end at the exit can miss
        a line written just before it (a game that prints one line and quits, on a busy node). Read once
        more, LATE_OUTPUT_SECONDS later, from `since()` to a little after the run's end; the next run's
        lines, when it started meanwhile, are its own follower's and are left out."""
        if self.watcher.stopping.wait(LATE_OUTPUT_SECONDS) or self.closed:
            return
        state = self.watcher.client.container_state(self.container_id)
        if state is None:
            return
        same_run = nanos(state.started_at) == self.run_started
        if same_run and state.running:  # the stream dropped, not the run: the watcher reconnects
            return
        ended = nanos(state.finished_at) if same_run else self.run_started  # started again: cut below
        chunks = list(self._followed(since(), as_since(ended + LATE_OUTPUT_MARGIN_NS)))
        # Checked after the read: a run that began during it wrote from a few ms before its StartedAt on.
        state = self.watcher.client.container_state(self.container_id)
        next_run = nanos(state.started_at) if state is not None else 0
        if next_run and next_run != self.run_started:
            cut = next_run - NEXT_RUN_EARLY_NS
            chunks = [
                [frame for frame in frames if stamp_ns(frame[1].partition(b" ")[0]) < cut]
                for frames in chunks
            ]
        yield from (frames for frames in chunks if frames)
