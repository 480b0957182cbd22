import pytest

from nodes.models import Allocation, Node

pytestmark = pytest.mark.django_db


def node_body(location, **overrides):
    return {
        "name": "eu-1",
        "locationId": str(location.pk),
        "hostname": "node1.example.com",
        "publicAddress": "203.0.113.10",
        "maxMemoryMb": 32768,
        "maxCpuCores": 16,
        "dockerUrl": "ssh://hearth@node1.example.com:22",
        "dataDir": "/srv/hearth",
        **overrides,
    }


class TestNodes:
    def test_create_returns_the_secret_once_and_never_the_private_key(self, staff, location):
        response = staff.post("/api/nodes", node_body(location), format="json")
        assert response.status_code == 201
        data = response.json()["data"]
        assert len(data["secret"]) >= 32
        assert data["sshPublicKey"].startswith("ssh-ed25519 ")
        assert "sshPrivateKey" not in data
        detail = staff.get(f"/api/nodes/{data['id']}").json()["data"]
        assert "secret" not in detail and "sshPrivateKey" not in detail
        assert {
            "id",
            "name",
            "description",
            "locationId",
            "hostname",
            "publicAddress",
            "maxMemoryMb",
            "maxCpuCores",
            "isOnline",
            "lastSeenAt",
            "createdAt",
            "servers",
        } <= set(detail)
        stored = Node.objects.get(pk=data["id"]).ssh_private_key
        assert "PRIVATE KEY" not in stored  # encrypted at rest

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("dockerUrl", "tcp://1.2.3.4:2375"),
            ("dockerUrl", "ssh://host"),
            ("dataDir", "relative/path"),
            ("dataDir", "/srv/it's"),
            ("maxMemoryMb", 0),
            ("sshPrivateKey", "not a key"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, staff, location, field, value):
        response = staff.post("/api/nodes", node_body(location, **{field: value}), format="json")
        assert response.status_code == 400
        assert field in response.json()["fields"]

    def test_update_and_delete(self, staff, location):
        node_id = staff.post("/api/nodes", node_body(location), format="json").json()["data"]["id"]
        updated = staff.put(
            f"/api/nodes/{node_id}",
            {**node_body(location), "name": "eu-1b", "maxMemoryMb": 65536},
            format="json",
        )
        assert updated.status_code == 200 and updated.json()["data"]["maxMemoryMb"] == 65536
        assert staff.delete(f"/api/nodes/{node_id}").json() == {"success": True}
        assert staff.get(f"/api/nodes/{node_id}").status_code == 404

    def test_put_takes_the_contracts_partial_body(self, staff, location):
        node_id = staff.post("/api/nodes", node_body(location), format="json").json()["data"]["id"]
        updated = staff.put(
            f"/api/nodes/{node_id}", {"name": "production-1-updated", "maxMemoryMb": 65536}, format="json"
        )
        assert updated.status_code == 200, updated.content
        data = updated.json()["data"]
        assert (data["name"], data["maxMemoryMb"], data["hostname"]) == (
            "production-1-updated",
            65536,
            "node1.example.com",
        )

    def test_max_cpu_cores_is_a_number(self, staff, location):
        data = staff.post("/api/nodes", node_body(location, maxCpuCores=2.5), format="json").json()["data"]
        assert data["maxCpuCores"] == 2.5
        assert staff.get(f"/api/nodes/{data['id']}").json()["data"]["maxCpuCores"] == 2.5

    def test_customers_cannot_see_nodes(self, client_for, customer, make_node):
        node = make_node(engine=2)
        assert client_for(customer).get("/api/nodes").status_code == 403
        assert client_for(customer).get(f"/api/nodes/{node.pk}").status_code == 403

    def test_customers_can_list_locations(self, client_for, customer, location):
        names = [loc["name"] for loc in client_for(customer).get("/api/locations").json()["data"]]
        assert names == ["test-dc"]

    def test_test_endpoint_reports_a_reachable_node(self, staff, make_node):
        response = staff.post(f"/api/nodes/{make_node(engine=1, via='unix').pk}/test")
        assert response.status_code == 200
        assert response.json()["data"]["ok"] is True


