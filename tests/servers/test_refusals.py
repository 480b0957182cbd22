"""Every refusal of the servers API: state (409), suspension (423), input (400), capacity, races."""

import pytest
from django.utils import timezone

from nodes.models import Allocation, Location, Node
from servers.lifecycle.create import server_create
from servers.lifecycle.power import server_start
from servers.models import Server, ServerMember
from templates_app.models import Template, TemplateVariable
from tests.fixtures.races import status_of, while_row_locked

S = Server.Status


@pytest.fixture
def template(db):
    template = Template.objects.create(
        name="Game",
        docker_image="hearth/testgame:latest",
        start_command="testgame",
        stop_command="stop",
        required_variables=["MOTD"],
    )
    TemplateVariable.objects.create(
        template=template,
        env_variable="MAX_PLAYERS",
        name="Max players",
        default_value="20",
        rules={"type": "integer", "min": 1, "max": 100},
    )
    return template


@pytest.fixture
def make_node(db):
    location = Location.objects.create(name="eu")

    def make(name="n1", memory=4096, ports=range(25565, 25575), **fields):
        fields.setdefault("is_online", True)
        node = Node.objects.create(
            name=name,
            location=location,
            hostname="h",
            public_address="203.0.113.1",
            max_memory_mb=memory,
            max_cpu_cores=8,
            **fields,
        )
        Allocation.objects.bulk_create([Allocation(node=node, ip="127.0.0.1", port=p) for p in ports])
        return node

    return make


def body(template, node=None, **extra):
    data = {
        "name": "srv",
        "templateId": str(template.pk),
        "allocatedMemoryMb": 1024,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 1024,
        "environment": {"MOTD": "hi"},
        **extra,
    }
    if node is not None:
        data["nodeId"] = str(node.pk)
    return data


def a_server(owner, node, template, status=S.STOPPED, **fields) -> Server:
    server = Server.objects.create(
        name="s",
        owner=owner,
        node=node,
        template=template,
        status=status,
        docker_image=template.docker_image,
        allocated_memory_mb=512,
        allocated_cpu_cores=1,
        allocated_disk_mb=512,
        installed_at=timezone.now(),
        **fields,
    )
    allocation = Allocation.objects.filter(node=node, server=None).first()
    allocation.server, allocation.is_primary = server, True
    allocation.save()
    return server


