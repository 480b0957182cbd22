"""The monitor: one watcher per online node follows Docker events and each running server's output.

Events drive state (start → starting, the template's ready line → running, exit → stopped or a
crash handed to the crash policy). On every (re)connection the watcher reconciles each server with
its container, so nothing that happened while the monitor was away is lost.
"""

import logging
import re
import threading
import time

import docker.errors
from django.db import close_old_connections, connections

from nodes.client import NodeUnavailable, client_for
from nodes.models import Node

logger = logging.getLogger(__name__)

LABEL = "hearth.server"


def _ready_matcher(template):
    pattern = template.ready_pattern
    if not pattern:
        return lambda text: True
    if template.ready_pattern_is_regex:
        compiled = re.compile(pattern)
        return lambda text: bool(compiled.search(text))
    return lambda text: pattern in text


class OutputFollower(threading.Thread):
    """Reads one stream (stdout or stderr) of one server's container, once for every viewer."""

    def __init__(self, watcher: "NodeWatcher", server_id: str, container_id: str, stream: str, since: int):
        super().__init__(daemon=True, name=f"follow-{server_id[:8]}-{stream}")
        self.watcher, self.server_id, self.container_id, self.stream, self.since = (
            watcher,
            server_id,
            container_id,
            stream,
            since,
        )

    def run(self):
        from servers import console
        from servers.models import Server
        from servers.states import set_status

        close_old_connections()
        server = Server.objects.select_related("template").filter(pk=self.server_id).first()
        if server is None:
            return
        ready = _ready_matcher(server.template)
        waiting = self.stream == "stdout" and server.status == Server.Status.STARTING
        try:
            chunks = self.watcher.client.docker.api.logs(
                self.container_id,
                stdout=self.stream == "stdout",
                stderr=self.stream == "stderr",
                stream=True,
                follow=True,
                since=self.since,
            )
            buffer = ""
            for chunk in chunks:
                buffer += chunk.decode(errors="replace")
                *complete, buffer = buffer.split("\n")
                for text in complete:
                    console.write(self.server_id, text, stream=self.stream)
                    if waiting and ready(text):
                        waiting = False
                        set_status(self.server_id, Server.Status.RUNNING, expect={Server.Status.STARTING})
                if self.watcher.stopping.is_set():
                    return
        except Exception as exc:  # the container went away or the node dropped: events will tell
            logger.debug("Output of %s ended: %s", self.server_id, exc)
        finally:
            self.watcher.followers.pop((self.server_id, self.stream), None)
            connections.close_all()


class NodeWatcher(threading.Thread):
    """Follows one node; reconnects with backoff when it drops."""

    def __init__(self, node_id: str, stopping: threading.Event):
        super().__init__(daemon=True, name=f"watch-{node_id[:8]}")
        self.node_id, self.stopping = node_id, stopping
        self.followers: dict[tuple[str, str], OutputFollower] = {}
        self.client = None
        self.oom: set[str] = set()

    def run(self):
        try:
            self._watch()
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
                self.reconcile()
                backoff = 1.0
                self.follow_events()
            except (NodeUnavailable, docker.errors.DockerException, OSError) as exc:
                logger.info("monitor: node %s unavailable (%s); retrying in %.0f s", node.name, exc, backoff)
            except Exception:
                logger.exception("monitor: watcher for node %s failed", node.name)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def follow(self, server_id: str, container_id: str, since: int) -> None:
        for stream in ("stdout", "stderr"):
            if (server_id, stream) not in self.followers:
                follower = OutputFollower(self, server_id, container_id, stream, since)
                self.followers[(server_id, stream)] = follower
                follower.start()

    def reconcile(self) -> None:
        """Bring every server on this node in line with its container, after any gap in events."""
        from servers.crash import server_exited
        from servers.models import Server
        from servers.states import set_status

        S = Server.Status
        with self.client.guard("listing containers"):
            containers = {
                c.labels.get(LABEL): c
                for c in self.client.docker.containers.list(
                    all=True, filters={"label": [LABEL, "hearth.role=game"]}
                )
            }
        for server in Server.objects.filter(node_id=self.node_id).select_related("template"):
            container = containers.get(str(server.pk))
            running = container is not None and container.status == "running"
            if running:
                started = container.attrs["State"].get("StartedAt", "")
                if server.status in (S.STOPPED, S.CRASHED):
                    set_status(server.pk, S.RUNNING, expect={S.STOPPED, S.CRASHED})  # started behind our back
                self.follow(str(server.pk), container.id, _epoch(started))
            elif server.status in (S.RUNNING, S.STARTING, S.STOPPING):
                if server.status == S.STARTING and container is not None and container.status == "created":
                    continue  # the start task is about to start it
                code = container.attrs["State"].get("ExitCode") if container is not None else None
                oom = bool(container is not None and container.attrs["State"].get("OOMKilled"))
                if server.status == S.STOPPING or code is None:
                    set_status(server.pk, S.STOPPED, expect={S.RUNNING, S.STARTING, S.STOPPING})
                else:
                    server_exited(server_id=server.pk, exit_code=code, oom=oom)

    def follow_events(self) -> None:
        from servers.crash import server_exited
        from servers.models import Server
        from servers.states import set_status

        filters = {"type": "container", "label": [LABEL, "hearth.role=game"]}
        events = self.client.docker.events(decode=True, filters=filters, since=int(time.time()) - 1)
        try:
            for event in events:
                if self.stopping.is_set():
                    return
                close_old_connections()
                action = event.get("Action") or event.get("status")
                attrs = event.get("Actor", {}).get("Attributes", {})
                server_id, container_id = attrs.get(LABEL), event.get("id")
                if not server_id:
                    continue
                if action == "start":
                    set_status(
                        server_id,
                        Server.Status.STARTING,
                        expect={Server.Status.STOPPED, Server.Status.CRASHED},
                    )
                    self.follow(server_id, container_id, int(event.get("time", time.time())) - 1)
                elif action == "oom":
                    self.oom.add(server_id)
                elif action == "die":
                    code = int(attrs.get("exitCode", 0))
                    server_exited(server_id=server_id, exit_code=code, oom=server_id in self.oom)
                    self.oom.discard(server_id)
        finally:
            events.close()


def _epoch(timestamp: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(timestamp[:26].rstrip("Z") + "+00:00").timestamp())
    except ValueError:
        return int(time.time())


class Monitor:
    """Keeps one watcher per online node; called every few seconds by `manage.py monitor`."""

    def __init__(self):
        self.stopping = threading.Event()
        self.watchers: dict[str, NodeWatcher] = {}

    def sync(self) -> None:
        close_old_connections()
        wanted = {str(pk) for pk in Node.objects.filter(is_online=True).values_list("pk", flat=True)}
        for node_id in wanted:
            watcher = self.watchers.get(node_id)
            if watcher is None or not watcher.is_alive():
                self.watchers[node_id] = NodeWatcher(node_id, self.stopping)
                self.watchers[node_id].start()

    def stop(self) -> None:
        self.stopping.set()
