"""Backups' service, API and retention tests run on a server of a node that cannot be reached (the
matrix's): every check before the node is real, and nothing here needs a container. The round trips
on the real engines are in test_roundtrip.py."""

import pytest
from django.utils import timezone

from backups.models import Backup
from servers.models import Server
from tests.matrix import node_and_template

S = Server.Status


@pytest.fixture
def server(customer):
    """A stopped server of `customer`'s that may keep two backups."""
    return a_server(customer)


def a_server(owner, name: str = "bk") -> Server:
    node, template = node_and_template()
    return Server.objects.create(
        name=name,
        owner=owner,
        node=node,
        template=template,
        docker_image=template.docker_image,
        status=S.STOPPED,
        allocated_memory_mb=128,
        allocated_cpu_cores=1,
        allocated_disk_mb=128,
        installed_at=timezone.now(),
        backup_limit=2,
    )


def completed(server: Server, name: str = "done", **fields) -> Backup:
    """A completed backup row (its archive is nowhere: these tests never read it)."""
    fields = {
        "status": Backup.Status.COMPLETED,
        "node": server.node,
        "location": f"{name}.tar.zst",
        "size_bytes": 1234,
        "checksum": "sha256:" + "a" * 64,
        "completed_at": timezone.now(),
        **fields,
    }
    return Backup.objects.create(server=server, name=name, **fields)
