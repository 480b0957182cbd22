"""The metric history alert rules read: a server point per METRICS_POINT_SECONDS with the last disk
measure, a node point per successful health check, both pruned after METRICS_RETENTION_DAYS."""

from datetime import timedelta

from django.utils import timezone

from nodes.health import store_report
from nodes.models import NodeMetric
from servers.models import ServerMetric
from servers.stats import Sampler, metrics_prune
from tests.alerts import test_evaluation as base
from tests.alerts.test_events import failed_report, ok_report

alert_node, make_server = base.alert_node, base.make_server  # fixtures


def sample(cpu: float, memory_mb: int) -> dict:
    return {"cpu": cpu, "memory_mb": memory_mb, "network_received": 10, "network_sent": 20}


def test_a_server_point_every_metrics_point_seconds_with_the_last_disk_measure(make_server, settings):
    server = make_server(container_id="c0ffee")
    sampler = Sampler()
    record = lambda values: sampler.record(  # noqa: E731
        server.pk, values, node_id=server.node_id, container_id="c0ffee"
    )
    settings.METRICS_POINT_SECONDS = 3600
    record(sample(100, 200))
    assert not ServerMetric.objects.exists()  # not yet: an hour per point
    settings.METRICS_POINT_SECONDS = 0
    record(sample(50, 100))
    point = ServerMetric.objects.get()
    assert (point.cpu, point.memory_mb, point.disk_mb) == (75.0, 150, None)  # the disk was never measured
    server.disk_usage_mb, server.disk_checked_at = 700, timezone.now()
    server.save()
    record(sample(10, 10))
    assert ServerMetric.objects.latest("created_at").disk_mb == 700


def test_a_node_point_per_successful_health_check(alert_node):
    node = alert_node()
    store_report(node, ok_report(node), failures_to_offline=3)
    store_report(node, failed_report(), failures_to_offline=3)
    point = NodeMetric.objects.get(node=node)
    assert (point.cpu, point.memory, point.disk) == (12.5, 25.0, 90.0)
    node.refresh_from_db()
    assert point.created_at == node.last_seen_at


def test_node_and_server_history_are_pruned_alike(alert_node, make_server, settings):
    settings.METRICS_RETENTION_DAYS = 7
    server, node = make_server(), alert_node()
    old = timezone.now() - timedelta(days=7, minutes=1)
    for at in (old, timezone.now()):
        base.points(server, [10], end=at)
        base.points(node, [10], end=at)
    assert metrics_prune() == 2
    assert ServerMetric.objects.count() == 1 and NodeMetric.objects.count() == 1


def test_server_points_lie_metrics_point_seconds_apart_whatever_the_sampling_interval(make_server, settings):
    """Sampling every 25 s for 10 minutes: a point a minute (the grid), not one per 100 s."""
    settings.METRICS_POINT_SECONDS = 60
    server = make_server(container_id="c0ffee")
    clock = [0.0]
    sampler = Sampler(clock=lambda: clock[0])
    while clock[0] <= 600:
        sampler.record(server.pk, sample(10, 10), node_id=server.node_id, container_id="c0ffee")
        clock[0] += 25
    assert ServerMetric.objects.filter(server=server).count() == 10
    clock[0] += 3600  # samples paused an hour: one point, then the grid's latest boundary (no burst)
    for _ in range(3):
        sampler.record(server.pk, sample(10, 10), node_id=server.node_id, container_id="c0ffee")
        clock[0] += 25
    assert ServerMetric.objects.filter(server=server).count() == 12  # at +0 and +50 s, not at each sample
