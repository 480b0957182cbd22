"""The monitor process (`manage.py monitor`): one NodeWatcher per online node whose lease it holds
(servers/monitor/leases.py), and none for any other. Several processes share the nodes."""

import contextlib
import logging
import threading
import time

import redis
from django.conf import settings
from django.db import close_old_connections, connections

from nodes.health import node_check_health
from nodes.models import Node
from servers.monitor import leases
from servers.monitor.leases import Lease
from servers.monitor.watcher import NodeWatcher

logger = logging.getLogger(__name__)


class Monitor:
    """Keeps one watcher per online node it holds the lease of; called every MONITOR_TICK_SECONDS by
    `manage.py monitor`. Registration and the health check keep one engine to one online node; the
    leases keep one monitor to one node. A thread renews the leases every third of their time, so a
    slow tick (a health check of an unreachable node) never lets one lapse."""

    def __init__(self):
        self.id = leases.monitor_id()
        self.stopping = threading.Event()
        self.watchers: dict[str, NodeWatcher] = {}
        self.identified: set[str] = set()  # nodes without a known engine checked once by this monitor
        self.keeper = threading.Thread(target=self._keep_leases, daemon=True, name="monitor-leases")
        self.keeper.start()

    def sync(self) -> None:
        if self.stopping.is_set():  # a tick racing stop() must not start new watchers
            return
        close_old_connections()
        self._identify_engines()
        online = sorted(str(pk) for pk in Node.objects.filter(is_online=True).values_list("pk", flat=True))
        connections.close_all()  # back to the pool until the next tick (and not lost if this thread ends)
        for node_id in set(self.watchers) - set(online):  # offline, deleted, or another node's engine
            self._retire(self.watchers.pop(node_id))
        for node_id, watcher in list(self.watchers.items()):
            if watcher.lease.lost:  # another monitor has it, or Redis forgot it and someone took it
                logger.info("monitor: node %s is no longer ours to watch", node_id)
                self._retire(self.watchers.pop(node_id))
        try:
            self._take_share(online)
        except redis.RedisError as exc:  # the nodes stay with whoever watches them until Redis is back
            logger.warning("monitor: cannot reach Redis to share the nodes: %s", exc)

    def _take_share(self, online: list[str]) -> None:
        quota = leases.share(len(online), leases.live_monitors(self.id))
        if len(self.watchers) > quota:  # a monitor joined: hand it one node per tick
            self._retire(self.watchers.pop(max(self.watchers)))
        for node_id in online:
            watcher = self.watchers.get(node_id)
            if watcher is not None and watcher.is_alive():
                continue
            if watcher is not None:  # its thread ended (the row was deleted meanwhile): ours still
                lease = watcher.lease
            elif len(self.watchers) >= quota or (lease := Lease.acquire(node_id, self.id)) is None:
                continue
            watcher = NodeWatcher(node_id, threading.Event(), lease)
            watcher.start()  # before it is listed: stop() joins whatever it finds there
            self.watchers[node_id] = watcher
            if self.stopping.is_set():  # stop() came while this tick ran: it may not have seen this one
                self._retire(watcher)

    def _keep_leases(self) -> None:
        while not self.stopping.wait(settings.MONITOR_LEASE_SECONDS / 3):
            for watcher in list(self.watchers.values()):
                with contextlib.suppress(redis.RedisError):  # kept, renewed or re-taken once Redis is back
                    watcher.lease.renew()

    def _identify_engines(self) -> None:
        """Online rows from before engines were recorded are checked once before being watched: the
        check records their engine, or takes a second row on an engine that already is a node offline,
        so no engine is ever followed twice."""
        unknown = Node.objects.filter(is_online=True, engine_id="").exclude(pk__in=self.identified)
        for node in unknown.order_by("created_at"):
            self.identified.add(str(node.pk))
            node_check_health(node=node)

    @staticmethod
    def _retire(watcher: NodeWatcher) -> None:
        """Stop the watcher, then free its node for the next holder, who reads on from the cursor."""
        watcher.stopping.set()
        watcher.close()
        watcher.lease.release()

    def stop(self, wait: float = 0) -> None:
        """Stop every watcher; with `wait`, also wait up to that many seconds for their threads to end."""
        self.stopping.set()  # before the watchers are listed: a tick adding one later retires it itself
        for watcher in list(self.watchers.values()):
            self._retire(watcher)
        leases.leave(self.id)
        deadline = time.monotonic() + wait
        for watcher in list(self.watchers.values()):
            for thread in [watcher, *watcher.followers.values(), *watcher.threads]:
                thread.join(max(0.0, deadline - time.monotonic()))
