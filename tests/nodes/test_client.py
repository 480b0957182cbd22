"""The node client against both real engines, over the local socket and over SSH."""

import socket
import threading
import time

import pytest

from nodes.client import HostKeyMismatch, NodeUnavailable, client_for
from nodes.health import node_check_health
from nodes.models import NodeEvent
from tests.conftest import require_env

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("via", ["unix", "ssh"])
@pytest.mark.parametrize("engine", [1, 2])
def test_it_reaches_each_engine(make_node, engine, via):
    node = make_node(engine=engine, via=via)
    client = client_for(node)
    client.ping()
    assert f"hearth.engine={engine}" in client.info()["Labels"]
    assert client.has_image(require_env("HEARTH_TEST_IMAGE"))


@pytest.mark.parametrize("via", ["unix", "ssh"])
def test_it_runs_commands_on_the_node_host(make_node, via):
    node = make_node(engine=2, via=via)
    assert client_for(node).run(["sh", "-c", "echo hello $((1+1))"]).strip() == "hello 2"


def test_arguments_reach_the_node_as_data_not_shell(make_node):
    node = make_node(engine=2)
    out = client_for(node).run(["echo", "$(id)", "; touch /tmp/hearth-pwned", "`id`"])
    assert out.strip() == "$(id) ; touch /tmp/hearth-pwned `id`"


def test_first_contact_pins_the_host_key(make_node):
    node = make_node(engine=2, pin=False)  # registration is the first contact: it checks the node at once
    assert node.ssh_host_key == require_env("HEARTH_TEST_SSH2_HOSTKEY")
    assert node_check_health(node=node)["ok"]
    node.refresh_from_db()
    assert node.ssh_host_key == require_env("HEARTH_TEST_SSH2_HOSTKEY")


def test_a_changed_host_key_is_refused_and_reported(make_node):
    node = make_node(engine=2)
    node.ssh_host_key = require_env("HEARTH_TEST_SSH1_HOSTKEY")  # engine 1's key: not what port 2202 shows
    node.save()
    with pytest.raises(HostKeyMismatch, match="host key changed"):
        client_for(node).ping()
    report = node_check_health(node=node)
    assert not report["ok"]
    assert NodeEvent.objects.filter(node=node, kind="host_key_mismatch").exists()


def test_a_closed_port_fails_fast(make_node):
    node = make_node(engine=2, docker_url="ssh://hearth@127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(NodeUnavailable, match=f"Node '{node.name}' is unreachable"):
        client_for(node).ping()
    assert time.monotonic() - started < 2


def test_a_silent_host_fails_within_the_connect_timeout(make_node, settings):
    """A host that accepts TCP but never speaks SSH must not hang a worker."""
    settings.NODE_CONNECT_TIMEOUT_SECONDS = 1.0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    node = make_node(engine=2, docker_url=f"ssh://hearth@127.0.0.1:{listener.getsockname()[1]}")
    started = time.monotonic()
    with pytest.raises(NodeUnavailable):
        client_for(node).ping()
    assert time.monotonic() - started < 5
    listener.close()


def test_a_wrong_key_is_unavailable_with_the_reason(make_node):
    from nodes.client import generate_keypair
    from nodes.services import node_update

    node = make_node(engine=2)
    node_update(node=node, ssh_private_key=generate_keypair()[0])
    with pytest.raises(NodeUnavailable, match="Authentication failed"):
        client_for(node).ping()


def test_the_health_report_measures_the_node(make_node):
    report = node_check_health(node=make_node(engine=1, via="unix"))
    assert report["ok"] is True
    assert report["docker_version"]
    assert report["memory_total_mb"] > 0
    assert report["disk_total_mb"] > 0
    assert 0 <= report["cpu_percent"] <= 100
    assert report["container_count"] >= 0


@pytest.fixture
def sleeper():
    """A container of the test image that sleeps until signalled (SIGTERM ignored), on engine 1 or 2."""
    import uuid

    import docker

    made = []

    def make(engine: int):
        engine_client = docker.DockerClient(base_url=require_env(f"HEARTH_TEST_DOCKER{engine}_URL"))
        container = engine_client.containers.run(
            require_env("HEARTH_TEST_IMAGE"),
            ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
            name=f"hearth-client-test-{uuid.uuid4().hex[:12]}",
            detach=True,
            init=True,
        )
        made.append(container)
        return container

    yield make
    for container in made:
        container.remove(force=True)


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_it_tells_whether_an_image_is_on_the_node(make_node, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    assert client.has_image(require_env("HEARTH_TEST_IMAGE"))
    assert not client.has_image("127.0.0.1:1/hearth-test/never-here:1")


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_a_pull_from_a_registry_that_does_not_answer_says_why(make_node, engine, via):
    from nodes.client import ImagePullFailed

    client = client_for(make_node(engine=engine, via=via))
    with pytest.raises(ImagePullFailed, match="connection refused") as caught:
        list(client.pull_image("127.0.0.1:1/hearth-test/never-here:1"))
    assert caught.value.image == "127.0.0.1:1/hearth-test/never-here:1"
    client.ping()  # the engine answered: the connection is still good


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("debian", ("debian", "latest")),
        ("ghcr.io/pterodactyl/yolks:java_21", ("ghcr.io/pterodactyl/yolks", "java_21")),
        ("127.0.0.1:5000/game", ("127.0.0.1:5000/game", "latest")),
        ("127.0.0.1:5000/game:1.2", ("127.0.0.1:5000/game", "1.2")),
        ("debian@sha256:" + "a" * 64, ("debian", "sha256:" + "a" * 64)),
    ],
)
def test_image_names_split_into_repository_and_tag(image, parts):
    from nodes.client import _split_image

    assert _split_image(image) == parts


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_waiting_for_an_exit_is_bounded_and_signals_reach_the_container(make_node, sleeper, engine, via):
    client = client_for(make_node(engine=engine, via=via))
    container = sleeper(engine)
    started = time.monotonic()
    assert client.wait_exit(container.name, 1) is None  # still running after the timeout
    assert 1 <= time.monotonic() - started < 5
    assert client.signal(container.name, "SIGTERM")  # ignored by the container
    assert client.wait_exit(container.name, 1) is None
    assert client.signal(container.name, "SIGKILL")
    assert client.wait_exit(container.name, 10) == 137
    assert client.container_state(container.name).running is False
    assert client.signal(container.name, "SIGKILL") is False  # not running: nothing to signal
    assert client.container_state("hearth-client-test-none") is None
