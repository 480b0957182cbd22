"""Limits, node and image are the hosting company's: every path a customer could use to change them.

A customer (an owner without `server.resources`) who sends a staff-only field gets a 403 naming the
field, before any state check, and nothing changes. One literal table, run on a stopped, a running
and a suspended server.
"""

import json

import pytest
from django.utils import timezone

from accounts.models import User
from nodes.models import Allocation, Location, Node
from servers.lifecycle.create import server_create
from servers.models import Job, Server
from templates_app.models import Template
from tests.fixtures.races import status_of, while_row_locked

S = Server.Status
EVIL = "evil/miner:latest"


@pytest.fixture
def world(db, customer):
    location = Location.objects.create(name="eu")

    def node(name, **fields):
        made = Node.objects.create(
            name=name,
            location=location,
            hostname="h",
            public_address="203.0.113.1",
            max_memory_mb=8192,
            max_cpu_cores=8,
            is_online=True,
            **fields,
        )
        Allocation.objects.bulk_create(
            [Allocation(node=made, ip="127.0.0.1", port=p) for p in range(25565, 25575)]
        )
        return made

    template = Template.objects.create(
        name="Game",
        docker_image="hearth/testgame:latest",
        docker_images={"Alternative": "hearth/testgame:alt"},
        start_command="testgame",
        stop_command="stop",
    )
    n1, n2, closed = node("n1"), node("n2"), node("closed", maintenance_mode=True)
    server = Server.objects.create(
        name="mine",
        owner=customer,
        node=n1,
        template=template,
        docker_image=template.docker_image,
        status=S.STOPPED,
        allocated_memory_mb=512,
        allocated_cpu_cores=1,
        allocated_disk_mb=512,
        installed_at=timezone.now(),
    )
    Allocation.objects.filter(node=n1, port=25565).update(server=server, is_primary=True)
    return {"template": template, "n1": n1, "n2": n2, "closed": closed, "server": server}


def snapshot(world) -> dict:
    """Everything a refused request must leave as it was."""
    server = Server.objects.filter(pk=world["server"].pk).values().get()
    server.pop("updated_at")
    return {
        "server": server,
        "servers": Server.objects.count(),
        "allocations": sorted(
            Allocation.objects.values_list("node__name", "port", "server_id", "container_port", "is_primary")
        ),
        "jobs": Job.objects.count(),
    }


CREATE = "POST /api/servers"
PUT = "PUT /api/servers/{server}"
PATCH = "PATCH /api/servers/{server}"
ALLOCATIONS = "POST /api/servers/{server}/allocations"
PRIMARY = "POST /api/servers/{server}/allocations/primary"
INSTALL = "POST /api/servers/{server}/install"
REINSTALL = "POST /api/servers/{server}/reinstall"
TRANSFER = "POST /api/servers/{server}/transfer"

