"""One watcher per online node: follows the node's container events and each running server's output,
relays console input to the games' stdin and samples their stats.

Every container the node reports goes through `NodeWatcher.owners` (servers/ownership.py) first: only
the container the panel created for a server assigned to this node ever moves that server's state,
console, crash count or stats. Labels and names are the node's word and decide nothing.
"""

import contextlib
import json
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections

from nodes.client import ContainerState, EngineRefused, NodeUnavailable, client_for
from nodes.dockertime import nanos, output_since
from nodes.models import Node
from servers import console
from servers.monitor import reconcile
from servers.monitor.follower import OutputFollower
from servers.monitor.leases import Lease
from servers.monitor.reader import LiveReader
from servers.monitor.reconcile import GAME_LABELS
from servers.ownership import container_of, servers_of
from servers.stats import Sampler

logger = logging.getLogger(__name__)


class NodeWatcher(threading.Thread):
    """Follows one node; reconnects with backoff when it drops."""

    def __init__(self, node_id: str, stopping: threading.Event, lease: Lease):
        super().__init__(daemon=True, name=f"watch-{node_id[:8]}")
        self.node_id, self.stopping, self.lease = node_id, stopping, lease
        self.followers: dict[str, OutputFollower] = {}  # server id → its output's reader
        self.running: dict[str, str] = {}  # server id → container id, for stats
        self.stdin_sockets: dict[str, object] = {}  # server id → the attach carrying its console input
        self.client = None
        self.oom: set[str] = set()
        self.reconciled: dict[str, dict[str, float]] = {}  # server id → start/die times the reconcile saw
        self.exits: dict[str, int] = {}  # container id → when its last run ended (ns), seen at its die event
        self.last_output: dict[str, bytes] = {}  # container id → the time of the last output read from it
        self.threads: list[threading.Thread] = []
        self.streams: set = set()  # open event and log streams, closed to end the watcher at once
        self.reader = LiveReader(self)  # reads every follower's live output

    def close(self) -> None:
        """Unblock every read of this watcher, so its threads end now rather than at the next event."""
        for stream in list(self.streams):
            with contextlib.suppress(Exception):
                stream.close()

    def run(self):
        threads = [
            self.reader,
            threading.Thread(target=self._sample_stats, daemon=True, name=f"stats-{self.node_id[:8]}"),
            threading.Thread(target=self._relay_input, daemon=True, name=f"stdin-{self.node_id[:8]}"),
        ]
        for thread in threads:
            thread.start()
        self.threads = threads  # listed once started: Monitor.stop joins them
        try:
            self._watch()
        finally:
            connections.close_all()

    def _relay_input(self) -> None:
        """Console commands for this node's servers arrive on Redis; each goes to the game's one stdin attach."""
        attached = self.stdin_sockets
        pubsub = console.connection().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(console.stdin_channel(self.lease.value))
        try:
            while not self.stopping.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is None or self.client is None or self.lease.lost:
                    continue
                command = json.loads(message["data"])
                self._deliver(command["server"], command["data"].encode())
        finally:
            connections.close_all()
            pubsub.close()
            for stdin in attached.values():
                stdin.close()

    def _deliver(self, server_id: str, data: bytes) -> None:
        attached = self.stdin_sockets
        for attempt in (1, 2):  # a stale attach (the container restarted) is reopened once
            try:
                if server_id not in attached:
                    try:
                        target = container_of(self.node_id, server_id)  # never by name: see ownership
                    finally:  # back to the pool: this thread lives as long as the watcher
                        connections.close_all()
                    if target is None:
                        raise LookupError("the server has no container of its own on this node")
                    attached[server_id] = self.client.attach_stdin(target)
                attached[server_id].send(data)
                return
            except Exception as exc:
                if (stale := attached.pop(server_id, None)) is not None:
                    stale.close()
                if attempt == 2:
                    logger.info("monitor: command for %s not delivered: %s", server_id, exc)

    def drop_stdin(self, server_id: str) -> None:
        """A started or exited container needs a new attach: writes to the old one vanish silently."""
        stdin = self.stdin_sockets.pop(server_id, None)
        if stdin is not None:
            stdin.close()

    def _sample_stats(self) -> None:
        """Every STATS_INTERVAL_SECONDS: one-shot stats of each running server → live values and history."""
        sampler = Sampler()
        try:
            while not self.stopping.wait(settings.STATS_INTERVAL_SECONDS):
                if self.client is None:
                    continue
                running = list(self.running.items())
                owners = self.owners(container_id for _, container_id in running)
                for server_id, container_id in running:
                    if owners.get(container_id) != server_id:  # moved off this node, or recreated
                        with contextlib.suppress(KeyError):  # unless a newer run was followed meanwhile
                            if self.running[server_id] == container_id:
                                del self.running[server_id]
                        sampler.forget(server_id)
                        continue
                    try:
                        if values := sampler.sample(server_id, self.client.stats(container_id)):
                            sampler.record(server_id, values, node_id=self.node_id, container_id=container_id)
                    except Exception as exc:  # stopped meanwhile, or the node dropped
                        logger.debug("stats of %s: %s", server_id, exc)
                        sampler.forget(server_id)
                close_old_connections()
        finally:
            connections.close_all()

    def _watch(self):
        backoff = 1.0
        while not self.stopping.is_set():
            close_old_connections()
            node = Node.objects.filter(pk=self.node_id).first()
            if node is None:
                return
            try:
                self.client = client_for(node)
                events = self.subscribe()  # before reconciling, so nothing falls between the two
                try:
                    reconcile.reconcile(self)
                    backoff = 1.0
                    reconcile.follow_events(self, events)
                finally:
                    self.streams.discard(events)
                    events.close()
            except Exception as exc:
                if self.stopping.is_set():  # stop() closed the stream under us
                    return
                if isinstance(exc, NodeUnavailable | EngineRefused | OSError):
                    logger.info(
                        "monitor: node %s unavailable (%s); retrying in %.0f s", node.name, exc, backoff
                    )
                else:
                    logger.exception("monitor: watcher for node %s failed", node.name)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def follow(self, server_id: str, state: ContainerState) -> None:
        """Read this run's output once. A follower still draining the previous run is left to finish."""
        container_id = state.id
        self.running[server_id] = container_id
        run = nanos(state.started_at)
        current = self.followers.get(server_id)
        if (
            current is not None
            and current.is_alive()
            and (current.container_id, current.run_started) == (container_id, run)
        ):
            return
        since = output_since(
            state.started_at,
            state.finished_at,
            self.exits.get(container_id),
            self.last_output.get(container_id),
        )
        follower = self.followers[server_id] = OutputFollower(self, server_id, container_id, since, run)
        follower.start()

    def subscribe(self):
        """The node's events for our game containers from now on (replayed from the request's own start)."""
        events = self.client.follow_events(labels=GAME_LABELS, since=time.time())
        self.streams.add(events)
        return events

    def owners(self, container_ids) -> dict[str, str]:
        """container id → server id for the containers of this node that the panel created for this
        node's servers; any other container (a forged label or name, another node's server) maps to none."""
        return servers_of(self.node_id, container_ids)
