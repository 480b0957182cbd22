import os
from pathlib import Path

from config.crypto import encrypt
from nodes.models import Allocation, Location, Node
from tests.matrix import Endpoint


def a_node(users) -> dict:
    location = Location.objects.get_or_create(name="matrix")[0]
    n = Node.objects.count()
    node = Node.objects.create(
        name=f"matrix-{n}",
        location=location,
        hostname="h",
        public_address="203.0.113.1",
        max_memory_mb=1024,
        max_cpu_cores=1,
    )
    return {"node": node.pk, "location": location.pk}


def a_node_with_allocation(users) -> dict:
    ctx = a_node(users)
    allocation = Allocation.objects.create(node_id=ctx["node"], ip="203.0.113.1", port=25565)
    return {**ctx, "allocation": allocation.pk}


def a_node_at_sshd2(users, *, pinned: int = 2) -> dict:
    """A node at the second test sshd with the test key; its pinned key is sshd `pinned`'s."""
    location = Location.objects.get_or_create(name="matrix")[0]
    node = Node.objects.create(
        name=f"matrix-ssh-{Node.objects.count()}",
        location=location,
        hostname="127.0.0.1",
        public_address="127.0.0.1",
        docker_url=os.environ["HEARTH_TEST_SSH2_URL"],
        ssh_private_key=encrypt(Path(os.environ["HEARTH_TEST_SSH_KEY"]).read_text()),
        ssh_host_key=os.environ[f"HEARTH_TEST_SSH{pinned}_HOSTKEY"],
        data_dir=os.environ["HEARTH_TEST_NODE2_DATA_DIR"],
        max_memory_mb=1024,
        max_cpu_cores=1,
    )
    return {"node": node.pk, "name": node.name}


def repoint_body(ctx) -> dict:
    return {
        "dockerUrl": os.environ["HEARTH_TEST_SSH1_URL"],
        "sshHostKey": os.environ["HEARTH_TEST_SSH1_HOSTKEY"],
        "confirm": ctx["name"],
    }


def node_body(ctx) -> dict:
    location = Location.objects.get_or_create(name="matrix")[0]
    return {
        "name": f"made-{ctx['n']}",
        "locationId": str(location.pk),
        "hostname": "h",
        "publicAddress": "1.2.3.4",
        "maxMemoryMb": 1024,
        "maxCpuCores": 1,
        "dockerUrl": "ssh://hearth@h:22",  # required; unreachable, so it is registered offline
    }


ENDPOINTS = [
    Endpoint("GET", "/api/nodes", "admin.read"),
    Endpoint("GET", "/api/nodes/{node}", "admin.read", setup=a_node),
    Endpoint("POST", "/api/nodes", "admin.write", ok=201, body=node_body),
    Endpoint("PATCH", "/api/nodes/{node}", "admin.write", setup=a_node, body={"description": "x"}),
    Endpoint("PUT", "/api/nodes/{node}", "admin.write", setup=a_node, body={"maxMemoryMb": 2048}),
    Endpoint("DELETE", "/api/nodes/{node}", "admin.write", setup=a_node),
    Endpoint("POST", "/api/nodes/{node}/deployment-token", "admin.write", setup=a_node),
    Endpoint("POST", "/api/nodes/{node}/repoint", "admin.write", setup=a_node_at_sshd2, body=repoint_body),
    Endpoint(
        "POST",
        "/api/nodes/{node}/host-key",
        "admin.write",
        setup=lambda users: a_node_at_sshd2(users, pinned=1),  # as after a reinstall
        body={"sshHostKey": os.environ.get("HEARTH_TEST_SSH2_HOSTKEY", "")},
    ),
    Endpoint("DELETE", "/api/nodes/{node}/host-key", "admin.write", setup=a_node_at_sshd2),
    Endpoint("GET", "/api/nodes/{node}/allocations", "admin.read", setup=a_node),
    Endpoint(
        "POST",
        "/api/nodes/{node}/allocations",
        "admin.write",
        ok=201,
        setup=a_node,
        body={"ip": "203.0.113.9", "ports": "25565"},
    ),
    Endpoint(
        "DELETE",
        "/api/nodes/{node}/allocations/{allocation}",
        "admin.write",
        setup=a_node_with_allocation,
    ),
    Endpoint("GET", "/api/locations", None),
    Endpoint("POST", "/api/locations", "admin.write", ok=201, body=lambda ctx: {"name": f"loc-{ctx['n']}"}),
]
