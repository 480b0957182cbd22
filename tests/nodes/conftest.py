import subprocess
from pathlib import Path

import pytest

from nodes import client as node_client
from nodes.models import Location
from nodes.services import node_create
from tests.conftest import require_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_connections():
    yield
    with node_client._connections_lock:
        for conn in node_client._connections.values():
            node_client._close(conn)
        node_client._connections.clear()


@pytest.fixture
def location(db):
    return Location.objects.create(name="test-dc")


def testenv(*args: str) -> None:
    """Drive scripts/testenv.sh (stop/start an engine or an sshd) as the tests need."""
    subprocess.run(
        ["bash", str(ROOT / "scripts/testenv.sh"), *args], check=True, capture_output=True, timeout=120
    )


@pytest.fixture
def make_node(location):
    """Nodes on the real test engines: engine=1|2, via='unix'|'ssh', pinned host key or first contact."""
    counter = iter(range(1, 1000))

    def make(*, engine: int = 1, via: str = "ssh", pin: bool = True, **fields):
        n = next(counter)
        ssh = via == "ssh"
        fields.setdefault(
            "docker_url",
            require_env(f"HEARTH_TEST_SSH{engine}_URL" if ssh else f"HEARTH_TEST_DOCKER{engine}_URL"),
        )
        fields.setdefault("name", f"node-{engine}-{via}-{n}")
        fields.setdefault("data_dir", require_env(f"HEARTH_TEST_NODE{engine}_DATA_DIR"))
        node, _ = node_create(
            location=location,
            hostname="127.0.0.1",
            public_address="127.0.0.1",
            max_memory_mb=4096,
            max_cpu_cores=2,
            ssh_private_key=Path(require_env("HEARTH_TEST_SSH_KEY")).read_text() if ssh else "",
            **fields,
        )
        if ssh and pin:
            node.ssh_host_key = require_env(f"HEARTH_TEST_SSH{engine}_HOSTKEY")
            node.save()
        return node

    return make
