"""The monitor on a real engine: output fan-out, throttling, stats, and no state lost across restarts."""

import time
from datetime import timedelta

import docker
import pytest
from django.utils import timezone

from nodes.monitor import Monitor
from servers import console
from servers.models import Server, ServerMetric
from tests.conftest import require_env
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create, wait_for_line

S = Server.Status


@pytest.fixture
def running(client_for, customer, game_node, game_template, monitor):
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    return wait_status(server, S.RUNNING), api


def engine():
    return docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))


def test_a_flood_is_throttled_with_a_notice(running, settings):
    server, api = running
    settings.CONSOLE_LINES_PER_100MS = 200
    settings.CONSOLE_HISTORY_LINES = 50_000  # keep everything, to count what got through
    api.post(f"/api/servers/{server.pk}/command", {"command": "flood 20000"}, format="json")
    time.sleep(2)  # the flood's last lines may fall in a throttled window; a later line gets through
    api.post(f"/api/servers/{server.pk}/command", {"command": "say after the flood"}, format="json")
    wait_for_line(server, "[Server] after the flood", timeout=30)
    entries = console.history(server.pk, limit=50_000)
    assert any("outputting console data too quickly" in e["data"] for e in entries)
    assert sum(e["data"].startswith("flood line") for e in entries) < 20_000


def test_the_history_stays_bounded(running, settings):
    server, api = running
    api.post(f"/api/servers/{server.pk}/command", {"command": "flood 1500"}, format="json")
    wait_for_line(server, "Flood of 1500 lines done", timeout=30)
    assert len(console.history(server.pk, limit=50_000)) == settings.CONSOLE_HISTORY_LINES


def test_stats_are_published_to_subscribers(running, settings):
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    server, _ = running
    settings.STATS_INTERVAL_SECONDS = 0.3
    layer = get_channel_layer()

    async def next_stats():  # the layer keeps channels per event loop: one loop for all of it
        channel = await layer.new_channel()
        await layer.group_add(console.group_name(server.pk), channel)
        while True:
            message = await asyncio.wait_for(layer.receive(channel), timeout=15)
            if message["type"] == "resource_stats":
                return message

    message = async_to_sync(next_stats)()
    assert message["serverId"] == str(server.pk)
    assert message["cpu"] >= 0 and message["memoryMb"] >= 0 and message["networkReceived"] >= 0


def test_the_logs_endpoint_reads_the_history(running):
    server, api = running
    api.post(f"/api/servers/{server.pk}/command", {"command": "say from the api"}, format="json")
    wait_for_line(server, "[Server] from the api")
    data = api.get(f"/api/servers/{server.pk}/logs?limit=1000").json()["data"]
    assert any(line["data"] == "[Server] from the api\n" and line["stream"] == "stdout" for line in data)
    system = api.get(f"/api/servers/{server.pk}/logs?stream=system").json()["data"]
    assert system and all(line["stream"] == "system" for line in system)
    assert api.get(f"/api/servers/{server.pk}/logs?stream=video").status_code == 400


def test_a_crash_is_seen_and_handled_by_the_policy(running):
    server, api = running
    Server.objects.filter(pk=server.pk).update(restart_policy="never")
    api.post(f"/api/servers/{server.pk}/command", {"command": "crash"}, format="json")
    server = wait_status(server, S.CRASHED)
    assert server.crash_count == 1
    assert "exit code 1" in "".join(e["data"] for e in console.history(server.pk))


def test_nothing_is_lost_while_the_monitor_is_down(running, monitor):
    server, _ = running
    monitor.stop(wait=10)
    engine().containers.get(server.container_name).stop(timeout=5)  # behind the panel's back
    fresh = Monitor()
    fresh.sync()
    try:
        server = wait_status(server, S.STOPPED, S.CRASHED, timeout=10)
    finally:
        fresh.stop(wait=10)

    engine().containers.get(server.container_name).start()  # started behind the panel's back, monitor down
    again = Monitor()
    again.sync()
    try:
        wait_status(server, S.RUNNING, timeout=10)
    finally:
        again.stop(wait=10)


