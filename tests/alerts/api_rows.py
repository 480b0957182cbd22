"""Rows for the alerts API tests (no container): a node, servers of a customer's and a stranger's,
alerts opened through alerts.services.raise_alert (the one path)."""

import pytest

from alerts.services import raise_alert
from nodes.models import Location, Node
from servers.models import Server
from templates_app.models import Template

HOOK = "https://162.159.128.233/api/webhooks/1/secret-token"  # a public address: no DNS needed


@pytest.fixture
def alert_node(db):
    location = Location.objects.create(name="alerts-dc")
    return Node.objects.create(
        name="alerts-node",
        location=location,
        hostname="127.0.0.1",
        public_address="203.0.113.8",
        docker_url="ssh://hearth@127.0.0.1:1",
        max_memory_mb=8192,
        max_cpu_cores=4,
        is_online=True,
    )


@pytest.fixture
def alert_server(alert_node, customer):
    template = Template.objects.create(
        name="Alert Game", docker_image="example/game:1", start_command="./run", stop_command="stop"
    )

    def make(*, owner=None, name: str = "game", status: str = Server.Status.STOPPED) -> Server:
        return Server.objects.create(
            name=name,
            owner=owner or customer,
            node=alert_node,
            template=template,
            docker_image=template.docker_image,
            status=status,
            allocated_memory_mb=256,
            allocated_cpu_cores=1,
            allocated_disk_mb=512,
        )

    return make


def crash(server, *, severity="critical", n: int = 0):
    return raise_alert(
        type="server_crashed",
        fingerprint=f"server_crashed:server:{server.pk}:{n}",
        title=f"{server.name} crashed",
        message="exit code 1",
        severity=severity,
        metadata={"exit_code": 1, "oom": False},
        server=server,
        node=server.node,
        dedupe_seconds=0,
    )


def threshold(server, *, severity="warning", n: int = 0):
    return raise_alert(
        type="resource_threshold",
        fingerprint=f"rule:x:server:{server.pk}:{n}",
        title="High CPU",
        severity=severity,
        metadata={"cpu_usage": 95.2},
        server=server,
        node=server.node,
        dedupe_seconds=0,
    )


def offline(node):
    return raise_alert(
        type="node_offline",
        fingerprint=f"node_offline:node:{node.pk}",
        title=f"{node.name} is offline",
        severity="critical",
        metadata={"reason": "timeout"},
        node=node,
        dedupe_seconds=0,
    )
