"""The monitor process (`manage.py monitor`): one NodeWatcher per online node, and none for any other."""

import threading
import time

from django.db import close_old_connections, connections

from nodes.health import node_check_health
from nodes.models import Node
from servers.monitor.watcher import NodeWatcher


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
                watcher = self.watchers[node_id] = NodeWatcher(node_id, threading.Event())
                watcher.start()
                if self.stopping.is_set():  # stop() came while this tick ran: it may not have seen this one
                    self._retire(watcher)

    def _identify_engines(self) -> None:
        """Online rows from before engines were recorded are checked once before being watched: the
        check records their engine, or takes a second row on an engine that already is a node offline,
        so no engine is ever followed twice."""
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
        self.stopping.set()  # before the watchers are listed: a tick adding one later retires it itself
        for watcher in list(self.watchers.values()):
            self._retire(watcher)
        deadline = time.monotonic() + wait
        for watcher in list(self.watchers.values()):
            for thread in [watcher, *watcher.followers.values(), *watcher.threads]:
                thread.join(max(0.0, deadline - time.monotonic()))
