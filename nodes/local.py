"""The panel's own machine as the first node (`manage.py bootstrap`, the zero-setup start)."""

import os
from pathlib import Path

from django.conf import settings

from config.errors import InvalidInput
from nodes.allocations import allocations_create
from nodes.health import EngineTaken, node_check_health
from nodes.models import Location, Node
from nodes.services import node_create

LOCAL_SOCKET = Path("/var/run/docker.sock")


def _machine_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def _state(node: Node) -> str:
    return "online" if node.is_online else f"offline: {node.last_health.get('error', 'not checked yet')}"


def node_register_local(*, socket: Path = LOCAL_SOCKET) -> tuple[Node | None, str]:
    """Register this machine's Docker engine as the first node, once. Returns the node and what happened."""
    if not socket.exists():
        return None, (
            f"No Docker socket at {socket}: no local node registered. Install Docker "
            "(`apt install docker.io`) and run `manage.py bootstrap` again, or add a node in the admin."
        )
    existing = Node.objects.filter(docker_url=f"unix://{socket}").first()
    if existing:
        if not existing.is_online:  # a fresh start should not wait for beat's next round
            node_check_health(node=existing, failures_to_offline=1, prepare=True)
            existing.refresh_from_db()
        return existing, f"Local node '{existing.name}' already registered ({_state(existing)})."
    location, _ = Location.objects.get_or_create(name="local", defaults={"description": "This machine"})
    try:
        node, _ = _create_local_node(socket, location)
    except EngineTaken as exc:
        return None, f"Local node not registered: {exc}"
    except InvalidInput as exc:  # HEARTH_DATA_DIR or HEARTH_NODE_LOCAL_SOCKETS refuse it
        fields = exc.fields
        reasons = "; ".join(f"{field}: {' '.join(map(str, why))}" for field, why in fields.items())
        return None, f"Local node not registered: {reasons}"
    allocations_create(node=node, ip="0.0.0.0", ports="25565-25584")  # noqa: S104 - players connect from anywhere
    return node, (
        f"Registered the local Docker engine as node '{node.name}' with ports 25565-25584 ({_state(node)})."
    )


def _create_local_node(socket: Path, location: Location) -> tuple[Node, str]:
    return node_create(
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
