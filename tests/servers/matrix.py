from django.utils import timezone

from nodes.models import Allocation, Location, Node
from servers.models import Server, ServerMember
from templates_app.models import Template
from tests.matrix import Endpoint


def a_server(status: str = Server.Status.STOPPED):
    """A server row owned by users['owner'], with a member holding the endpoint's permission and one without."""

    def setup(users, permission=None) -> dict:
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


RUNNING = Server.Status.RUNNING
ENDPOINTS = [
    Endpoint("GET", "/api/servers", None),
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
    server_endpoint("GET", "/api/servers/{server}/members", "server.read"),
    server_endpoint("GET", "/api/servers/{server}/jobs", "server.read"),
]
