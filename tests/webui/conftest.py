"""Fixtures for the web UI: servers as plain rows (no engine needed) for the page tests."""

import pytest

from nodes.models import Location, Node
from servers.models import Server, ServerMember
from templates_app.models import Template


@pytest.fixture
def node(db):
    location = Location.objects.create(name="ui-dc")
    return Node.objects.create(
        name="node-ui",
        location=location,
        hostname="127.0.0.1",
        public_address="play.example.com",
        max_memory_mb=8192,
        max_cpu_cores=4,
        is_online=True,
    )


@pytest.fixture
def template(db):
    return Template.objects.create(
        name="UI Game", docker_image="example/game:1", start_command="./run", stop_command="stop"
    )


@pytest.fixture
def make_server(node, template):
    def make(owner, *, name: str = "survival", status: str = Server.Status.STOPPED, **fields) -> Server:
        fields.setdefault("installed_at", "2026-01-01T00:00:00Z")
        return Server.objects.create(
            name=name,
            owner=owner,
            node=node,
            template=template,
            docker_image=template.docker_image,
            status=status,
            allocated_memory_mb=1024,
            allocated_cpu_cores=2,
            allocated_disk_mb=2048,
            **fields,
        )

    return make


@pytest.fixture
def share():
    def make(server: Server, user, permissions: list[str]) -> ServerMember:
        return ServerMember.objects.create(server=server, user=user, permissions=permissions)

    return make
