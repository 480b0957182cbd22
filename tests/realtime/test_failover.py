"""Monitors as processes sharing the nodes through leases: one killed mid-flood, the other takes over
its node, catches the history up from the engine's log (no gap, no line twice), and drives the server
from then on."""

import signal
import subprocess
import sys
import time

import pytest

from servers import console
from servers.models import Server
from servers.monitor import leases
from servers.selectors import console_history
from tests.fixtures.browser import Panel, database_env
from tests.polling import wait_for
from tests.realtime.test_monitor import count_in_history, say_and_count_deliveries
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import wait_for_line

S = Server.Status
FLOOD = 60_000
MONITOR_ENV = {
    "HEARTH_CONSOLE_LINES_PER_100MS": "1000000",  # every line recorded, to count them all
    "HEARTH_CONSOLE_HISTORY_LINES": "100000",
    "HEARTH_MONITOR_LEASE_SECONDS": "3",
    "HEARTH_MONITOR_TICK_SECONDS": "1",
}


@pytest.fixture
def monitors(tmp_path):
    """`manage.py monitor` processes, started by `spawn_monitor` and stopped (their logs shown) after."""
    panel = Panel(env={**database_env(), **MONITOR_ENV}, logs=tmp_path)
    yield panel
    for name in list(panel.procs):
        print(f"--- {name}\n{panel.log(name)}", file=sys.stderr)
        panel.stop(name)


def spawn_monitor(monitors: Panel, name: str) -> subprocess.Popen:
    monitors.spawn(name, sys.executable, "manage.py", "monitor")
    return monitors.procs[name][0]


def holder_pid(node_id) -> int | None:
    value = leases.holder(node_id)
    return int(value.split(":")[1]) if value else None


def test_a_killed_monitor_is_replaced_and_the_history_has_every_line_once(running, monitor, monitors):
    server, api = running
    monitor.stop(wait=10)  # from here on the node is the two processes' to share
    processes = {p.pid: p for p in (spawn_monitor(monitors, name) for name in ("monitor-a", "monitor-b"))}
    wait_for(lambda: holder_pid(server.node_id) in processes, 30, "a monitor process to take the node")
    wait_for(
        lambda: console.connection().zcard(f"{leases._prefix()}:alive") == 2,
        30,
        "both monitors to be alive",
    )
    doomed = holder_pid(server.node_id)
    history = console.history_key(server.pk)
    before = console.connection().llen(history)

    api.post(f"/api/servers/{server.pk}/command", {"command": f"flood {FLOOD}"}, format="json")
    wait_for(lambda: console.connection().llen(history) - before >= 2000, 30, "the flood to begin")
    processes[doomed].send_signal(signal.SIGKILL)
    processes[doomed].wait(10)
    at_kill = console.connection().llen(history) - before
    killed_at = time.monotonic()

    wait_for(lambda: holder_pid(server.node_id) not in (None, doomed), 15, "the other monitor to take over")
    took_over = time.monotonic() - killed_at
    wait_for_line(server, f"[INFO] Flood of {FLOOD} lines done", timeout=60)

    flood = [
        int(entry["data"].split()[2])
        for entry in console_history(server.pk, limit=100_000)
        if entry["data"].startswith("flood line ")
    ]
    assert at_kill < FLOOD, "the monitor was killed after the flood was recorded: nothing to catch up"
    assert took_over < 10
    assert sorted(flood) == list(range(1, FLOOD + 1))  # each line once: none lost, none twice
    assert flood == sorted(flood)  # in the order the game printed them

    server.refresh_from_db()
    assert server.status == S.RUNNING
    assert say_and_count_deliveries(server, api, "after the failover") == 1  # stdin follows the lease
    assert count_in_history(server, "[Server] after the failover") == 1
    api.post(f"/api/servers/{server.pk}/stop")
    wait_status(server, S.STOPPED)  # the survivor saw the game exit


def test_two_monitors_share_the_nodes_and_one_stopping_hands_its_nodes_over(
    transactional_db, game_node, monitors
):
    nodes = [str(game_node(engine).pk) for engine in (1, 2)]  # one engine is one node
    first = spawn_monitor(monitors, "first")
    wait_for(lambda: all(leases.holder(n) for n in nodes), 30, "the first monitor to take both nodes")
    assert {holder_pid(n) for n in nodes} == {first.pid}
    second = spawn_monitor(monitors, "second")
    wait_for(lambda: {holder_pid(n) for n in nodes} == {first.pid, second.pid}, 30, "one node each")
    first.send_signal(signal.SIGTERM)  # a clean stop releases at once: no waiting out the lease
    first.wait(15)
    wait_for(lambda: {holder_pid(n) for n in nodes} == {second.pid}, 10, "the second to take both")
