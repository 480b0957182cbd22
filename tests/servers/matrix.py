from django.utils import timezone

from nodes.models import Allocation, Location, Node
from servers.models import Server, ServerMember
from templates_app.models import Template
from tests.matrix import Endpoint


def node_and_template():
    location = Location.objects.get_or_create(name="matrix")[0]
    node = Node.objects.get_or_create(
        name="matrix-node",
        defaults={
            "location": location,
            "hostname": "h",
            "public_address": "203.0.113.1",
            "max_memory_mb": 100_000,
            "max_cpu_cores": 64,
            "is_online": True,
        },
    )[0]
    template = Template.objects.get_or_create(
        name="matrix-template",
        defaults={
            "docker_image": "hearth/testgame:latest",
            "start_command": "testgame",
            "stop_command": "stop",
        },
    )[0]
    return node, template


def a_server(status: str = Server.Status.STOPPED):
    """A server row owned by users['owner'], with a member holding the endpoint's permission and one without."""

    def setup(users, permission=None) -> dict:
        node, template = node_and_template()
        server = Server.objects.create(
            name="matrix",
            owner=users["owner"],
            node=node,
            template=template,
            docker_image=template.docker_image,
            status=status,
            allocated_memory_mb=128,
            allocated_cpu_cores=1,
            allocated_disk_mb=128,
            installed_at=timezone.now(),
        )
        port = 40000 + Allocation.objects.count()
        Allocation.objects.create(node=node, ip="127.0.0.1", port=port, server=server, is_primary=True)
        Allocation.objects.create(node=node, ip="127.0.0.1", port=port + 5000)
        ServerMember.objects.create(
            server=server, user=users["member_with"], permissions=[permission] if permission else []
        )
        ServerMember.objects.create(server=server, user=users["member_without"], permissions=[])
        return {"server": server.pk, "free_port": port + 5000}

    return setup


def server_endpoint(method, path, permission, status=Server.Status.STOPPED, **kwargs) -> Endpoint:
    setup = a_server(status)
    return Endpoint(
        method, path, permission, scope="object", setup=lambda users: setup(users, permission), **kwargs
    )


def with_target(setup):
    """Also an online node to transfer to."""

    def wrapped(users) -> dict:
        ctx = setup(users)
        location = Location.objects.get_or_create(name="matrix")[0]
        target = Node.objects.create(
            name=f"matrix-target-{Node.objects.count()}",
            location=location,
            hostname="h",
            public_address="203.0.113.2",
            max_memory_mb=100_000,
            max_cpu_cores=64,
            is_online=True,
        )
        Allocation.objects.create(node=target, ip="127.0.0.1", port=ctx["free_port"])
        return {**ctx, "target": target.pk}

    return wrapped


def with_bound_extra(setup):
    """Also a second, non-primary allocation bound to the server (container port = its host port)."""

    def wrapped(users, permission=None) -> dict:
        ctx = setup(users, permission)
        Allocation.objects.filter(port=ctx["free_port"], server__isnull=True).update(
            server_id=ctx["server"], container_port=ctx["free_port"]
        )
        return ctx

    return wrapped


def a_node_and_template(users) -> dict:
    """For a create on a chosen node (staff only: server.resources)."""
    node, template = node_and_template()
    Allocation.objects.create(node=node, ip="127.0.0.1", port=40000 + Allocation.objects.count())
    return {"node": node.pk, "template": template.pk}


def staff_endpoint(method, path, permission, setup, **kwargs) -> Endpoint:
    """An object endpoint whose permission is global only: owners and members are refused (403)."""
    return Endpoint(method, path, permission, scope="object", setup=setup, **kwargs)


RUNNING = Server.Status.RUNNING
ENDPOINTS = [
    Endpoint("GET", "/api/servers", None),
    Endpoint("GET", "/api/admin/stats", "admin.read"),
    Endpoint("GET", "/api/admin/servers", "admin.read"),
    server_endpoint("GET", "/api/servers/{server}", None),
    server_endpoint("PUT", "/api/servers/{server}", "server.update", body={"name": "renamed"}),
    server_endpoint("DELETE", "/api/servers/{server}", "server.delete"),
    server_endpoint("POST", "/api/servers/{server}/install", "server.install"),
    server_endpoint("POST", "/api/servers/{server}/reinstall", "server.install"),
    server_endpoint("POST", "/api/servers/{server}/start", "server.start"),
    server_endpoint("POST", "/api/servers/{server}/stop", "server.stop", RUNNING),
    server_endpoint("POST", "/api/servers/{server}/restart", "server.restart", RUNNING),
    server_endpoint("POST", "/api/servers/{server}/kill", "server.kill", RUNNING),
    server_endpoint(
        "POST", "/api/servers/{server}/command", "server.console", RUNNING, body={"command": "list"}
    ),
    server_endpoint("GET", "/api/servers/{server}/logs", "server.logs.read"),
    server_endpoint("POST", "/api/servers/{server}/suspend", "server.suspend"),
    server_endpoint("POST", "/api/servers/{server}/reset-crash-count", "server.update"),
    server_endpoint(
        "PATCH", "/api/servers/{server}/restart-policy", "server.update", body={"restartPolicy": "never"}
    ),
    server_endpoint("GET", "/api/servers/{server}/allocations", "server.read"),
    server_endpoint(
        "POST",
        "/api/servers/{server}/allocations",
        "server.update",
        body=lambda ctx: {"containerPort": 25599, "hostPort": ctx["free_port"]},
    ),
    server_endpoint(
        "POST",
        "/api/servers/{server}/allocations/primary",
        "server.update",
        body=lambda ctx: {"containerPort": ctx["free_port"] - 5000},
    ),
    Endpoint(
        "DELETE",
        "/api/servers/{server}/allocations/{free_port}",
        "server.update",
        scope="object",
        setup=lambda users: with_bound_extra(a_server())(users, "server.update"),
    ),
    server_endpoint("GET", "/api/servers/{server}/members", "server.read"),
    # Limits, node and image are staff's: a global permission owners never hold.
    Endpoint(
        "POST",
        "/api/servers",
        "server.resources",
        ok=201,
        setup=a_node_and_template,
        body=lambda ctx: {
            "name": f"placed-{ctx['n']}",
            "templateId": str(ctx["template"]),
            "nodeId": str(ctx["node"]),
            "allocatedMemoryMb": 128,
            "allocatedCpuCores": 1,
            "allocatedDiskMb": 128,
        },
    ),
    staff_endpoint(
        "PATCH",
        "/api/servers/{server}",
        "server.resources",
        setup=lambda users: a_server()(users, "server.update"),
        body={"allocatedMemoryMb": 256, "pidsLimit": 1024},
    ),
    staff_endpoint(
        "POST",
        "/api/servers/{server}/transfer",
        "server.transfer",
        setup=lambda users: with_target(lambda u: a_server()(u, "server.transfer"))(users),
        body=lambda ctx: {"targetNodeId": str(ctx["target"])},
    ),
    server_endpoint("GET", "/api/servers/{server}/jobs", "server.read"),
]