class TestCreate:
    def test_missing_required_variables_are_named(self, client_for, customer, template, make_node):
        make_node()
        response = client_for(customer).post("/api/servers", body(template, environment={}), format="json")
        assert response.status_code == 400
        assert response.json()["message"] == "Missing required template variables: MOTD"

    def test_invalid_variable_values_are_a_400(self, client_for, customer, template, make_node):
        make_node()
        response = client_for(customer).post(
            "/api/servers",
            body(template, environment={"MOTD": "x", "MAX_PLAYERS": "500"}),
            format="json",
        )
        assert response.status_code == 400
        assert "MAX_PLAYERS" in response.json()["message"]

    def test_unknown_template_or_node_is_a_404(self, client_for, customer, admin, template, make_node):
        bad = body(template)
        bad["templateId"] = "00000000-0000-0000-0000-000000000000"
        assert (
            client_for(customer).post("/api/servers", bad, format="json").json()["message"]
            == "Template or node not found"
        )
        bad = body(template, make_node("n2"))
        bad["nodeId"] = "00000000-0000-0000-0000-000000000000"
        assert client_for(admin).post("/api/servers", bad, format="json").status_code == 404

    def test_a_full_node_refuses_naming_the_resource_and_the_node(
        self, client_for, admin, template, make_node
    ):
        response = client_for(admin).post(
            "/api/servers", body(template, make_node(memory=512)), format="json"
        )
        assert response.status_code == 400
        assert response.json()["message"] == (
            "nodeId: Node does not have enough resources: node 'n1' is short of "
            "memory (needs 1024 MB incl. swap, 512 free)."
        )

    def test_overallocation_lets_a_node_take_more(self, client_for, admin, template, make_node):
        node = make_node(memory=1000, memory_overallocate_percent=50)
        assert client_for(admin).post("/api/servers", body(template, node), format="json").status_code == 201

    def test_a_taken_port_is_refused(self, client_for, admin, template, make_node):
        node = make_node()
        client = client_for(admin)
        assert (
            client.post("/api/servers", body(template, node, primaryPort=25566), format="json").status_code
            == 201
        )
        response = client.post("/api/servers", body(template, node, primaryPort=25566), format="json")
        assert response.status_code == 400
        assert "25566 is not a free allocation" in response.json()["message"]

    def test_placement_picks_the_least_loaded_online_node_in_the_location(
        self, client_for, customer, template, make_node, settings
    ):
        settings.PLACEMENT_STRATEGY = "least-memory"
        busy, idle = make_node("busy"), make_node("idle")
        make_node("offline", is_online=False)
        make_node("maintenance", maintenance_mode=True)
        a_server(customer, busy, template)
        response = client_for(customer).post("/api/servers", body(template), format="json")
        assert response.json()["data"]["nodeId"] == str(idle.pk)

    def test_placement_without_room_anywhere(self, client_for, customer, template, make_node):
        make_node(memory=512)
        response = client_for(customer).post("/api/servers", body(template), format="json")
        assert response.status_code == 400
        assert "Node does not have enough resources" in response.json()["message"]

    @pytest.mark.parametrize("strategy", ["fewest-servers", "round-robin"])
    def test_other_strategies_spread_servers(
        self, client_for, customer, template, make_node, settings, strategy
    ):
        settings.PLACEMENT_STRATEGY = strategy
        make_node("a"), make_node("b")
        client = client_for(customer)
        nodes = {
            client.post("/api/servers", body(template), format="json").json()["data"]["nodeId"]
            for _ in range(2)
        }
        assert len(nodes) == 2

    def test_customers_cannot_create_for_someone_else(
        self, client_for, customer, stranger, template, make_node
    ):
        make_node()
        response = client_for(customer).post(
            "/api/servers", body(template, ownerId=str(stranger.pk)), format="json"
        )
        assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_never_share_a_port(customer, admin, template, make_node):
    """All five are parked on the node's row lock (creations on a node queue there) before any goes on."""
    node = make_node(memory=100_000, ports=range(26000, 26060))

    def create(i):
        return lambda: server_create(
            actor=admin,
            owner=customer,
            template=template,
            name=f"s{i}",
            node=node,
            allocated_memory_mb=64,
            allocated_cpu_cores=0.1,
            allocated_disk_mb=64,
            environment={"MOTD": "x"},
        )

    outcomes = while_row_locked(Node.objects.filter(pk=node.pk), [create(i) for i in range(5)])
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    ports = list(Allocation.objects.filter(server__isnull=False).values_list("port", flat=True))
    assert len(ports) == 5 == len(set(ports))


