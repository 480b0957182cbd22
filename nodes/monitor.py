"""The monitor: one watcher per online node follows Docker events and each running server's output.

Events drive state (start → starting, the template's ready line → running, exit → stopped or a
crash handed to the crash policy). On every (re)connection the watcher reconciles each server with
its container, so nothing that happened while the monitor was away is lost.

Every container the node reports goes through `NodeWatcher.owners` (servers/ownership.py) first: only
the container the panel created for a server assigned to this node ever moves that server's state,
console, crash count or stats. Labels and names are the node's word and decide nothing.
"""

import contextlib
import json
import logging
import threading
import time

import docker.errors
from django.conf import settings
from django.db import close_old_connections, connections

from nodes.client import NodeUnavailable, client_for
from nodes.dockertime import epoch, nanos, output_since
from nodes.follower import OutputFollower
from nodes.models import Node

logger = logging.getLogger(__name__)

LABEL = "hearth.server"
SAME_RUN_SECONDS = 0.5  # a start event and the container's StartedAt of one run differ by less than this


class NodeWatcher(threading.Thread):
    """Follows one node; reconnects with backoff when it drops."""

    def __init__(self, node_id: str, stopping: threading.Event):
        super().__init__(daemon=True, name=f"watch-{node_id[:8]}")
        self.node_id, self.stopping = node_id, stopping
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

    def close(self) -> None:
        """Unblock every read of this watcher, so its threads end now rather than at the next event."""
        for stream in list(self.streams):
            with contextlib.suppress(Exception):
                stream.close()

    def run(self):
        self.threads = [
            threading.Thread(target=self._sample_stats, daemon=True, name=f"stats-{self.node_id[:8]}"),
            threading.Thread(target=self._relay_input, daemon=True, name=f"stdin-{self.node_id[:8]}"),
        ]
        for thread in self.threads:
            thread.start()
        try:
            self._watch()
        finally:
            connections.close_all()

    def _relay_input(self) -> None:
        """Console commands for this node's servers arrive on Redis; each goes to the game's one stdin attach."""
        from servers import console
        from servers.ownership import container_of

        sockets = self.stdin_sockets
        pubsub = console._redis().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(console.stdin_channel(self.node_id))
        try:
            while not self.stopping.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is None or self.client is None:
                    continue
                command = json.loads(message["data"])
                server_id, data = command["server"], command["data"].encode()
                for attempt in (1, 2):  # a stale attach (the container restarted) is reopened once
                    try:
                        if server_id not in sockets:
                            try:
                                target = container_of(self.node_id, server_id)  # never by name: see ownership
                            finally:  # back to the pool: this thread lives as long as the watcher
                                connections.close_all()
                            if target is None:
                                raise LookupError("the server has no container of its own on this node")
                            with self.client.guard("attaching to the console"):
                                sockets[server_id] = self.client.docker.api.attach_socket(
                                    target, params={"stdin": 1, "stream": 1}
                                )
                        getattr(sockets[server_id], "_sock", sockets[server_id]).sendall(data)
                        break
                    except Exception as exc:
                        with contextlib.suppress(Exception):
                            sockets.pop(server_id).close()
                        if attempt == 2:
                            logger.info("monitor: command for %s not delivered: %s", server_id, exc)
        finally:
            connections.close_all()
            pubsub.close()
            for sock in sockets.values():
                with contextlib.suppress(Exception):
                    sock.close()

    def drop_stdin(self, server_id: str) -> None:
        """A started or exited container needs a new attach: writes to the old one vanish silently."""
        sock = self.stdin_sockets.pop(server_id, None)
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def _sample_stats(self) -> None:
        """Every STATS_INTERVAL_SECONDS: one-shot stats of each running server → live values and history."""
        from servers.stats import Sampler

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
                        with self.client.guard("sampling stats"):
                            stats = self.client.docker.api.stats(container_id, stream=False, one_shot=True)
                        if values := sampler.sample(server_id, stats):
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
                    self.reconcile()
                    backoff = 1.0
                    self.follow_events(events)
                finally:
                    self.streams.discard(events)
                    events.close()
            except Exception as exc:
                if self.stopping.is_set():  # stop() closed the stream under us
                    return
                if isinstance(exc, NodeUnavailable | docker.errors.DockerException | OSError):
                    logger.info(
                        "monitor: node %s unavailable (%s); retrying in %.0f s", node.name, exc, backoff
                    )
                else:
                    logger.exception("monitor: watcher for node %s failed", node.name)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def follow(self, server_id: str, container_id: str, state: dict) -> None:
        """Read this run's output once. A follower still draining the previous run is left to finish."""
        self.running[server_id] = container_id
        run = nanos(state.get("StartedAt"))
        current = self.followers.get(server_id)
        if (
            current is not None
            and current.is_alive()
            and (current.container_id, current.run_started) == (container_id, run)
        ):
            return
        since = output_since(state, self.exits.get(container_id), self.last_output.get(container_id))
        self.followers[server_id] = OutputFollower(self, server_id, container_id, since, run)
        self.followers[server_id].start()

    def reconcile(self) -> None:
        """Bring every server on this node in line with its container, after any gap in events."""
        from servers.crash import server_exited
        from servers.models import Server
        from servers.states import set_status

        S = Server.Status
        with self.client.guard("listing containers"):
            listed = self.client.docker.containers.list(
                all=True, filters={"label": [LABEL, "hearth.role=game"]}
            )
        owners = self.owners(c.id for c in listed)
        containers = {owners[c.id]: c for c in listed if c.id in owners}  # one each: a server has one id
        self.reconciled = {
            server_id: {
                "start": epoch(c.attrs["State"]["StartedAt"]),
                "die": epoch(c.attrs["State"]["FinishedAt"]),
            }
            for server_id, c in containers.items()
        }
        for c in containers.values():
            if finished := nanos(c.attrs["State"].get("FinishedAt")):
                self.exits[c.id] = finished
        for server in Server.objects.filter(node_id=self.node_id).select_related("template"):
            container = containers.get(str(server.pk))
            running = container is not None and container.status == "running"
            if running:
                if server.status in (S.STOPPED, S.CRASHED):
                    set_status(server.pk, S.RUNNING, expect={S.STOPPED, S.CRASHED})  # started behind our back
                self.follow(str(server.pk), container.id, container.attrs["State"])
            elif server.status in (S.RUNNING, S.STARTING, S.STOPPING):
                if server.status == S.STARTING and container is not None and container.status == "created":
                    continue  # the start task is about to start it
                code = container.attrs["State"].get("ExitCode") if container is not None else None
                oom = bool(container is not None and container.attrs["State"].get("OOMKilled"))
                if server.status == S.STOPPING or code is None:
                    set_status(server.pk, S.STOPPED, expect={S.RUNNING, S.STARTING, S.STOPPING})
                else:
                    server_exited(server_id=server.pk, exit_code=code, oom=oom)

    def subscribe(self):
        """The node's events for our game containers from now on (replayed from the request's own start)."""
        filters = {"type": "container", "label": [LABEL, "hearth.role=game"]}
        events = self.client.follow_events(filters, since=time.time())
        self.streams.add(events)
        return events

    def owners(self, container_ids) -> dict[str, str]:
        """container id → server id for the containers of this node that the panel created for this
        node's servers; any other container (a forged label or name, another node's server) maps to none."""
        from servers.ownership import servers_of

        return servers_of(self.node_id, container_ids)

    def already_reconciled(self, server_id: str, action: str, when: float) -> bool:
        """Was this start or exit already seen by the reconcile? Then replaying it would undo newer state."""
        stamps = self.reconciled.get(server_id, {})
        seen = stamps.get(action)
        if seen is None or abs(when - seen) >= SAME_RUN_SECONDS:
            return False
        del stamps[action]  # each transition is replayed at most once
        return True

    def follow_events(self, events) -> None:
        from servers.crash import server_exited
        from servers.models import Server
        from servers.states import set_status

        for event in events:
            if self.stopping.is_set():
                return
            close_old_connections()
            action = event.get("Action") or event.get("status")
            attrs = event.get("Actor", {}).get("Attributes", {})
            container_id = event.get("id") or ""
            server_id = self.owners([container_id]).get(container_id)  # the label is the node's word: unused
            when = event.get("timeNano", event.get("time", time.time()) * 1e9) / 1e9
            if not server_id or self.already_reconciled(server_id, action, when):
                continue
            if action in ("start", "die"):
                self.drop_stdin(server_id)
            if action == "start":
                set_status(
                    server_id,
                    Server.Status.STARTING,
                    expect={Server.Status.STOPPED, Server.Status.CRASHED},
                )
                # From the end of the previous run, read from the container itself: the game writes before
                # the engine records StartedAt and sends this event (by a few ms, measured), so reading from
                # either would lose a "ready" line written at once, and the server would stay starting.
                state = self.client.container_state(container_id)
                if state is not None:
                    self.follow(server_id, container_id, state)
            elif action == "oom":
                self.oom.add(server_id)
            elif action == "die":
                self.running.pop(server_id, None)
                self.exits[container_id] = int(event.get("timeNano") or when * 1e9)
                code = int(attrs.get("exitCode", 0))
                server_exited(server_id=server_id, exit_code=code, oom=server_id in self.oom)
                self.oom.discard(server_id)