# (request, body, status, the field the answer names). Placeholders {n1}, {n2}, {closed}: node ids.
REFUSALS = [
    # create: node, ports and extra limits are staff's; the size stays within the self-service maximums
    (CREATE, {"nodeId": "{n1}"}, 403, "nodeId"),
    (CREATE, {"nodeId": "{closed}"}, 403, "nodeId"),
    (CREATE, {"allocatedSwapMb": 4096}, 403, "allocatedSwapMb"),
    (CREATE, {"ioWeight": 1000}, 403, "ioWeight"),
    (CREATE, {"pidsLimit": 32768}, 403, "pidsLimit"),
    (CREATE, {"primaryPort": 25570}, 403, "primaryPort"),
    (CREATE, {"portBindings": {"25575": 25571}}, 403, "portBindings"),
    (CREATE, {"backupLimit": 100}, 403, "backupLimit"),
    (CREATE, {"databaseLimit": 100}, 403, "databaseLimit"),
    (CREATE, {"allocationLimit": 100}, 403, "allocationLimit"),
    (CREATE, {"allocatedMemoryMb": 65536}, 400, "allocatedMemoryMb"),
    (CREATE, {"allocatedCpuCores": 64}, 400, "allocatedCpuCores"),
    (CREATE, {"allocatedDiskMb": 10_000_000}, 400, "allocatedDiskMb"),
    (CREATE, {"dockerImage": EVIL}, 400, "dockerImage"),
    (CREATE, {"privileged": True}, 400, "privileged"),
    # update (PUT and PATCH): every limit is staff's; the image is one of the template's
    *[
        (method, {field: value}, 403, field)
        for method in (PUT, PATCH)
        for field, value in [
            ("allocatedMemoryMb", 65536),
            ("allocatedSwapMb", 4096),
            ("allocatedCpuCores", 8),
            ("allocatedDiskMb", 1_000_000),
            ("ioWeight", 1000),
            ("pidsLimit", 32768),
            ("backupLimit", 100),
            ("databaseLimit", 100),
            ("allocationLimit", 100),
            ("nodeId", "{n2}"),
        ]
    ],
    (PATCH, {"name": "ok", "allocatedMemoryMb": 65536}, 403, "allocatedMemoryMb"),  # nothing applies
    (PUT, {"dockerImage": EVIL}, 400, "dockerImage"),
    (PATCH, {"dockerImage": ""}, 400, "dockerImage"),
    (PATCH, {"privileged": True}, 400, "privileged"),
    # allocations: within the server's allocation limit, which is staff's
    (ALLOCATIONS, {"containerPort": 25599, "hostPort": 25566, "allocationLimit": 10}, 403, "allocationLimit"),
    (ALLOCATIONS, {"containerPort": 25599, "hostPort": 25566, "nodeId": "{n2}"}, 403, "nodeId"),
    (PRIMARY, {"containerPort": 25565, "allocatedMemoryMb": 65536}, 403, "allocatedMemoryMb"),
    # install and reinstall: may switch to another of the template's images, nothing else
    (INSTALL, {"dockerImage": EVIL}, 400, "dockerImage"),
    (REINSTALL, {"dockerImage": EVIL}, 400, "dockerImage"),
    (REINSTALL, {"allocatedMemoryMb": 65536}, 403, "allocatedMemoryMb"),
    (REINSTALL, {"dockerImage": "hearth/testgame:alt", "pidsLimit": 32768}, 403, "pidsLimit"),
    # transfer: moving a server between nodes is staff's altogether
    (TRANSFER, {"targetNodeId": "{n2}"}, 403, "server.transfer"),
    (TRANSFER, {"targetNodeId": "{closed}"}, 403, "server.transfer"),
]


def fill(value, world):
    if isinstance(value, str):
        return value.format(**{k: str(world[k].pk) for k in ("n1", "n2", "closed")})
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    return value


def send(client, world, request: str, body: dict):
    method, path = request.split(" ")
    path = path.format(server=world["server"].pk)
    if request == CREATE:
        body = {
            "name": "new",
            "templateId": str(world["template"].pk),
            "allocatedMemoryMb": 512,
            "allocatedCpuCores": 1,
            "allocatedDiskMb": 512,
            **body,
        }
    return client.generic(method, path, data=json.dumps(fill(body, world)), content_type="application/json")


@pytest.mark.parametrize("status", [S.STOPPED, S.RUNNING, S.SUSPENDED])
@pytest.mark.parametrize(
    ("request_line", "body", "expected", "field"),
    REFUSALS,
    ids=[f"{r} {sorted(b)}->{e}" for r, b, e, _ in REFUSALS],
)
def test_a_customer_is_refused_and_nothing_changes(
    client_for, customer, world, status, request_line, body, expected, field
):
    Server.objects.filter(pk=world["server"].pk).update(status=status)
    before = snapshot(world)
    response = send(client_for(customer), world, request_line, body)
    assert response.status_code == expected, response.content  # 403 and 400 come before 409 and 423
    assert field in response.json()["message"]
    assert snapshot(world) == before


def test_a_member_with_update_rights_is_refused_like_the_owner(client_for, make_user, world):
    from servers.models import ServerMember

    member = make_user()
    ServerMember.objects.create(server=world["server"], user=member, permissions=["server.update"])
    before = snapshot(world)
    response = client_for(member).patch(
        f"/api/servers/{world['server'].pk}", {"allocatedMemoryMb": 4096}, format="json"
    )
    assert response.status_code == 403 and "allocatedMemoryMb" in response.json()["message"]
    assert response.json()["fields"] == {"allocatedMemoryMb": ["Requires server.resources."]}
    assert snapshot(world) == before