class TestStates:
    @pytest.fixture
    def server(self, customer, make_node, template):
        return a_server(customer, make_node(), template)

    def test_every_action_on_a_suspended_server_is_423(self, client_for, customer, admin, server):
        client_for(admin).post(
            f"/api/servers/{server.pk}/suspend", {"reason": "Billing issue"}, format="json"
        )
        client = client_for(customer)
        for path, payload in [
            ("start", {}),
            ("stop", {}),
            ("restart", {}),
            ("kill", {}),
            ("install", {}),
            ("reinstall", {}),
            ("command", {"command": "list"}),
            ("reset-crash-count", {}),
        ]:
            response = client.post(f"/api/servers/{server.pk}/{path}", payload, format="json")
            assert response.status_code == 423, path
            assert response.json()["message"] == "Server is suspended: Billing issue."
        assert (
            client.put(f"/api/servers/{server.pk}", {"environment": {"MOTD": "x"}}, format="json").status_code
            == 423
        )
        assert client.delete(f"/api/servers/{server.pk}").status_code == 423
        assert client.get(f"/api/servers/{server.pk}").json()["data"]["suspensionReason"] == "Billing issue"

    def test_suspending_twice_and_unsuspending_an_active_server_are_409(self, client_for, admin, server):
        staff = client_for(admin)
        assert staff.post(f"/api/servers/{server.pk}/unsuspend").status_code == 409
        assert staff.post(f"/api/servers/{server.pk}/suspend").status_code == 200
        assert staff.post(f"/api/servers/{server.pk}/suspend").status_code == 409
        response = staff.post(f"/api/servers/{server.pk}/unsuspend")
        assert response.json()["data"]["status"] == "stopped"

    def test_a_running_server_cannot_be_deleted_or_resized(self, client_for, customer, admin, server):
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        client = client_for(customer)
        response = client.delete(f"/api/servers/{server.pk}")
        assert response.status_code == 409
        assert response.json()["currentState"] == "running"
        resize = {"allocatedMemoryMb": 600}
        assert client_for(admin).put(f"/api/servers/{server.pk}", resize, format="json").status_code == 409
        assert (
            client.put(f"/api/servers/{server.pk}", {"environment": {"MOTD": "x"}}, format="json").status_code
            == 409
        )
        renamed = client.put(f"/api/servers/{server.pk}", {"name": "new name"}, format="json")
        assert renamed.status_code == 200

    def test_starting_a_running_server_is_a_409_with_the_state(self, client_for, customer, server):
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        response = client_for(customer).post(f"/api/servers/{server.pk}/start")
        assert response.status_code == 409
        assert response.json()["message"] == "Cannot start a server that is running."

    def test_a_server_never_installed_cannot_start(self, client_for, customer, server):
        Server.objects.filter(pk=server.pk).update(installed_at=None)
        response = client_for(customer).post(f"/api/servers/{server.pk}/start")
        assert response.status_code == 409
        assert "not installed yet" in response.json()["message"]

    def test_a_server_over_its_disk_limit_cannot_start(self, client_for, customer, server):
        Server.objects.filter(pk=server.pk).update(disk_usage_mb=9999)
        response = client_for(customer).post(f"/api/servers/{server.pk}/start")
        assert response.status_code == 409
        assert "disk" in response.json()["message"]

    @pytest.mark.parametrize(
        "command", ["a\nb", "say hi\rop attacker", "say hi\r", "\r\n", "   ", "x" * 4097]
    )
    def test_bad_commands_are_a_400(self, client_for, customer, server, command):
        """The same refusals as the WebSocket's console_input (servers.commands.command_line)."""
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        response = client_for(customer).post(
            f"/api/servers/{server.pk}/command", {"command": command}, format="json"
        )
        assert response.status_code == 400, response.content

    def test_owners_cannot_unsuspend_themselves(self, client_for, customer, admin, server):
        client_for(admin).post(f"/api/servers/{server.pk}/suspend")
        assert client_for(customer).post(f"/api/servers/{server.pk}/unsuspend").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_start_once(customer, make_node, template, settings):
    """Five starts that all passed the unlocked check wait on the server's row; one wins, four get 409."""
    server = a_server(customer, make_node(), template)

    def start():
        server_start(server=Server.objects.get(pk=server.pk), actor=customer)
        return "started"

    outcomes = while_row_locked(Server.objects.filter(pk=server.pk), [start] * 5)
    assert sorted(o if o == "started" else f"refused {status_of(o)}" for o in outcomes) == (
        ["refused 409"] * 4 + ["started"]
    )


class TestAllocations:
    def test_add_remove_and_promote_while_stopped(self, client_for, customer, make_node, template):
        server = a_server(customer, make_node(), template)
        client = client_for(customer)
        added = client.post(
            f"/api/servers/{server.pk}/allocations",
            {"containerPort": 25575, "hostPort": 25570},
            format="json",
        )
        assert added.json()["data"] == {
            "containerPort": 25575,
            "hostPort": 25570,
            "ip": "127.0.0.1",
            "alias": "",
            "isPrimary": False,
        }
        primary = client.post(
            f"/api/servers/{server.pk}/allocations/primary", {"containerPort": 25575}, format="json"
        )
        assert primary.json()["data"] == {"primaryPort": 25575}  # the container port, as the contract shows
        detail = client.get(f"/api/servers/{server.pk}").json()["data"]
        assert (detail["primaryPort"], detail["primaryHostPort"]) == (25575, 25570)
        old_primary = 25565
        assert client.delete(f"/api/servers/{server.pk}/allocations/{old_primary}").status_code == 200
        assert client.delete(f"/api/servers/{server.pk}/allocations/25575").status_code == 400  # primary
        assert client.delete(f"/api/servers/{server.pk}/allocations/9999").status_code == 404

    def test_changes_need_a_stopped_server(self, client_for, customer, make_node, template):
        server = a_server(customer, make_node(), template, status=S.RUNNING)
        response = client_for(customer).post(
            f"/api/servers/{server.pk}/allocations",
            {"containerPort": 25575, "hostPort": 25570},
            format="json",
        )
        assert response.status_code == 409

    def test_the_allocation_limit_holds(self, client_for, customer, make_node, template):
        server = a_server(customer, make_node(), template, allocation_limit=1)
        response = client_for(customer).post(
            f"/api/servers/{server.pk}/allocations",
            {"containerPort": 25575, "hostPort": 25570},
            format="json",
        )
        assert response.status_code == 400


