"""Node state changes. The node client (Docker over SSH) and health checks land with the nodes issue."""

import os
from pathlib import Path

from django.conf import settings
from django.db import transaction

from nodes.models import Location, Node

LOCAL_SOCKET = Path("/var/run/docker.sock")


def _machine_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


@transaction.atomic
def node_register_local(*, socket: Path = LOCAL_SOCKET) -> tuple[Node | None, str]:
    """Register this machine's Docker engine as the first node, once. Returns the node and what happened."""
    if not socket.exists():
        return None, (
            f"No Docker socket at {socket}: no local node registered. Install Docker "
            "(`apt install docker.io`) and run `manage.py bootstrap` again, or add a node in the admin."
        )
    existing = Node.objects.filter(docker_url=f"unix://{socket}").first()
    if existing:
        return existing, f"Local node '{existing.name}' already registered."
    location, _ = Location.objects.get_or_create(name="local", defaults={"description": "This machine"})
    node = Node.objects.create(
        name="local",
        description="The panel's own machine",
        location=location,
        hostname="localhost",
        public_address="127.0.0.1",
        docker_url=f"unix://{socket}",
        data_dir=str(settings.DATA_DIR / "node-local"),
        max_memory_mb=_machine_memory_mb(),
        max_cpu_cores=os.cpu_count() or 1,
    )
    return node, f"Registered the local Docker engine as node '{node.name}'."