class TestAllocations:
    def test_bulk_creation_from_a_range_and_ports(self, staff, make_node):
        node = make_node(engine=1, via="unix")
        response = staff.post(
            f"/api/nodes/{node.pk}/allocations",
            {"ip": "203.0.113.0/30", "ports": "25565-25569,27015"},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["data"] == {"created": 12, "skipped": 0}  # 2 hosts x 6 ports
        again = staff.post(
            f"/api/nodes/{node.pk}/allocations",
            {"ip": "203.0.113.1", "ports": ["25565-25570"]},
            format="json",
        )
        assert again.json()["data"] == {"created": 1, "skipped": 5}
        listed = staff.get(f"/api/nodes/{node.pk}/allocations?limit=100").json()
        assert listed["pagination"]["total"] == 13

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"ip": "203.0.113.1", "ports": "25565-26565"}, "ports"),
            ({"ip": "203.0.113.0/20", "ports": "25565"}, "ip"),
            ({"ip": "203.0.113.0/26", "ports": "1-20"}, "ports"),
            ({"ip": "not-an-ip", "ports": "1"}, "ip"),
            ({"ip": "203.0.113.1", "ports": "70000"}, "ports"),
            ({"ip": "203.0.113.1", "ports": "30-20"}, "ports"),
            ({"ip": "203.0.113.1", "ports": "http"}, "ports"),
        ],
    )
    def test_refusals(self, staff, make_node, body, field):
        node = make_node(engine=1, via="unix")
        response = staff.post(f"/api/nodes/{node.pk}/allocations", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["fields"]
        assert not Allocation.objects.exists()

    def test_delete_one(self, staff, make_node):
        node = make_node(engine=1, via="unix")
        staff.post(
            f"/api/nodes/{node.pk}/allocations", {"ip": "203.0.113.1", "ports": "25565"}, format="json"
        )
        allocation = Allocation.objects.get()
        assert staff.delete(f"/api/nodes/{node.pk}/allocations/{allocation.pk}").status_code == 200
        assert staff.delete(f"/api/nodes/{node.pk}/allocations/{allocation.pk}").status_code == 404

    def test_a_node_made_through_the_api_alone_gets_ports_and_hosts_a_server(self, staff, customer, location):
        from templates_app.models import Template

        node = staff.post("/api/nodes", node_body(location), format="json").json()["data"]
        made = staff.post(
            f"/api/nodes/{node['id']}/allocations",
            {"ip": "203.0.113.10", "ports": "25565-25567"},
            format="json",
        )
        assert made.json()["data"] == {"created": 3, "skipped": 0}
        template = Template.objects.create(
            name="Game", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
        )
        server = staff.post(
            "/api/servers",
            {
                "name": "first",
                "templateId": str(template.pk),
                "nodeId": node["id"],
                "ownerId": str(customer.pk),
                "primaryPort": 25566,
            },
            format="json",
        )
        assert server.status_code == 201, server.content
        assert server.json()["data"]["primaryHostPort"] == 25566
        listed = staff.get(f"/api/nodes/{node['id']}/allocations").json()["data"]
        assigned = {a["port"]: a["serverId"] for a in listed}
        assert assigned == {25565: None, 25566: server.json()["data"]["id"], 25567: None}
        free = staff.get(f"/api/nodes/{node['id']}/allocations?assigned=false").json()["data"]
        assert [a["port"] for a in free] == [25565, 25567]
        taken = staff.get(f"/api/nodes/{node['id']}/allocations?assigned=true&ip=203.0.113.10").json()["data"]
        assert [a["port"] for a in taken] == [25566]
        bad = staff.get(f"/api/nodes/{node['id']}/allocations?assigned=maybe")
        assert bad.status_code == 400 and "assigned" in bad.json()["fields"]
        bad = staff.get(f"/api/nodes/{node['id']}/allocations?ip=not-an-ip")
        assert bad.status_code == 400 and "ip" in bad.json()["fields"]
        by_port = {a["port"]: a["id"] for a in listed}
        refused = staff.delete(f"/api/nodes/{node['id']}/allocations/{by_port[25566]}")
        assert refused.status_code == 400 and "assigned to a server" in refused.json()["message"]
        assert staff.delete(f"/api/nodes/{node['id']}/allocations/{by_port[25567]}").status_code == 200
        assert Allocation.objects.filter(node_id=node["id"]).count() == 2

    def test_customers_cannot_touch_node_allocations(self, client_for, customer, make_node):
        node = make_node(engine=1, via="unix")
        client = client_for(customer)
        assert client.get(f"/api/nodes/{node.pk}/allocations").status_code == 403
        body = {"ip": "203.0.113.1", "ports": "25565"}
        assert client.post(f"/api/nodes/{node.pk}/allocations", body, format="json").status_code == 403
        assert not Allocation.objects.exists()


class TestAdmin:
    def test_test_connection_action_and_bulk_allocation_form(self, signed_in, admin, make_node):
        node = make_node(engine=2)
        client = signed_in(admin)
        response = client.post(
            "/admin/nodes/node/",
            {"action": "test_connection", "_selected_action": [str(node.pk)]},
            follow=True,
        )
        assert any(f"{node.name}: reachable" in str(m) for m in response.context["messages"])
        assert client.get(f"/admin/nodes/node/{node.pk}/change/").status_code == 200
        response = client.post(
            f"/admin/nodes/node/{node.pk}/allocations/", {"ip": "203.0.113.5", "ports": "25565-25566"}
        )
        assert response.status_code == 302
        assert Allocation.objects.filter(node=node).count() == 2


def test_the_node_list_takes_the_same_queries_however_many_nodes_and_servers(staff, admin, location, db):
    """Nodes and their servers come in a constant number of queries (no query per node)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from servers.models import Server
    from templates_app.models import Template

    template = Template.objects.create(
        name="q", docker_image="busybox", start_command="true", stop_command="stop"
    )

    def grow(count: int) -> None:
        for _ in range(count):
            node = Node.objects.create(
                name=f"q-{Node.objects.count()}",
                location=location,
                hostname="h",
                public_address="203.0.113.9",
                max_memory_mb=1024,
                max_cpu_cores=1,
            )
            for i in range(3):
                Server.objects.create(
                    name=f"s{i}",
                    node=node,
                    template=template,
                    owner=admin,
                    docker_image="busybox",
                    allocated_memory_mb=64,
                    allocated_cpu_cores=1,
                    allocated_disk_mb=64,
                )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            answer = staff.get("/api/nodes")
        assert answer.status_code == 200
        return len(captured.captured_queries), answer.json()["data"]

    grow(1)
    few, data = queries()
    assert data[0]["servers"] and set(data[0]["servers"][0]) == {"id", "name", "status"}
    grow(5)
    many, data = queries()
    assert many == few and len(data) == 6
    # The servers come as JSON written beforehand: an indented answer (DRF's own renderer) has them too.
    indented = staff.get("/api/nodes", HTTP_ACCEPT="application/json; indent=2")
    assert indented.content.startswith(b'{\n  "success": true')
    assert indented.json()["data"] == data
