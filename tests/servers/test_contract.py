"""The contract's admin endpoints and shapes: /api/admin/stats, /api/admin/servers, JSON numbers, delete."""

import json

import pytest
from django.utils import timezone

from nodes.models import Allocation, Location, Node
from servers.models import Server
from templates_app.models import Template

pytestmark = pytest.mark.django_db
S = Server.Status


@pytest.fixture
def fleet(customer, stranger):
    location = Location.objects.create(name="eu")
    nodes = [
        Node.objects.create(
            name=name,
            location=location,
            hostname="h",
            public_address="203.0.113.1",
            max_memory_mb=memory,
            max_cpu_cores=cores,
            is_online=online,
        )
        for name, memory, cores, online in [("a", 8192, "4.5", True), ("b", 4096, 2, False)]
    ]
    template = Template.objects.create(
        name="Game", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    servers = []
    for i, (owner, node, status, cpu) in enumerate(
        [(customer, nodes[0], S.RUNNING, "1.25"), (stranger, nodes[1], S.STOPPED, 2)]
    ):
        server = Server.objects.create(
            name=f"s{i}",
            owner=owner,
            node=node,
            template=template,
            docker_image=template.docker_image,
            status=status,
            allocated_memory_mb=1024 * (i + 1),
            allocated_cpu_cores=cpu,
            allocated_disk_mb=512,
            cpu_usage=12.5,
            installed_at=timezone.now(),
        )
        Allocation.objects.create(node=node, ip="127.0.0.1", port=25565 + i, server=server, is_primary=True)
        servers.append(server)
    return {"nodes": nodes, "servers": servers}


class TestAdminStats:
    def test_totals_as_the_contract_names_them(self, client_for, admin, fleet):
        response = client_for(admin).get("/api/admin/stats")
        assert response.status_code == 200
        assert response.json()["data"] == {
            "totalServers": 2,
            "runningServers": 1,
            "totalNodes": 2,
            "onlineNodes": 1,
            "totalUsers": 3,
            "totalMemoryMb": 12288,
            "usedMemoryMb": 3072,
            "totalCpuCores": 6.5,
            "usedCpuCores": 3.25,
        }

    def test_support_may_read_customers_may_not(self, client_for, customer, make_user, fleet):
        assert client_for(make_user(role="Support")).get("/api/admin/stats").status_code == 200
        assert client_for(customer).get("/api/admin/stats").status_code == 403
        assert client_for(customer).get("/api/admin/servers").status_code == 403


class TestAdminServers:
    def test_every_server_with_owner_and_node(self, client_for, admin, customer, fleet):
        body = client_for(admin).get("/api/admin/servers").json()
        assert body["pagination"]["total"] == 2
        first = body["data"][0]
        assert first["owner"] == {"id": str(customer.pk), "username": "customer", "email": customer.email}
        assert first["node"] == {"id": str(fleet["nodes"][0].pk), "name": "a"}
        assert (first["status"], first["allocatedMemoryMb"], first["cpuUsage"]) == ("running", 1024, 12.5)
        assert first["allocatedCpuCores"] == 1.25

    def test_filters(self, client_for, admin, customer, fleet):
        client = client_for(admin)
        mine = client.get(f"/api/admin/servers?ownerId={customer.pk}").json()["data"]
        assert [s["name"] for s in mine] == ["s0"]
        on_b = client.get(f"/api/admin/servers?nodeId={fleet['nodes'][1].pk}&status=stopped").json()["data"]
        assert [s["name"] for s in on_b] == ["s1"]


class TestNumbers:
    """Decimal fields are JSON numbers everywhere, never strings."""

    def test_servers_nodes_and_stats(self, client_for, admin, fleet):
        client = client_for(admin)
        server = fleet["servers"][0]
        raw = json.loads(client.get(f"/api/servers/{server.pk}").content)["data"]
        assert raw["allocatedCpuCores"] == 1.25 and isinstance(raw["allocatedCpuCores"], float)
        listed = json.loads(client.get("/api/servers").content)["data"]
        assert all(isinstance(s["allocatedCpuCores"], float) for s in listed)
        node = json.loads(client.get(f"/api/nodes/{fleet['nodes'][0].pk}").content)["data"]
        assert node["maxCpuCores"] == 4.5
        stats = json.loads(client.get("/api/admin/stats").content)["data"]
        assert isinstance(stats["totalCpuCores"], float)

    def test_the_schema_says_number(self, client_for, admin):
        schema = client_for(admin).get("/api/schema/?format=json")
        components = json.loads(schema.content)["components"]["schemas"]
        assert components["ServerDetail"]["properties"]["allocatedCpuCores"]["type"] == "number"
        assert components["Node"]["properties"]["maxCpuCores"]["type"] == "number"


class TestDelete:
    def test_the_answer_is_the_contracts(self, client_for, customer, fleet):
        server = fleet["servers"][0]
        Server.objects.filter(pk=server.pk).update(status=S.STOPPED)
        body = client_for(customer).delete(f"/api/servers/{server.pk}").json()
        assert body["success"] is True and body["message"] == "Server deleted successfully"
        assert body["jobId"]