@pytest.mark.django_db
class TestMetricsEndpoint:
    def test_ranges_and_downsampling(self, client_for, customer, game_template, make_node):
        from nodes.models import Allocation

        node = make_node(engine=1, via="unix")
        server = Server.objects.create(
            name="m",
            owner=customer,
            node=node,
            template=game_template,
            docker_image="x",
            allocated_memory_mb=128,
            allocated_cpu_cores=1,
            allocated_disk_mb=128,
        )
        Allocation.objects.create(node=node, ip="127.0.0.1", port=34500, server=server, is_primary=True)
        now = timezone.now()
        ServerMetric.objects.bulk_create(
            [
                ServerMetric(
                    server=server,
                    created_at=now - timedelta(minutes=i),
                    cpu=i % 100,
                    memory_mb=100 + i,
                    network_received=i,
                    network_sent=i,
                )
                for i in range(600)
            ]
        )
        api = client_for(customer)
        hour = api.get(f"/api/servers/{server.pk}/metrics?range=1h").json()["data"]
        assert len(hour["points"]) == 60 and {"cpu", "memoryMb", "createdAt"} <= set(hour["points"][0])
        day = api.get(f"/api/servers/{server.pk}/metrics?range=24h").json()["data"]
        assert 0 < len(day["points"]) <= 120
        assert api.get(f"/api/servers/{server.pk}/metrics?range=1y").status_code == 400


# --- A ready line written at once is seen, once (issue 9, item 8) ---------------------------------


def test_a_ready_line_written_at_once_is_never_missed_nor_seen_twice(
    client_for, customer, game_node, game_template, monitor
):
    """The game's very first line is its ready line: it is written a few ms before the engine records the
    start, so reading from the start event (or StartedAt) lost it and left the server starting."""
    game_template.ready_pattern = "[INFO] Starting test game server"  # the first thing the game prints
    game_template.save()
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED)
    runs = 6
    for run in range(runs):
        api.post(f"/api/servers/{server.pk}/start")
        wait_status(server, S.RUNNING, timeout=10)
        wait_for_line(server, "Done (")
        api.post(f"/api/servers/{server.pk}/stop")
        wait_status(server, S.STOPPED)
        history = "".join(e["data"] for e in console.history(server.pk, limit=5000))
        # Every run's lines once: neither this run's first line lost, nor the previous run's read again.
        assert history.count("[INFO] Starting test game server") == run + 1, history
        assert history.count("[INFO] Stopping server") == run + 1, history


@pytest.mark.parametrize(
    ("state", "last_exit", "last_output", "since"),
    [
        # running after an earlier run: from just after that run's end, at nanosecond precision
        (
            {"StartedAt": "2026-12-01T10:31:48.159965717Z", "FinishedAt": "2026-12-01T10:31:40.000000005Z"},
            None,
            None,
            "1796121100.000000006",
        ),
        # the container's first run: its whole log
        (
            {"StartedAt": "2026-12-01T10:31:48.159965717Z", "FinishedAt": "0001-01-01T00:00:00Z"},
            None,
            None,
            "0",
        ),
        # the previous run's last line was stamped after its FinishedAt: read from after that line
        (
            {"StartedAt": "2026-12-01T10:31:48.159965717Z", "FinishedAt": "2026-12-01T10:31:40.000000005Z"},
            None,
            b"2026-12-01T10:31:40.000400000Z",
            "1796121100.000400001",
        ),
        # this run is over already: the previous run's end as its die event told
        (
            {"StartedAt": "2026-12-01T10:31:48.159965717Z", "FinishedAt": "2026-12-01T10:31:48.2Z"},
            1796121105_000000000,
            None,
            "1796121105.000000001",
        ),
        # nothing known of the previous run: a second before the start
        (
            {"StartedAt": "2026-12-01T10:31:48.159965717Z", "FinishedAt": "2026-12-01T10:31:48.2Z"},
            None,
            None,
            "1796121107.159965718",
        ),
    ],
)
def test_a_runs_output_is_read_from_the_previous_runs_end(state, last_exit, last_output, since):
    from nodes.monitor import _output_since

    assert _output_since(state, last_exit, last_output) == since


def test_docker_times_are_read_to_the_nanosecond():
    from nodes.monitor import _nanos

    assert _nanos("2026-12-01T10:31:48.159965717Z") == 1796121108_159965717
    assert _nanos("2026-12-01T10:31:48Z") == 1796121108_000000000
    assert _nanos("2026-12-01T10:31:48.5Z") == 1796121108_500000000
    assert _nanos("0001-01-01T00:00:00Z") == 0
    assert _nanos("garbage") == 0 and _nanos(None) == 0
