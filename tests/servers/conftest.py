import contextlib
import os
import threading
import time

import docker
import pytest

from nodes.allocations import allocations_create
from nodes.health import node_check_health
from nodes.monitor import Monitor
from servers.models import Server
from templates_app.models import Template
from tests.conftest import require_env
from tests.nodes.conftest import _fresh_connections, location, make_node  # noqa: F401 - shared fixtures

# Host ports for game containers; each test process takes its own block, so runs sharing the engines never collide.
BASE_PORT = 31000 + (os.getpid() % 90) * 20
PORTS = {1: f"{BASE_PORT}-{BASE_PORT + 9}", 2: f"{BASE_PORT + 10}-{BASE_PORT + 19}"}


@pytest.fixture(autouse=True)
def _eager_tasks(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _no_leftover_containers(db):
    """Remove this test's containers (only its own: other test runs may share the engines)."""
    yield
    ours = {str(pk) for pk in Server.objects.values_list("pk", flat=True)}
    if not ours:
        return  # nothing of this test's can be on the engines
    for url in (require_env("HEARTH_TEST_DOCKER1_URL"), require_env("HEARTH_TEST_DOCKER2_URL")):
        # The low-level list inspects nothing: containers of parallel runs come and go meanwhile.
        client = docker.APIClient(base_url=url)
        for container in client.containers(all=True, filters={"label": "hearth.server"}):
            if container["Labels"].get("hearth.server") in ours:
                with contextlib.suppress(docker.errors.APIError):  # gone or going (a delete job, a kill)
                    client.remove_container(container["Id"], force=True)
        client.close()


@pytest.fixture
def game_template(db):
    image = require_env("HEARTH_TEST_IMAGE")
    return Template.objects.create(
        name="Test Game",
        docker_image=image,
        start_command="/usr/local/bin/testgame",
        stop_command="stop",
        ready_pattern="Done (",
        data_path="/home/container",
        install_image=image,
        install_entrypoint="sh",
        install_script='echo "installing for $SERVER_UUID"\necho "motd=$MOTD" > /mnt/server/install.txt\n',
        config_files=[{"path": "server.properties", "parser": "properties", "replace": {"motd": "{{MOTD}}"}}],
        environment={"MOTD": "A Hearth server"},
    )


@pytest.fixture
def game_node(make_node):  # noqa: F811
    """An online node with free ports on 127.0.0.1: engine 1 over the local socket by default."""

    def make(engine: int = 1, via: str = "unix"):
        node = make_node(engine=engine, via=via)
        assert node_check_health(node=node)["ok"]
        allocations_create(node=node, ip="127.0.0.1", ports=PORTS[engine])
        node.refresh_from_db()
        return node

    return make


@pytest.fixture
def monitor(transactional_db):
    """The real monitor, in this process, watching every online node."""
    mon = Monitor()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            mon.sync()
            stop.wait(0.5)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield mon
    stop.set()
    thread.join(5)
    mon.stop(wait=10)


def wait_status(server: Server, *statuses: str, timeout: float = 30) -> Server:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.refresh_from_db()
        if server.status in statuses:
            return server
        time.sleep(0.1)
    pytest.fail(f"server stayed {server.status} ({server.status_reason}), expected {statuses}")