class Monitor:
    """Keeps one watcher per online node, and none for any other; called every few seconds by
    `manage.py monitor`. Registration and the health check keep one engine to one online node."""

    def __init__(self):
        self.stopping = threading.Event()
        self.watchers: dict[str, NodeWatcher] = {}
        self.identified: set[str] = set()  # nodes without a known engine checked once by this monitor

    def sync(self) -> None:
        if self.stopping.is_set():  # a tick racing stop() must not start new watchers
            return
        close_old_connections()
        self._identify_engines()
        wanted = {str(pk) for pk in Node.objects.filter(is_online=True).values_list("pk", flat=True)}
        connections.close_all()  # back to the pool until the next tick (and not lost if this thread ends)
        for node_id in set(self.watchers) - wanted:  # offline, deleted, or found to be another node's engine
            self._retire(self.watchers.pop(node_id))
        for node_id in wanted:
            watcher = self.watchers.get(node_id)
            if watcher is None or not watcher.is_alive():
                self.watchers[node_id] = NodeWatcher(node_id, threading.Event())
                self.watchers[node_id].start()

    def _identify_engines(self) -> None:
        """Online rows from before engines were recorded are checked once before being watched: the
        check records their engine, or takes a second row on an engine that already is a node offline,
        so no engine is ever followed twice."""
        from nodes.health import node_check_health

        unknown = Node.objects.filter(is_online=True, engine_id="").exclude(pk__in=self.identified)
        for node in unknown.order_by("created_at"):
            self.identified.add(str(node.pk))
            node_check_health(node=node)

    @staticmethod
    def _retire(watcher: "NodeWatcher") -> None:
        watcher.stopping.set()
        watcher.close()

    def stop(self, wait: float = 0) -> None:
        """Stop every watcher; with `wait`, also wait up to that many seconds for their threads to end."""
        self.stopping.set()
        for watcher in self.watchers.values():
            self._retire(watcher)
        deadline = time.monotonic() + wait
        for watcher in self.watchers.values():
            for thread in [watcher, *watcher.followers.values(), *watcher.threads]:
                thread.join(max(0.0, deadline - time.monotonic()))
