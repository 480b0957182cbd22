"""Schedules' tests: tasks on server rows (most need no container: a command step to a stopped server is
refused by the server service, which is the failure the chain must handle)."""

import pytest

from nodes.models import Location, Node
from servers.models import Server
from templates_app.models import Template


@pytest.fixture
def row_node(db):
    location = Location.objects.create(name="sched-dc")
    return Node.objects.create(
        name="sched-node",
        location=location,
        hostname="127.0.0.1",
        public_address="203.0.113.7",
        docker_url="ssh://hearth@127.0.0.1:1",  # unreachable: no step here may need the engine
        max_memory_mb=8192,
        max_cpu_cores=4,
        is_online=True,
    )


@pytest.fixture
def row_server(row_node, customer):
    """A server row of `customer`'s (no container): `row_server(status=...)`."""
    template = Template.objects.create(
        name="Sched Game", docker_image="example/game:1", start_command="./run", stop_command="stop"
    )

    def make(*, status: str = Server.Status.STOPPED, owner=None, name: str = "sched") -> Server:
        return Server.objects.create(
            name=name,
            owner=owner or customer,
            node=row_node,
            template=template,
            docker_image=template.docker_image,
            status=status,
            allocated_memory_mb=256,
            allocated_cpu_cores=1,
            allocated_disk_mb=512,
            installed_at="2026-01-01T00:00:00Z",
        )

    return make
