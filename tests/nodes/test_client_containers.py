"""The node client's typed container surface, on the real engines (local socket and SSH): our own
dataclasses in, our own errors out (ContainerNotFound, EngineRefused), never docker-py's."""

import time
import uuid

import pytest

from nodes.client import (
    ContainerEvent,
    ContainerNotFound,
    ContainerState,
    ContainerStats,
    EngineRefused,
    client_for,
)
from tests.conftest import require_env

ENGINES = [(1, "unix"), (2, "ssh")]
ECHO = 'while read -r line; do echo "got $line"; echo "err $line" >&2; done'


def a_spec(name: str, label: str, **changes) -> dict:
    """The smallest spec of our own (the shape servers.runtime.container_spec makes)."""
    return {
        "image": require_env("HEARTH_TEST_IMAGE"),
        "name": name,
        "command": ["/bin/sh", "-c", ECHO],
        "environment": {"GREETING": "hi"},
        "working_dir": "/tmp",
        "labels": {"hearth.test": label},
        "volumes": {},
        "stdin_once": False,
        "mem_limit": 128 * 1024 * 1024,
        "memswap_limit": 128 * 1024 * 1024,
        "nano_cpus": 500_000_000,
        "pids_limit": 64,
        "blkio_weight": 500,
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "init": True,
        "restart_policy": {"Name": "no"},
        "log_config": {"Type": "json-file", "Config": {}},
        "network_mode": "none",
        **changes,
    }


@pytest.fixture
def made():
    """Containers a test created through the client, removed afterwards (through the client too)."""
    created: list[tuple] = []
    yield created
    for client, name in created:
        client.remove_container(name)


def create(client, made, **changes) -> tuple[str, str, str]:
    name, label = f"hearth-client-typed-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    made.append((client, name))
    return client.create_container(a_spec(name, label, **changes)), name, label


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_container_made_from_our_spec_is_described_by_our_dataclass(make_node, made, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    container_id, name, label = create(client, made)
    state = client.inspect(name)
    assert isinstance(state, ContainerState)
    assert (state.id, state.name, state.status, state.running) == (container_id, name, "created", False)
    assert state.labels["hearth.test"] == label  # with the image's own labels
    assert state.started_at.startswith("0001-") and state.exit_code == 0 and not state.oom_killed
    client.start_container(container_id)
    state = client.inspect(container_id)
    assert state.running and state.status == "running" and not state.started_at.startswith("0001-")
    assert [c.id for c in client.list_containers(labels=[f"hearth.test={label}"])] == [container_id]
    stats = client.stats(container_id)
    assert isinstance(stats, ContainerStats) and stats.cpu_total >= 0 and stats.online_cpus >= 1
    assert client.remove_container(name) is True
    assert client.remove_container(name) is False  # gone already: nothing to remove
    assert client.container_state(name) is None


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_stdin_output_and_events_go_through_our_own_objects(make_node, made, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    container_id, _, label = create(client, made)
    events = client.follow_events(labels=[f"hearth.test={label}"], since=time.time())
    try:
        client.start_container(container_id)
        stdin = client.attach_stdin(container_id)
        try:
            stdin.send(b"hello\n")
        finally:
            stdin.close()
        output = client.follow_logs(container_id, 0)
        try:
            seen = []
            for frames in output:
                seen += frames
                if {1, 2} <= {kind for kind, _ in seen}:
                    break
        finally:
            output.close()
        assert (1, b"got hello\n") in seen and (2, b"err hello\n") in seen
        assert client.signal(container_id, "SIGKILL")
        kinds = []
        for event in events:
            assert isinstance(event, ContainerEvent) and event.container_id == container_id
            kinds.append(event.action)
            if event.action == "die":
                assert event.exit_code == 137 and event.time_ns > 0
                break
        assert kinds[0] == "start"
    finally:
        events.close()


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_file_goes_into_a_container_and_comes_back(make_node, made, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    container_id, _, _ = create(client, made)
    client.put_file(container_id, "/tmp/hello.txt", b"hi there\n", owner="1000:1000")
    assert client.read_container_file(container_id, "/tmp/hello.txt", limit=100) == b"hi there\n"
    assert client.read_container_file(container_id, "/tmp/missing", limit=100) is None


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_file_copied_into_a_created_container_gets_the_directories_it_needs(make_node, made, engine, via):
    """As the install script goes in: before the start, into directories the image lacks."""
    client = client_for(make_node(engine=engine, via=via))
    container_id, _, _ = create(client, made)
    client.copy_into(container_id, "/mnt/install/install.sh", b"echo hi\n")
    assert client.read_container_file(container_id, "/mnt/install/install.sh", limit=100) == b"echo hi\n"


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_missing_container_is_our_container_not_found(make_node, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    missing = f"hearth-client-none-{uuid.uuid4().hex[:10]}"
    for call in (
        lambda: client.inspect(missing),
        lambda: client.start_container(missing),
        lambda: client.stats(missing),
        lambda: client.attach_stdin(missing),
        lambda: client.put_file(missing, "/tmp/x", b"x", owner="0:0"),
        lambda: client.copy_into(missing, "/tmp/x", b"x"),
    ):
        with pytest.raises(ContainerNotFound) as caught:
            call()
        assert caught.value.container == missing
    assert client.container_state(missing) is None
    assert client.signal(missing, "SIGKILL") is False
    client.ping()  # the engine answered: the connection is still good


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_the_engines_refusals_are_our_engine_refused_with_its_words(make_node, made, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    _, name, _ = create(client, made)
    with pytest.raises(EngineRefused) as taken:
        client.create_container(a_spec(name, "again"))
    assert taken.value.status == 409 and "already in use" in taken.value.explanation
    with pytest.raises(EngineRefused) as no_image:
        client.create_container(a_spec(f"{name}-x", "x", image="127.0.0.1:1/hearth-test/never-here:1"))
    assert no_image.value.status == 404 and "never-here" in no_image.value.explanation
    client.ping()
