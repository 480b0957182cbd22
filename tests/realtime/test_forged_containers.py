"""A node speaks only for its own servers, and only through the containers the panel created (issue 10, item 2).

Whoever has root on a node can start containers carrying any `hearth.server` label and any
`hearth-<uuid>` name. Each test forges such a container on a real engine (the other node's, or the
victim's own with a container id the panel never created) and shows that nothing of the victim moves:
state, console history and messages, crash count, restarts of its real container, stats.
"""

import asyncio
import contextlib
import threading
import time

import docker
import pytest
from channels.layers import get_channel_layer

from nodes.client import client_for as client_for_node
from servers import console, runtime
from servers.models import Server, ServerMetric
from servers.monitor import Monitor
from servers.selectors import console_history
from tests.conftest import require_env
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create, wait_for_line

S = Server.Status
MARK = "FORGED-OUTPUT"
# A game as a forger would fake it: the template's ready line, output, a few seconds of life, a crash.
CRASHING = f'echo "[INFO] Done (0.1s)! {MARK}"; echo "{MARK} line"; sleep 4; echo "{MARK} bye"; exit 1'
LINGERING = f'echo "[INFO] Done (0.1s)! {MARK}"; while true; do echo "{MARK} tick"; sleep 1; done'


def engine(number: int) -> docker.DockerClient:
    return docker.DockerClient(base_url=require_env(f"HEARTH_TEST_DOCKER{number}_URL"))


@pytest.fixture
def forge():
    """Start a forged game container on engine 1 or 2; every one is removed after the test."""
    made: list[tuple[int, str]] = []

    def make(number: int, server: Server, script: str, *, name: str | None = None, labels=None):
        container = engine(number).containers.run(
            require_env("HEARTH_TEST_IMAGE"),
            command=["/bin/sh", "-c", script],
            name=name,
            labels=labels or {"hearth.server": str(server.pk), "hearth.role": "game"},
            detach=True,
        )
        made.append((number, container.id))
        return container

    yield make
    for number, container_id in made:
        with contextlib.suppress(docker.errors.NotFound):
            engine(number).api.remove_container(container_id, force=True)


@contextlib.contextmanager
def messages_to(server: Server):
    """Every message sent to the server's subscribers while the block runs (in a thread of its own)."""
    received, stop, listening = [], threading.Event(), threading.Event()

    async def listen():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(console.group_name(server.pk), channel)
        listening.set()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                received.append(await asyncio.wait_for(layer.receive(channel), timeout=0.25))
        await layer.group_discard(console.group_name(server.pk), channel)

    thread = threading.Thread(target=asyncio.run, args=(listen(),), daemon=True)
    thread.start()
    assert listening.wait(10)
    try:
        yield received
    finally:
        time.sleep(1)  # what the monitor sends last
        stop.set()
        thread.join(10)


