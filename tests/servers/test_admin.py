"""Servers in the admin: created, changed, transferred, suspended and powered through the services the
API uses, with the API's permissions, on the real engines; every refusal is a message, never a 500."""

import json
from pathlib import Path

import pytest

from accounts.models import AuditLog
from nodes.models import Allocation
from servers.models import Job, Server, ServerMember
from templates_app.models import TemplateVariable
from tests.servers.conftest import PORTS, wait_status

S = Server.Status
ADD = "/admin/servers/server/add/"
LISTING = "/admin/servers/server/"


def change_url(server) -> str:
    return f"/admin/servers/server/{server.pk}/change/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def error_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


@pytest.fixture
def template(game_template):
    TemplateVariable.objects.create(
        template=game_template,
        env_variable="MAX_PLAYERS",
        name="Max players",
        default_value="20",
        rules={"type": "integer", "min": 1, "max": 100},
    )
    game_template.docker_images = {"Stable": game_template.docker_image, "Old": "hearth/testgame:old"}
    game_template.save()
    return game_template


@pytest.fixture
def support(make_user):
    return make_user(email="support@example.com", username="support", role="Support")


def create_form(template, owner, **overrides) -> dict:
    data = {
        "name": "survival",
        "description": "",
        "owner": str(owner.pk),
        "template": str(template.pk),
        "node": "",
        "location": "",
        "primary_port": "",
        "docker_image": "",
        "allocated_memory_mb": "256",
        "allocated_swap_mb": "0",
        "allocated_cpu_cores": "1",
        "allocated_disk_mb": "512",
        "io_weight": "500",
        "pids_limit": "512",
        "environment": json.dumps({"MAX_PLAYERS": "10"}),
        "restart_policy": "on-failure",
    }
    data.update({k: str(v) for k, v in overrides.items()})
    return data


def change_form(client, server, **overrides) -> dict:
    """The change page's form as a browser would post it back: every field, inline and management form."""
    page = client.get(change_url(server))
    assert page.status_code == 200
    data = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            data[field.html_name] = "on" if value is True else str(value)
    data.update({k: str(v) for k, v in overrides.items()})
    return data


def install_txt(server) -> str:
    return (Path(server.node.data_dir) / "servers" / str(server.pk) / "install.txt").read_text()


class TestCreate:
    def test_staff_create_a_placed_server_for_a_customer_and_it_installs(
        self, transactional_db, signed_in, admin, customer, template, game_node
    ):
        node = game_node()
        client = signed_in(admin)
        assert client.get(ADD).status_code == 200
        response = client.post(
            ADD, create_form(template, customer, install="on", environment='{"MOTD": "hi from the admin"}')
        )
        server = Server.objects.get(name="survival")
        assert response.status_code == 302 and response.url == change_url(server)
        assert server.owner == customer and server.node == node  # placed: no node was chosen
        assert server.environment == {"MOTD": "hi from the admin"}
        assert Allocation.objects.filter(server=server, is_primary=True).count() == 1
        server = wait_status(server, S.STOPPED, S.INSTALL_FAILED, timeout=60)
        assert server.status == S.STOPPED, server.status_reason
        assert install_txt(server) == "motd=hi from the admin\n"
        audit = AuditLog.objects.get(action="server.create")
        assert audit.user == admin and audit.resource_id == str(server.pk)

    def test_staff_choose_the_node_the_port_and_the_image(
        self, signed_in, admin, customer, template, game_node
    ):
        first, second = game_node(1), game_node(2)
        port = int(PORTS[2].split("-")[0]) + 3
        response = signed_in(admin).post(
            ADD,
            create_form(
                template, customer, node=second.pk, primary_port=port, docker_image="hearth/testgame:old"
            ),
        )
        assert response.status_code == 302
        server = Server.objects.get()
        assert server.node == second and server.node != first
        assert server.primary_port == port and server.docker_image == "hearth/testgame:old"
        assert server.status == S.STOPPED  # no install asked

    @pytest.mark.parametrize(
        ("overrides", "field", "text"),
        [
            (
                {"environment": '{"MAX_PLAYERS": "500"}'},
                None,
                "MAX_PLAYERS: Must be an integer between 1 and 100.",
            ),
            ({"environment": '{"NOPE": "1"}'}, None, "NOPE: Not a variable of this template."),
            ({"environment": '["not", "an", "object"]'}, "environment", "Variables are a JSON object"),
            ({"docker_image": "not an image!"}, "docker_image", "is not a valid image reference"),
            ({"primary_port": 1}, "primary_port", "Port 1 is not a free allocation"),
            ({"allocated_memory_mb": 999_999}, "node", "Node does not have enough resources"),
            ({"allocated_memory_mb": 1}, "allocated_memory_mb", "greater than or equal to 64"),
        ],
    )
    def test_refusals_are_shown_on_the_form_and_nothing_is_created(
        self, signed_in, admin, customer, template, game_node, overrides, field, text
    ):
        node = game_node()
        if "primary_port" in overrides:
            overrides["node"] = node.pk
        response = signed_in(admin).post(ADD, create_form(template, customer, **overrides))
        assert response.status_code == 200
        form = response.context["adminform"].form
        errors = (
            form.errors.get(field or "__all__", []) if field else [str(e) for e in form.non_field_errors()]
        )
        if field is None and not errors:
            errors = [str(e) for e in form.errors.get("environment", [])]
        assert any(text in e for e in errors), form.errors
        assert not Server.objects.exists()
        assert not Allocation.objects.filter(server__isnull=False).exists()
        assert form["name"].value() == "survival"  # the input is kept

    def test_a_service_refusal_is_also_an_error_message(
        self, signed_in, admin, customer, template, game_node
    ):
        node = game_node()
        response = signed_in(admin).post(ADD, create_form(template, customer, allocated_memory_mb=999_999))
        assert error_messages(response) == [
            "Not created: node_id: Node does not have enough resources: no node has room. "
            f"'{node.name}': memory (needs 999999 MB incl. swap, {node.max_memory_mb} free)."
        ]

    def test_support_staff_cannot_create(self, signed_in, support, customer, template, game_node):
        game_node()
        client = signed_in(support)
        listing = client.get(LISTING)
        assert listing.status_code == 200 and ADD not in listing.content.decode()
        assert client.get(ADD).status_code == 403
        assert client.post(ADD, create_form(template, customer)).status_code == 403
        assert not Server.objects.exists()

    def test_server_create_without_admin_write_cannot_name_an_owner(
        self, signed_in, make_user, customer, template, game_node
    ):
        game_node()
        creator = make_user(permissions=["admin.read", "server.create"])
        assert signed_in(creator).post(ADD, create_form(template, customer)).status_code == 403
        assert not Server.objects.exists()


