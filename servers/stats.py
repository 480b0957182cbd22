"""Resource sampling of running game containers: live values, `resource_stats` messages, and a history
point per METRICS_POINT_SECONDS (what graphs and alert rules read).

History points lie on a fixed grid from a server's first sample: a point is written at the first
sample at or after each boundary (so up to one STATS_INTERVAL_SECONDS late) and the next boundary is
METRICS_POINT_SECONDS after the previous one, not after the sample that wrote it (which would space
points (ceil(P/I)+1)·I apart: 65 s at 5 s sampling, 100 s at 25 s). After a pause longer than a point
(no samples) the grid moves on to the latest boundary instead of writing a burst of points."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from nodes.client import ContainerStats
from nodes.models import NodeMetric
from servers import console
from servers.models import Server, ServerMetric
from servers.ownership import owned_row

logger = logging.getLogger(__name__)

RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
POINTS = 120  # at most this many points per answer


@dataclass
class Sampler:
    """Turns successive one-shot stats samples of one container into CPU % and history points."""

    previous: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)  # server id → samples since the last history point
    clock: Callable[[], float] = time.monotonic

    def sample(self, server_id: str, stats: ContainerStats) -> dict | None:
        before = self.previous.get(server_id)
        self.previous[server_id] = (stats.cpu_total, stats.system_cpu)
        if before is None or stats.system_cpu <= before[1]:
            return None  # the first sample only sets the baseline
        share = (stats.cpu_total - before[0]) / (stats.system_cpu - before[1])
        cpu = round(100.0 * share * stats.online_cpus, 1)
        return {
            "cpu": max(cpu, 0.0),
            "memory_mb": stats.memory_used // (1024 * 1024),
            "network_received": stats.network_received,
            "network_sent": stats.network_sent,
        }

    def record(self, server_id: str, values: dict, *, node_id, container_id: str) -> None:
        """Store the live values, publish them, and write a history point every METRICS_POINT_SECONDS;
        only while the sampled container is still the server's own on the node that reported it."""
        updated = owned_row(node_id, container_id, server_id).update(
            cpu_usage=values["cpu"],
            memory_usage_mb=values["memory_mb"],
            network_received=values["network_received"],
            network_sent=values["network_sent"],
        )
        if not updated:  # moved to another node or recreated since the sample was asked for
            self.forget(server_id)
            return
        console._send(
            server_id,
            {
                "type": "resource_stats",
                "serverId": str(server_id),
                "cpu": values["cpu"],
                "memoryMb": values["memory_mb"],
                "networkSent": values["network_sent"],
                "networkReceived": values["network_received"],
            },
        )
        now = self.clock()
        batch = self.pending.setdefault(server_id, {"since": now, "samples": []})
        batch["samples"].append(values)
        every = settings.METRICS_POINT_SECONDS
        if now - batch["since"] >= every:
            write_point(server_id, batch["samples"])
            # the latest grid boundary at or before now (one step after the last, unless samples paused)
            since = batch["since"] + every * ((now - batch["since"]) // every) if every > 0 else now
            self.pending[server_id] = {"since": since, "samples": []}

    def forget(self, server_id: str) -> None:
        self.previous.pop(server_id, None)
        self.pending.pop(server_id, None)


def write_point(server_id, samples: list[dict]) -> ServerMetric:
    """One history point: the samples' average CPU and memory, the latest network counters and the
    server's latest disk measure (none until the disk was first measured)."""
    disk_mb, checked_at = Server.objects.filter(pk=server_id).values_list(
        "disk_usage_mb", "disk_checked_at"
    ).first() or (None, None)
    return ServerMetric.objects.create(
        server_id=server_id,
        created_at=timezone.now(),
        cpu=round(sum(s["cpu"] for s in samples) / len(samples), 1),
        memory_mb=sum(s["memory_mb"] for s in samples) // len(samples),
        network_received=samples[-1]["network_received"],
        network_sent=samples[-1]["network_sent"],
        disk_mb=disk_mb if checked_at is not None else None,
    )


def metrics_prune() -> int:
    """Drop server and node history older than METRICS_RETENTION_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.METRICS_RETENTION_DAYS)
    servers = ServerMetric.objects.filter(created_at__lt=cutoff).delete()[0]
    return servers + NodeMetric.objects.filter(created_at__lt=cutoff).delete()[0]