def watched(monitor, *nodes) -> None:
    """Wait until the monitor follows each node's events, so a test cannot pass by watching nothing."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        watchers = [monitor.watchers.get(str(node.pk)) for node in nodes]
        if all(w is not None and w.client is not None for w in watchers):
            time.sleep(1)  # its event subscription follows the client by a moment
            return
        time.sleep(0.1)
    pytest.fail("the monitor never watched the nodes")


def ended(container, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            time.sleep(2)  # the monitor's turn to (not) act on the exit
            return
        time.sleep(0.2)
    pytest.fail(f"the forged container is still {container.status}")


def real_container(server: Server):
    server.refresh_from_db()
    return engine(1).containers.get(server.container_id)


def assert_untouched(server: Server, *, status: str, started_at: str, messages: list) -> None:
    server.refresh_from_db()
    assert server.status == status, server.status_reason
    assert server.crash_count == 0 and server.last_crash_at is None
    history = "".join(entry["data"] for entry in console_history(server.pk, limit=5000))
    assert MARK not in history and "crashed" not in history
    assert real_container(server).attrs["State"]["StartedAt"] == started_at  # never (re)started
    sent = [m for m in messages if MARK in m.get("data", "") or m["type"] == "server_state_update"]
    assert not sent, sent


@pytest.fixture(params=[1, 2], ids=["same-node-other-container", "other-node-named-like-it"])
def forger(request, game_node, monitor):
    """(engine number, container name) for the forgery: the victim's own engine with a container the
    panel did not create, or the other node's engine with a container named exactly as the victim's."""
    victim_node, other_node = game_node(1), game_node(2)
    watched(monitor, victim_node, other_node)
    return victim_node, request.param


def test_a_forged_container_cannot_start_crash_or_restart_a_stopped_server(
    forger, forge, client_for, customer, game_template, settings
):
    node, number = forger
    settings.STATS_INTERVAL_SECONDS = 0.3
    server = create(client_for(customer), node, game_template, install=True)
    server = wait_status(server, S.STOPPED)
    started_at = real_container(server).attrs["State"]["StartedAt"]
    name = f"hearth-{server.pk}" if number == 2 else None
    with messages_to(server) as messages:
        ended(forge(number, server, CRASHING, name=name))
    assert_untouched(server, status=S.STOPPED, started_at=started_at, messages=messages)
    assert (server.cpu_usage, server.memory_usage_mb, server.network_received) == (0, 0, 0)
    assert not ServerMetric.objects.filter(server=server).exists()
    assert not [m for m in messages if m["type"] == "resource_stats"]


def test_a_forged_crash_cannot_take_a_running_server_down_or_restart_it(
    forger, forge, client_for, customer, game_template
):
    node, number = forger
    api = client_for(customer)
    server = create(api, node, game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    server = wait_status(server, S.RUNNING)
    started_at = real_container(server).attrs["State"]["StartedAt"]
    name = f"hearth-{server.pk}" if number == 2 else None
    with messages_to(server) as messages:
        ended(forge(number, server, CRASHING, name=name))
    assert_untouched(server, status=S.RUNNING, started_at=started_at, messages=messages)
    api.post(f"/api/servers/{server.pk}/command", {"command": "say still the real one"}, format="json")
    wait_for_line(server, "[Server] still the real one")  # its own node still drives it


@pytest.mark.parametrize("number", [1, 2], ids=["same-node", "other-node"])
def test_a_forged_container_found_at_reconnect_changes_nothing(
    number, forge, game_node, client_for, customer, game_template, transactional_db
):
    node, other = game_node(1), game_node(2)
    server = create(client_for(customer), node, game_template, install=True)
    server = wait_status(server, S.STOPPED)
    forge(number, server, LINGERING, name=f"hearth-{server.pk}" if number == 2 else None)
    # The panel's container is the newer of the two (whichever order the engine lists them in).
    real_container(server).remove(force=True)
    runtime.ensure_container(client_for_node(node), server)
    started_at = real_container(server).attrs["State"]["StartedAt"]
    monitor = Monitor()  # it reconciles every node with what runs there
    try:
        with messages_to(server) as messages:
            monitor.sync()
            watched(monitor, node, other)
            time.sleep(2)
        assert_untouched(server, status=S.STOPPED, started_at=started_at, messages=messages)
    finally:
        monitor.stop(wait=10)


def test_a_container_squatting_the_servers_name_is_never_adopted(
    game_node, monitor, client_for, customer, game_template
):
    """Its config label copied from the real one, it still is not the container the panel created."""
    node = game_node(1)
    watched(monitor, node)
    api = client_for(customer)
    server = create(api, node, game_template, install=True)
    server = wait_status(server, S.STOPPED)
    real = real_container(server)
    labels = real.labels
    real.remove(force=True)  # behind the panel's back
    squatter = engine(1).api.create_container(
        require_env("HEARTH_TEST_IMAGE"),
        command=["/bin/sh", "-c", LINGERING],
        name=server.container_name,
        labels=labels,
    )
    try:
        api.post(f"/api/servers/{server.pk}/start")
        server = wait_status(server, S.RUNNING)
        running = engine(1).containers.get(server.container_name)
        assert running.id == server.container_id != squatter["Id"]
        history = "".join(entry["data"] for entry in console_history(server.pk, limit=5000))
        assert MARK not in history
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            engine(1).api.remove_container(squatter["Id"], force=True)


def test_kill_and_stop_act_on_the_panels_container_not_on_its_name(
    forge, game_node, monitor, client_for, customer, game_template
):
    node = game_node(1)
    watched(monitor, node)
    api = client_for(customer)
    server = create(api, node, game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    server = wait_status(server, S.RUNNING)
    real = real_container(server)
    real.rename(f"{server.container_name}-moved")  # behind the panel's back, the name is handed over
    impostor = forge(1, server, LINGERING, name=server.container_name)
    api.post(f"/api/servers/{server.pk}/kill")
    wait_status(server, S.STOPPED)
    real.reload()
    impostor.reload()
    assert real.status == "exited" and impostor.status == "running"
    real.remove(force=True)


def test_a_node_speaks_for_a_server_no_longer_once_it_moved_away(
    game_node, monitor, client_for, customer, game_template, settings
):
    """As a node that keeps the old container running (and streaming) while it claims it stopped."""
    settings.STATS_INTERVAL_SECONDS = 0.3
    old, new = game_node(1), game_node(2)
    watched(monitor, old, new)
    api = client_for(customer)
    server = create(api, old, game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    server = wait_status(server, S.RUNNING)
    container = real_container(server)
    stdin = engine(1).api.attach_socket(container.id, params={"stdin": 1, "stream": 1})
    try:
        stdin._sock.sendall(b"say before the move\n")
        wait_for_line(server, "[Server] before the move")
        # Where a transfer switches the server over: assigned to the new node, no container there yet.
        Server.objects.filter(pk=server.pk).update(
            node=new, container_id="", status=S.STOPPED, cpu_usage=0, memory_usage_mb=0
        )
        time.sleep(2)
        with messages_to(server) as messages:
            stdin._sock.sendall(b"say after the move\n")
            time.sleep(3)
            stdin._sock.sendall(b"crash\n")
            time.sleep(2)
    finally:
        stdin.close()
    server.refresh_from_db()
    history = "".join(entry["data"] for entry in console_history(server.pk, limit=5000))
    assert "[Server] after the move" not in history and "crashed" not in history
    assert (server.status, server.crash_count) == (S.STOPPED, 0)
    assert (server.cpu_usage, server.memory_usage_mb) == (0, 0)
    assert not messages, messages


@pytest.mark.django_db
def test_only_the_recorded_container_of_a_server_on_that_node_maps_to_it(make_node, customer, game_template):
    from servers.ownership import container_of, server_of, servers_of

    one, two = make_node(engine=1, via="unix"), make_node(engine=2, via="unix")
    fields = dict(owner=customer, template=game_template, docker_image="x", allocated_memory_mb=128)
    fields.update(allocated_cpu_cores=1, allocated_disk_mb=128)
    server = Server.objects.create(name="a", node=one, container_id="c" * 64, **fields)
    Server.objects.create(name="never created", node=one, container_id="", **fields)
    assert server_of(one.pk, "c" * 64) == str(server.pk)
    assert server_of(two.pk, "c" * 64) is None  # the same id, reported by another node
    assert server_of(one.pk, "d" * 64) is None  # a container the panel did not create
    assert server_of(one.pk, "") is None and server_of(one.pk, None) is None
    assert servers_of(one.pk, ["c" * 64, "d" * 64, ""]) == {"c" * 64: str(server.pk)}
    assert container_of(one.pk, server.pk) == "c" * 64
    assert container_of(two.pk, server.pk) is None
