"""One thread per node reads every running server's live output (nodes.client.LiveLog) through a
selector, and hands what each read to its follower (servers/monitor/follower.py).

A thread blocked on each stream woke once per line: with 50 servers printing 10 lines a second that was
500 wake-ups a second, most of the monitor's CPU (bench/console, the idle table). Here a round reads
every stream with output waiting; a round that found only a little waits for the flusher's tick
before the next, so what came meanwhile is read in the same round. A flood is read as fast as it
comes, and so is a starting server's output (its ready line moves it to running).
"""

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings

from servers.monitor.flusher import flusher

if TYPE_CHECKING:
    from nodes.client import LiveLog
    from servers.monitor.follower import OutputFollower
    from servers.monitor.watcher import NodeWatcher

logger = logging.getLogger(__name__)

LIGHT_BYTES = 16 * 1024  # a round that read less from every stream waits for the tick before the next


class LiveReader(threading.Thread):
    def __init__(self, watcher: "NodeWatcher"):
        super().__init__(daemon=True, name=f"output-{watcher.node_id[:8]}")
        self.watcher = watcher
        self.selector = selectors.DefaultSelector()
        self.added: queue.SimpleQueue = queue.SimpleQueue()
        self.wake_in, self.wake_out = socket.socketpair()
        self.wake_in.setblocking(False)
        self.selector.register(self.wake_in, selectors.EVENT_READ)

    def add(self, output: "LiveLog", follower: "OutputFollower") -> None:
        """From the follower's thread: read `output` for `follower` until it ends, then set `follower.live_ended`."""
        self.added.put((output, follower))
        with contextlib.suppress(OSError):
            self.wake_out.send(b"\0")

    def run(self) -> None:
        try:
            while not self.watcher.stopping.is_set():
                self._round()
        except Exception:
            logger.exception("monitor: the output reader of node %s failed", self.watcher.node_id)
        finally:
            for key in list(self.selector.get_map().values()):
                if key.data is not None:
                    self._end(*key.data)
            while not self.added.empty():
                self._end(*self.added.get())
            self.selector.close()
            self.wake_in.close()
            self.wake_out.close()

    def _round(self) -> None:
        ready = [key.data for key, _ in self.selector.select(timeout=0.5)]
        started = time.monotonic()
        if not ready:  # a quiet half second: streams closed without a wake-up (see LiveLog.close)
            ready = [key.data for key in self.selector.get_map().values() if key.data and key.data[0].closing]
        if None in ready:  # the wake-up: streams to add, maybe with output read along with the headers
            ready = [data for data in ready if data is not None] + self._take_added()
        read, light, hurry = [], True, False
        for output, follower in ready:
            try:
                frames = output.read()
            except Exception as exc:  # not Docker's framing: a broken or hostile node
                logger.warning("monitor: output of %s ended: %s", follower.server_id, exc)
                frames = []
            if frames:
                follower.feed(frames)
                read.append(follower)
                light = light and sum(len(payload) for _, payload in frames) < LIGHT_BYTES
                hurry = hurry or follower.waiting
            if output.ended or output.closing or follower.closed:
                self._end(output, follower)
        if read:
            flusher().due(*read, now=hurry)
            if light and not hurry:  # what comes meanwhile is read in one round, at the tick
                pause = settings.CONSOLE_FLUSH_SECONDS - (time.monotonic() - started)
                self.watcher.stopping.wait(max(0.0, pause))

    def _take_added(self) -> list:
        """Register the streams added since the last round; those with output already read are returned."""
        with contextlib.suppress(BlockingIOError):
            while self.wake_in.recv(4096):
                pass
        primed = []
        while not self.added.empty():
            output, follower = self.added.get()
            try:
                self.selector.register(output, selectors.EVENT_READ, (output, follower))
            except (OSError, ValueError):  # closed before we got to it
                self._end(output, follower)
                continue
            if output.pending:
                primed.append((output, follower))
        return primed

    def _end(self, output: "LiveLog", follower: "OutputFollower") -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(output)
        output.release()
        follower.live_ended.set()