def test_an_api_key_without_the_permission_cannot_resize_even_for_an_administrator(api, make_user, world):
    from accounts.apikeys import apikey_create

    admin = make_user(role="Administrator")
    raw = apikey_create(user=admin, name="ci", permissions=["server.read", "server.update"])[1]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.patch(f"/api/servers/{world['server'].pk}", {"pidsLimit": 32768}, format="json")
    assert response.status_code == 403 and "pidsLimit" in response.json()["message"]


class TestWhatCustomersMayDo:
    def test_pick_another_of_the_templates_images(self, client_for, customer, world):
        client = client_for(customer)
        response = client.patch(
            f"/api/servers/{world['server'].pk}", {"dockerImage": "hearth/testgame:alt"}, format="json"
        )
        assert response.status_code == 200 and response.json()["data"]["dockerImage"] == "hearth/testgame:alt"
        response = client.post(
            f"/api/servers/{world['server'].pk}/reinstall",
            {"dockerImage": "hearth/testgame:latest"},
            format="json",
        )
        assert response.status_code == 200
        assert Server.objects.get(pk=world["server"].pk).docker_image == "hearth/testgame:latest"

    def test_create_within_the_maximums_goes_through_placement(self, client_for, customer, world):
        body = {
            "name": "new",
            "templateId": str(world["template"].pk),
            "locationId": str(world["n1"].location_id),
        }
        response = client_for(customer).post("/api/servers", body, format="json")
        assert response.status_code == 201, response.content
        data = response.json()["data"]
        assert data["nodeId"] in (str(world["n1"].pk), str(world["n2"].pk))  # never the node in maintenance
        assert (data["allocatedMemoryMb"], data["allocatedCpuCores"], data["allocatedDiskMb"]) == (
            1024,
            1,
            5120,
        )
        assert (data["allocatedSwapMb"], data["pidsLimit"], data["ioWeight"]) == (0, 512, 500)

    def test_rename_and_describe_a_running_server(self, client_for, customer, world):
        Server.objects.filter(pk=world["server"].pk).update(status=S.RUNNING)
        response = client_for(customer).patch(
            f"/api/servers/{world['server'].pk}",
            {"name": "renamed", "description": "x" * 1000},
            format="json",
        )
        assert response.status_code == 200

    def test_a_description_has_a_length_limit(self, client_for, customer, world):
        client = client_for(customer)
        too_long = {"description": "x" * 1001}
        response = client.patch(f"/api/servers/{world['server'].pk}", too_long, format="json")
        assert response.status_code == 400 and "description" in response.json()["fields"]
        body = {"name": "new", "templateId": str(world["template"].pk), **too_long}
        assert client.post("/api/servers", body, format="json").status_code == 400