class TestMembers:
    def test_a_member_sees_the_server_and_does_exactly_what_was_granted(
        self, client_for, customer, stranger, make_node, template
    ):
        server = a_server(customer, make_node(), template)
        owner = client_for(customer)
        added = owner.post(
            f"/api/servers/{server.pk}/members",
            {"email": stranger.email, "permissions": ["server.read", "server.logs.read"]},
            format="json",
        )
        assert added.status_code == 201
        member = client_for(stranger)
        assert [s["id"] for s in member.get("/api/servers").json()["data"]] == [str(server.pk)]
        assert member.get(f"/api/servers/{server.pk}/logs").status_code == 200
        assert member.post(f"/api/servers/{server.pk}/start").status_code == 403

        member_id = added.json()["data"]["id"]
        owner.put(
            f"/api/servers/{server.pk}/members/{member_id}", {"permissions": ["server.read"]}, format="json"
        )
        assert member.get(f"/api/servers/{server.pk}/logs").status_code == 403  # the next request sees it
        owner.delete(f"/api/servers/{server.pk}/members/{member_id}")
        assert member.get(f"/api/servers/{server.pk}").status_code == 404

    def test_members_cannot_receive_what_the_granter_lacks_or_global_permissions(
        self, client_for, customer, stranger, make_user, make_node, template
    ):
        server = a_server(customer, make_node(), template)
        helper = make_user()
        ServerMember.objects.create(server=server, user=helper, permissions=["server.update", "server.read"])
        response = client_for(helper).post(
            f"/api/servers/{server.pk}/members",
            {"email": stranger.email, "permissions": ["server.delete"]},
            format="json",
        )
        assert response.status_code == 403
        response = client_for(customer).post(
            f"/api/servers/{server.pk}/members",
            {"email": stranger.email, "permissions": ["server.suspend"]},
            format="json",
        )
        assert response.status_code == 400

    def test_unknown_email_is_a_400(self, client_for, customer, make_node, template):
        server = a_server(customer, make_node(), template)
        response = client_for(customer).post(
            f"/api/servers/{server.pk}/members",
            {"email": "nobody@example.com", "permissions": []},
            format="json",
        )
        assert response.status_code == 400


class TestCrashPolicy:
    @pytest.fixture
    def running(self, customer, make_node, template):
        return a_server(customer, make_node(), template, status=S.RUNNING)

    def exited(self, server, code=1, oom=False):
        from servers.crash import server_exited

        result = server_exited(server_id=server.pk, exit_code=code, oom=oom)
        server.refresh_from_db()
        return result

    def test_a_requested_stop_is_not_a_crash(self, running):
        Server.objects.filter(pk=running.pk).update(status=S.STOPPING)
        assert self.exited(running, 0) == S.STOPPED
        assert running.crash_count == 0

    def test_on_failure_restarts_after_a_crash(self, running, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks():
            assert self.exited(running, 1) == S.STARTING
        assert running.crash_count == 1 and running.last_crash_at

    def test_on_failure_leaves_a_clean_exit_alone(self, running):
        assert self.exited(running, 0) == S.CRASHED

    def test_never_does_not_restart(self, running):
        Server.objects.filter(pk=running.pk).update(restart_policy="never")
        assert self.exited(running, 137, oom=True) == S.CRASHED
        assert "out of memory" in running.status_reason

    def test_no_restart_after_the_max_crash_count(self, running):
        Server.objects.filter(pk=running.pk).update(crash_count=4, max_crash_count=5, restart_policy="always")
        assert self.exited(running, 1) == S.CRASHED

    def test_no_restart_when_it_crashed_again_within_the_window(self, running):
        Server.objects.filter(pk=running.pk).update(last_crash_at=timezone.now(), crash_count=1)
        assert self.exited(running, 1) == S.CRASHED

    def test_reset_crash_count_and_restart_policy_endpoints(self, client_for, customer, running):
        Server.objects.filter(pk=running.pk).update(crash_count=3)
        client = client_for(customer)
        assert (
            client.post(f"/api/servers/{running.pk}/reset-crash-count").json()["message"]
            == "Crash count reset"
        )
        response = client.patch(
            f"/api/servers/{running.pk}/restart-policy",
            {"restartPolicy": "always", "maxCrashCount": 2},
            format="json",
        )
        assert response.json() == {"success": True, "restartPolicy": "always", "maxCrashCount": 2}
        running.refresh_from_db()
        assert running.crash_count == 0
        bad = client.patch(
            f"/api/servers/{running.pk}/restart-policy", {"restartPolicy": "sometimes"}, format="json"
        )
        assert bad.status_code == 400