@pytest.fixture
def server(admin, customer, template, game_node):
    from servers.lifecycle.create import server_create

    return server_create(
        actor=admin,
        owner=customer,
        template=template,
        node=game_node(),
        name="survival",
        allocated_memory_mb=256,
        allocated_cpu_cores=1,
        allocated_disk_mb=512,
    )


class TestChange:
    def test_limits_variables_image_and_restart_policy_go_through_the_services(
        self, signed_in, admin, server
    ):
        client = signed_in(admin)
        response = client.post(
            change_url(server),
            change_form(
                client,
                server,
                allocated_memory_mb=384,
                pids_limit=256,
                environment='{"MAX_PLAYERS": "42"}',
                docker_image="hearth/testgame:old",
                restart_policy="never",
                max_crash_count=2,
            ),
        )
        assert response.status_code == 302, response.context and response.context["adminform"].form.errors
        server.refresh_from_db()
        assert (server.allocated_memory_mb, server.pids_limit) == (384, 256)
        assert server.environment["MAX_PLAYERS"] == "42" and server.docker_image == "hearth/testgame:old"
        assert (server.restart_policy, server.max_crash_count) == ("never", 2)
        update = AuditLog.objects.get(action="server.update")
        assert set(update.metadata["changes"]) == {
            "allocated_memory_mb",
            "pids_limit",
            "environment",
            "docker_image",
        }
        assert AuditLog.objects.filter(action="server.restart_policy", user=admin).exists()

    def test_an_image_outside_the_template_is_refused(self, signed_in, admin, server):
        client = signed_in(admin)
        response = client.post(change_url(server), change_form(client, server, docker_image="evil/miner"))
        assert response.status_code == 200
        assert "docker_image" in response.context["adminform"].form.errors
        server.refresh_from_db()
        assert server.docker_image == "hearth/testgame:latest"

    def test_a_running_server_is_not_resized_and_says_why(self, signed_in, admin, server):
        client = signed_in(admin)
        data = change_form(client, server, allocated_memory_mb=512, name="renamed")
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        response = client.post(change_url(server), data, follow=True)
        assert response.status_code == 200
        assert len(error_messages(response)) == 1 and error_messages(response)[0].startswith("Not saved:")
        assert "running" in error_messages(response)[0]
        server.refresh_from_db()
        assert (server.allocated_memory_mb, server.name) == (256, "survival")  # nothing half-saved
        assert not AuditLog.objects.filter(action="server.update").exists()

    def test_bad_variables_are_an_error_message(self, signed_in, admin, server):
        client = signed_in(admin)
        response = client.post(
            change_url(server), change_form(client, server, environment='{"MAX_PLAYERS": "0"}'), follow=True
        )
        assert error_messages(response) == [
            "Not saved: environment: MAX_PLAYERS: Must be an integer between 1 and 100."
        ]

    def test_members_are_added_and_removed_through_the_services(self, signed_in, admin, server, stranger):
        client = signed_in(admin)
        data = change_form(client, server)
        data.update(
            {
                "members-TOTAL_FORMS": "1",
                "members-0-user": str(stranger.pk),
                "members-0-permissions": '["server.read"]',
            }
        )
        assert client.post(change_url(server), data).status_code == 302
        member = ServerMember.objects.get(server=server)
        assert member.user == stranger and member.permissions == ["server.read"]
        assert AuditLog.objects.filter(action="server.member_add").exists()

        data = change_form(client, server)
        data["members-0-DELETE"] = "on"
        assert client.post(change_url(server), data).status_code == 302
        assert not ServerMember.objects.exists()
        assert AuditLog.objects.filter(action="server.member_remove").exists()

    def test_members_cannot_receive_global_permissions(self, signed_in, admin, server, stranger):
        client = signed_in(admin)
        data = change_form(client, server)
        data.update(
            {
                "members-TOTAL_FORMS": "1",
                "members-0-user": str(stranger.pk),
                "members-0-permissions": '["server.suspend"]',
            }
        )
        response = client.post(change_url(server), data, follow=True)
        assert error_messages(response) == [
            "Members not saved: permissions: Not server permissions: server.suspend"
        ]
        assert not ServerMember.objects.exists()

    def test_support_staff_see_the_server_but_cannot_change_it(self, signed_in, admin, support, server):
        data = change_form(signed_in(admin), server, allocated_memory_mb=512)
        client = signed_in(support)
        page = client.get(change_url(server))
        assert page.status_code == 200 and page.context["title"] == "View server"
        assert "/transfer/" not in page.content.decode() and "/suspend/" not in page.content.decode()
        assert client.post(change_url(server), data).status_code == 403
        server.refresh_from_db()
        assert server.allocated_memory_mb == 256