class TestWhatStaffMayDo:
    def test_set_every_limit_and_any_image(self, client_for, admin, world):
        changes = {
            "allocatedMemoryMb": 2048,
            "allocatedSwapMb": 512,
            "allocatedCpuCores": 2.5,
            "allocatedDiskMb": 4096,
            "ioWeight": 900,
            "pidsLimit": 1024,
            "backupLimit": 10,
            "databaseLimit": 4,
            "allocationLimit": 6,
            "dockerImage": "registry.example.com/custom/game:1.2",
        }
        response = client_for(admin).patch(f"/api/servers/{world['server'].pk}", changes, format="json")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        assert {k: data[k] for k in changes} == changes

    def test_name_a_node_in_maintenance_explicitly(self, client_for, admin, customer, world):
        body = {
            "name": "canary",
            "templateId": str(world["template"].pk),
            "nodeId": str(world["closed"].pk),
            "ownerId": str(customer.pk),
            "allocatedSwapMb": 256,
            "pidsLimit": 2048,
        }
        response = client_for(admin).post("/api/servers", body, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["data"]["nodeId"] == str(world["closed"].pk)
        transfer = client_for(admin).post(
            f"/api/servers/{world['server'].pk}/transfer",
            {"targetNodeId": str(world["closed"].pk)},
            format="json",
        )
        assert transfer.status_code == 200, transfer.content

    def test_a_transfer_role_without_resources_cannot_target_maintenance(self, client_for, make_user, world):
        mover = make_user(permissions=["server.transfer", "server.read"])
        response = client_for(mover).post(
            f"/api/servers/{world['server'].pk}/transfer",
            {"targetNodeId": str(world["closed"].pk)},
            format="json",
        )
        assert response.status_code == 400 and "in maintenance" in response.json()["message"]

    def test_port_bindings_at_create_count_against_the_allocation_limit(self, client_for, admin, world):
        body = {
            "name": "many-ports",
            "templateId": str(world["template"].pk),
            "nodeId": str(world["n2"].pk),
            "portBindings": {"27015": 25566, "27016": 25567, "27017": 25568},
        }
        client = client_for(admin)
        refused = client.post("/api/servers", body, format="json")
        assert refused.status_code == 400 and "at most 3 allocations" in refused.json()["message"]
        assert Allocation.objects.filter(node=world["n2"], server__isnull=False).count() == 0
        allowed = client.post("/api/servers", {**body, "allocationLimit": 4}, format="json")
        assert allowed.status_code == 201, allowed.content
        assert len(allowed.json()["data"]["allocations"]) == 4

    def test_an_arbitrary_image_must_still_be_a_valid_reference(self, client_for, admin, world):
        response = client_for(admin).patch(
            f"/api/servers/{world['server'].pk}", {"dockerImage": "evil; rm -rf /"}, format="json"
        )
        assert response.status_code == 400 and "dockerImage" in response.json()["fields"]


class TestPlacementRules:
    def test_customers_never_land_on_a_node_in_maintenance(self, client_for, customer, world):
        Node.objects.exclude(pk=world["closed"].pk).update(is_online=False)
        body = {"name": "new", "templateId": str(world["template"].pk)}
        response = client_for(customer).post("/api/servers", body, format="json")
        assert response.status_code == 400
        assert "no node is online and out of maintenance" in response.json()["message"]

    def test_swap_counts_against_node_memory(self, client_for, admin, world):
        node = world["n2"]
        Node.objects.filter(pk=node.pk).update(max_memory_mb=2048)
        server_create(
            actor=admin,
            template=world["template"],
            name="swapper",
            node=node,
            allocated_memory_mb=1024,
            allocated_swap_mb=1024,
            allocated_cpu_cores=1,
            allocated_disk_mb=512,
        )
        body = {
            "name": "one-more",
            "templateId": str(world["template"].pk),
            "nodeId": str(node.pk),
            "allocatedMemoryMb": 512,
        }
        response = client_for(admin).post("/api/servers", body, format="json")
        assert response.status_code == 400
        assert "node 'n2' is short of memory (needs 512 MB incl. swap, 0 free)" in response.json()["message"]
        swap = {"allocatedSwapMb": 8192}
        resize = client_for(admin).patch(f"/api/servers/{world['server'].pk}", swap, format="json")
        assert resize.status_code == 400 and "memory (needs 8704 MB incl. swap" in resize.json()["message"]


class TestShortagesAreNamed:
    """ "Node does not have enough resources" alone never says what to fix."""

    def test_no_free_port_on_any_node_is_named_as_ports(self, client_for, customer, world):
        Allocation.objects.filter(server__isnull=True).delete()
        body = {"name": "new", "templateId": str(world["template"].pk)}
        message = client_for(customer).post("/api/servers", body, format="json").json()["message"]
        assert "'n1': ports (no free allocation)" in message
        assert "'n2': ports (no free allocation)" in message
        assert "closed" not in message  # a node in maintenance is not a candidate

    def test_each_short_resource_is_named_per_node(self, client_for, customer, admin, world):
        Node.objects.filter(pk=world["n1"].pk).update(max_cpu_cores=1)  # its server holds the one core
        Node.objects.filter(pk=world["n2"].pk).update(max_disk_mb=100)
        body = {"name": "new", "templateId": str(world["template"].pk), "allocatedDiskMb": 1024}
        message = client_for(customer).post("/api/servers", body, format="json").json()["message"]
        assert message == (
            "nodeId: Node does not have enough resources: no node has room. "
            "'n1': CPU (needs 1 core); 'n2': disk (needs 1024 MB)."
        )  # customers are told what is short, not how much each node has left
        staff = client_for(admin).post(
            "/api/servers", {**body, "nodeId": str(world["n1"].pk), "allocatedCpuCores": 2}, format="json"
        )
        assert staff.json()["message"] == (
            "nodeId: Node does not have enough resources: node 'n1' is short of CPU (needs 2 cores, 0 free)."
        )

    def test_no_free_port_on_a_chosen_node(self, client_for, admin, world):
        Allocation.objects.filter(node=world["n2"]).delete()
        body = {"name": "new", "templateId": str(world["template"].pk), "nodeId": str(world["n2"].pk)}
        message = client_for(admin).post("/api/servers", body, format="json").json()["message"]
        assert (
            message
            == "nodeId: Node does not have enough resources: node 'n2' is short of ports (no free allocation)."
        )


class TestQuota:
    def test_self_service_creates_stop_at_the_quota_staff_ones_do_not(
        self, client_for, customer, admin, world, settings
    ):
        settings.SELF_SERVICE_SERVER_QUOTA = 2  # the customer already owns one
        client = client_for(customer)
        body = {"name": "new", "templateId": str(world["template"].pk)}
        assert client.post("/api/servers", body, format="json").status_code == 201
        refused = client.post("/api/servers", body, format="json")
        assert refused.status_code == 403 and "may create 2 on its own" in refused.json()["message"]
        for_them = client_for(admin).post(
            "/api/servers", {**body, "ownerId": str(customer.pk)}, format="json"
        )
        assert for_them.status_code == 201
        assert Server.objects.filter(owner=customer).count() == 3

    def test_support_staff_creating_for_a_customer_is_not_counted_against_anyone(
        self, client_for, customer, make_user, world, settings
    ):
        settings.SELF_SERVICE_SERVER_QUOTA = 1  # the customer is at it already
        clerk = make_user(permissions=["admin.write"])
        body = {"name": "new", "templateId": str(world["template"].pk), "ownerId": str(customer.pk)}
        assert client_for(clerk).post("/api/servers", body, format="json").status_code == 201
        too_big = client_for(clerk).post("/api/servers", {**body, "allocatedMemoryMb": 65536}, format="json")
        assert too_big.status_code == 400  # sizes beyond the maximums still need server.resources

    def test_a_quota_of_zero_turns_self_service_off(self, client_for, make_user, world, settings):
        settings.SELF_SERVICE_SERVER_QUOTA = 0
        body = {"name": "new", "templateId": str(world["template"].pk)}
        assert client_for(make_user()).post("/api/servers", body, format="json").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_self_service_creates_cannot_pass_the_quota(make_user, settings):
    settings.SELF_SERVICE_SERVER_QUOTA = 2
    location = Location.objects.create(name="eu")
    node = Node.objects.create(
        name="n",
        location=location,
        hostname="h",
        public_address="203.0.113.1",
        max_memory_mb=100_000,
        max_cpu_cores=64,
        is_online=True,
    )
    Allocation.objects.bulk_create(
        [Allocation(node=node, ip="127.0.0.1", port=p) for p in range(26000, 26010)]
    )
    template = Template.objects.create(
        name="T", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    user = make_user()

    def create(i):
        return lambda: server_create(actor=user, template=template, name=f"s{i}", allocated_memory_mb=64)

    # All five wait on the user's row, under which the quota is counted.
    outcomes = while_row_locked(User.objects.filter(pk=user.pk), [create(i) for i in range(5)])
    assert sorted(f"refused {status_of(o)}" if isinstance(o, Exception) else "created" for o in outcomes) == (
        ["created"] * 2 + ["refused 403"] * 3
    )
    assert Server.objects.filter(owner=user).count() == 2