class TestDelete:
    def test_deleting_goes_through_the_service(self, transactional_db, signed_in, admin, server):
        response = signed_in(admin).post(f"/admin/servers/server/{server.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302
        assert not Server.objects.filter(pk=server.pk).exists()  # the delete job ran (eager)
        assert AuditLog.objects.filter(action="server.delete").exists()

    def test_a_running_server_is_not_deleted_and_says_why(self, signed_in, admin, server):
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        response = signed_in(admin).post(
            f"/admin/servers/server/{server.pk}/delete/", {"post": "yes"}, follow=True
        )
        assert response.redirect_chain[-1][0] == change_url(server)
        assert error_messages(response)[0].startswith("Not deleted:")
        assert Server.objects.get(pk=server.pk).status == S.RUNNING


def test_the_bulk_delete_deletes_stopped_servers_and_reports_the_running_one(
    transactional_db, signed_in, admin, customer, template, server
):
    from servers.lifecycle.create import server_create

    running = server_create(
        actor=admin,
        owner=customer,
        template=template,
        node=server.node,
        name="busy",
        allocated_memory_mb=256,
        allocated_cpu_cores=1,
        allocated_disk_mb=512,
    )
    Server.objects.filter(pk=running.pk).update(status=S.RUNNING)
    client = signed_in(admin)
    selected = {"action": "delete_selected", "_selected_action": [str(server.pk), str(running.pk)]}
    confirm = client.post(LISTING, selected)
    assert confirm.status_code == 200 and "Delete multiple objects" in confirm.content.decode()
    response = client.post(LISTING, {**selected, "post": "yes"}, follow=True)
    assert [m for m in messages_of(response) if m.startswith("Deleted")] == ["Deleted 1 server."]
    assert len(error_messages(response)) == 1 and error_messages(response)[0].startswith("busy: ")
    assert list(Server.objects.values_list("name", flat=True)) == ["busy"]  # the stopped one's job ran


def act(client, action: str, *servers, follow=True):
    return client.post(
        LISTING, {"action": action, "_selected_action": [str(s.pk) for s in servers]}, follow=follow
    )


class TestActions:
    def test_start_restart_stop_and_kill_on_the_real_engine(
        self, signed_in, admin, server, template, monitor
    ):
        from servers.lifecycle.install import server_install

        server_install(server=server, actor=admin)
        wait_status(server, S.STOPPED, timeout=60)
        client = signed_in(admin)
        assert "Start: 1 server(s)." in messages_of(act(client, "start", server))
        wait_status(server, S.RUNNING)
        assert "Restart: 1 server(s)." in messages_of(act(client, "restart", server))
        wait_status(server, S.RUNNING)
        assert "Stop: 1 server(s)." in messages_of(act(client, "stop", server))
        wait_status(server, S.STOPPED)
        act(client, "start", server)
        wait_status(server, S.RUNNING)
        assert "Kill: 1 server(s)." in messages_of(act(client, "kill", server))
        wait_status(server, S.STOPPED, S.CRASHED)
        actions = set(AuditLog.objects.filter(resource_id=str(server.pk)).values_list("action", flat=True))
        assert {"server.start", "server.restart", "server.stop", "server.kill"} <= actions

    def test_suspend_unsuspend_and_reinstall(self, transactional_db, signed_in, admin, server):
        client = signed_in(admin)
        assert "Suspend: 1 server(s)." in messages_of(act(client, "suspend", server))
        assert Server.objects.get(pk=server.pk).status == S.SUSPENDED
        refused = act(client, "reinstall", server)
        assert error_messages(refused) and "suspended" in error_messages(refused)[0].lower()
        act(client, "unsuspend", server)
        assert Server.objects.get(pk=server.pk).status == S.STOPPED
        assert "Reinstall: 1 server(s)." in messages_of(act(client, "reinstall", server))
        server = wait_status(server, S.STOPPED, S.INSTALL_FAILED, timeout=60)
        assert server.status == S.STOPPED and install_txt(server).startswith("motd=")
        assert Job.objects.filter(server=server, kind=Job.Kind.INSTALL, status=Job.Status.SUCCEEDED).exists()
        actions = set(AuditLog.objects.filter(user=admin).values_list("action", flat=True))
        assert {"server.suspend", "server.unsuspend", "server.reinstall"} <= actions

    def test_a_wrong_state_is_an_error_message_per_server(self, signed_in, admin, server):
        response = act(signed_in(admin), "stop", server)
        assert response.status_code == 200
        assert len(error_messages(response)) == 1 and error_messages(response)[0].startswith("survival: ")

    def test_the_suspend_page_records_the_reason(self, signed_in, admin, server):
        client = signed_in(admin)
        url = f"/admin/servers/server/{server.pk}/suspend/"
        assert url in client.get(change_url(server)).content.decode()
        response = client.post(url, {"reason": "unpaid invoice"}, follow=True)
        assert response.redirect_chain[-1][0] == change_url(server)
        server.refresh_from_db()
        assert server.status == S.SUSPENDED and server.suspension_reason == "unpaid invoice"
        assert server.suspended_by == admin
        again = client.post(url, {"reason": "twice"})
        assert again.status_code == 200 and error_messages(again)[0].startswith("Not suspended:")

    @pytest.mark.parametrize(
        "action", ["start", "stop", "restart", "kill", "suspend", "unsuspend", "reinstall"]
    )
    def test_support_staff_have_no_actions(self, signed_in, support, server, action):
        client = signed_in(support)
        listing = client.get(LISTING)
        assert f'value="{action}"' not in listing.content.decode()
        response = act(client, action, server)  # the action is not among theirs: the post is ignored
        assert response.status_code == 200 and messages_of(response) == []
        assert Server.objects.get(pk=server.pk).status == S.STOPPED
        assert not AuditLog.objects.filter(resource_id=str(server.pk), user__email=support.email).exists()

    def test_support_staff_cannot_open_the_suspend_or_transfer_pages(self, signed_in, support, server):
        client = signed_in(support)
        for page in ("suspend", "transfer"):
            assert client.get(f"/admin/servers/server/{server.pk}/{page}/").status_code == 403
            assert client.post(f"/admin/servers/server/{server.pk}/{page}/", {}).status_code == 403
        assert Server.objects.get(pk=server.pk).status == S.STOPPED

    def test_a_role_holding_only_server_suspend_may_suspend_but_not_stop(self, signed_in, make_user, server):
        moderator = make_user(permissions=["admin.read", "server.read", "server.suspend"])
        client = signed_in(moderator)
        listing = client.get(LISTING).content.decode()
        assert 'value="suspend"' in listing and 'value="stop"' not in listing
        act(client, "suspend", server)
        assert Server.objects.get(pk=server.pk).status == S.SUSPENDED


class TestTransfer:
    def test_staff_transfer_a_server_to_the_other_engine(
        self, transactional_db, signed_in, admin, server, game_node
    ):
        from servers.lifecycle.install import server_install

        server_install(server=server, actor=admin)
        wait_status(server, S.STOPPED, timeout=60)
        target = game_node(2)
        client = signed_in(admin)
        url = f"/admin/servers/server/{server.pk}/transfer/"
        assert url in client.get(change_url(server)).content.decode()
        page = client.get(url)
        assert [n.pk for n in page.context["form"].fields["target"].queryset] == [target.pk]
        response = client.post(url, {"target": str(target.pk)}, follow=True)
        assert response.redirect_chain[-1][0] == change_url(server)
        server = wait_status(server, S.STOPPED, timeout=60)
        assert server.node == target
        assert install_txt(server).startswith("motd=")  # the files came along
        assert AuditLog.objects.filter(action="server.transfer", user=admin).exists()

    def test_a_refused_transfer_is_shown(self, signed_in, admin, server, game_node):
        target = game_node(2)
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        response = signed_in(admin).post(
            f"/admin/servers/server/{server.pk}/transfer/", {"target": str(target.pk)}
        )
        assert response.status_code == 200
        assert error_messages(response) == ["Not transferred: status: Server must be stopped."]
        assert Server.objects.get(pk=server.pk).node_id == server.node_id


class TestPorts:
    def test_extra_ports_are_bound_at_creation(self, signed_in, admin, customer, template, game_node):
        node = game_node()
        first = int(PORTS[1].split("-")[0])
        response = signed_in(admin).post(
            ADD,
            create_form(
                template,
                customer,
                node=node.pk,
                primary_port=first,
                port_bindings=json.dumps({"25575": first + 1}),
            ),
        )
        assert response.status_code == 302
        server = Server.objects.get()
        bound = {(a.port, a.container_port, a.is_primary) for a in server.allocations.all()}
        assert bound == {(first, None, True), (first + 1, 25575, False)}

    @pytest.mark.parametrize("bindings", ['{"x": 1}', '{"25575": "a"}', '{"25575": 70000}', "[1]"])
    def test_bad_extra_ports_are_refused(self, signed_in, admin, customer, template, game_node, bindings):
        game_node()
        response = signed_in(admin).post(ADD, create_form(template, customer, port_bindings=bindings))
        assert response.status_code == 200 and "port_bindings" in response.context["adminform"].form.errors
        assert not Server.objects.exists()

    def test_ports_are_added_promoted_and_removed_through_the_services(self, signed_in, admin, server):
        client = signed_in(admin)
        url = f"/admin/servers/server/{server.pk}/allocations/"
        assert url in client.get(change_url(server)).content.decode()
        free = Allocation.objects.filter(node=server.node, server__isnull=True).order_by("port").first()
        response = client.post(
            url, {"do": "add", "host_port": free.port, "container_port": 25575}, follow=True
        )
        assert f"Bound {free.ip}:{free.port} to container port 25575." in messages_of(response)
        client.post(url, {"do": "primary", "container_port": 25575})
        assert server.allocations.get(is_primary=True).pk == free.pk
        old_primary = server.allocations.exclude(pk=free.pk).get()
        client.post(url, {"do": "remove", "container_port": old_primary.container_port or old_primary.port})
        assert list(server.allocations.values_list("pk", flat=True)) == [free.pk]
        actions = set(AuditLog.objects.filter(user=admin).values_list("action", flat=True))
        assert {"server.allocation_add", "server.allocation_primary", "server.allocation_remove"} <= actions

    def test_port_refusals_are_error_messages(self, signed_in, admin, server):
        client = signed_in(admin)
        url = f"/admin/servers/server/{server.pk}/allocations/"
        primary = server.allocations.get()
        refused = client.post(url, {"do": "remove", "container_port": primary.container_port or primary.port})
        assert refused.status_code == 200
        assert error_messages(refused) == [
            "Not changed: container_port: The primary allocation cannot be removed."
        ]
        taken = client.post(url, {"do": "add", "host_port": primary.port, "container_port": 25575})
        assert error_messages(taken)[0].startswith("Not changed: host_port: Port ")
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        running = client.post(url, {"do": "add", "host_port": primary.port + 1, "container_port": 25575})
        assert len(error_messages(running)) == 1 and "running" in error_messages(running)[0]
        assert server.allocations.count() == 1

    def test_support_staff_cannot_open_the_ports_page(self, signed_in, support, server):
        client = signed_in(support)
        url = f"/admin/servers/server/{server.pk}/allocations/"
        assert url not in client.get(change_url(server)).content.decode()
        assert client.get(url).status_code == 403
        assert client.post(url, {"do": "add", "host_port": 1, "container_port": 2}).status_code == 403
