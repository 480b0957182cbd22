"""Nodes in the admin: the change page's "Test connection" button runs the health service."""

import pytest

from accounts.models import AuditLog
from nodes.models import Allocation, Node

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_the_button_tests_a_reachable_node_and_records_its_health(signed_in, admin, make_node):
    node = make_node(engine=2)
    client = signed_in(admin)
    page = client.get(f"/admin/nodes/node/{node.pk}/change/").content.decode()
    assert f'action="/admin/nodes/node/{node.pk}/test/"' in page
    response = client.post(f"/admin/nodes/node/{node.pk}/test/", follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/nodes/node/{node.pk}/change/"
    ((level, text),) = messages_of(response)
    assert level == "info" and text.startswith(f"{node.name}: reachable, Docker ")
    node.refresh_from_db()
    assert node.is_online and node.last_health["ok"]


def test_an_unreachable_node_is_an_error_message_not_a_500(signed_in, admin, make_node):
    node = make_node(engine=1, docker_url="ssh://hearth@127.0.0.1:1")
    response = signed_in(admin).post(f"/admin/nodes/node/{node.pk}/test/", follow=True)
    assert response.status_code == 200
    ((level, text),) = messages_of(response)
    assert level == "error" and text.startswith(f"{node.name}: ")
    assert Node.objects.get(pk=node.pk).last_health["ok"] is False


def test_support_staff_have_no_button_and_cannot_post_it(signed_in, make_user, make_node):
    node = make_node(engine=1, via="unix")
    checked = node.last_health  # registration's own first check
    client = signed_in(make_user(role="Support"))
    page = client.get(f"/admin/nodes/node/{node.pk}/change/").content.decode()
    assert "/test/" not in page
    assert client.post(f"/admin/nodes/node/{node.pk}/test/").status_code == 403
    listing = client.get("/admin/nodes/node/").content.decode()
    assert 'value="test_connection"' not in listing
    assert Node.objects.get(pk=node.pk).last_health == checked


def test_the_button_is_a_post(signed_in, admin, make_node):
    node = make_node(engine=1, via="unix")
    assert signed_in(admin).get(f"/admin/nodes/node/{node.pk}/test/").status_code == 405
    assert not AuditLog.objects.filter(action="node.test").exists()


@pytest.fixture
def assigned(admin, make_node):
    """An allocation held by a server, and a free one, on an online node of test engine 1."""
    from nodes.allocations import allocations_create
    from nodes.health import node_check_health
    from servers.lifecycle.create import server_create
    from templates_app.models import Template

    node = make_node(engine=1, via="unix")
    assert node_check_health(node=node)["ok"]
    allocations_create(node=node, ip="203.0.113.9", ports="25565-25566")
    template = Template.objects.create(
        name="T", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    server = server_create(
        actor=admin,
        template=template,
        node=node,
        name="holder",
        allocated_memory_mb=128,
        allocated_cpu_cores=1,
        allocated_disk_mb=128,
        primary_port=25565,
    )
    return server.allocations.get(), node.allocations.get(port=25566)


def test_an_assigned_allocation_is_not_deleted_and_says_why(signed_in, admin, assigned):
    held, _ = assigned
    response = signed_in(admin).post(
        f"/admin/nodes/allocation/{held.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/admin/nodes/allocation/{held.pk}/change/"
    assert (
        "error",
        "Not deleted: allocation: This allocation is assigned to a server; remove it there first.",
    ) in (messages_of(response))
    assert Allocation.objects.filter(pk=held.pk, server__isnull=False).exists()


def test_the_bulk_delete_goes_through_the_service(signed_in, admin, assigned):
    held, free = assigned
    response = signed_in(admin).post(
        "/admin/nodes/allocation/",
        {"action": "delete_selected", "_selected_action": [str(held.pk), str(free.pk)], "post": "yes"},
        follow=True,
    )
    assert any(level == "error" and "assigned to a server" in text for level, text in messages_of(response))
    assert ("success", "Deleted 1 allocation.") in messages_of(response)  # what went, not what was asked
    assert list(Allocation.objects.values_list("pk", flat=True)) == [held.pk]
    assert AuditLog.objects.filter(action="node.allocation_delete").count() == 1


def node_form(location, **overrides) -> dict:
    data = {
        "name": "edge-1",
        "description": "",
        "location": str(location.pk),
        "hostname": "127.0.0.1",
        "public_address": "127.0.0.1",
        "docker_url": "unix:///var/run/docker.sock",
        "ssh_host_key": "",
        "data_dir": "/var/lib/hearth",
        "max_memory_mb": "4096",
        "max_cpu_cores": "2",
        "max_disk_mb": "0",
        "memory_overallocate_percent": "0",
        "cpu_overallocate_percent": "0",
        "disk_overallocate_percent": "0",
        "new_ssh_private_key": "",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_a_node_refused_by_the_service_is_an_error_message_and_not_created(
    signed_in, admin, location, make_node
):
    first = make_node(engine=1, via="unix")  # the form's values are fine; the service refuses (409)
    response = signed_in(admin).post("/admin/nodes/node/add/", node_form(location), follow=True)
    assert response.status_code == 200
    assert any(
        level == "error" and text.startswith("Not saved: ") and f"already is node '{first.name}'" in text
        for level, text in messages_of(response)
    )
    assert not any(level == "success" for level, _ in messages_of(response))
    assert list(Node.objects.values_list("name", flat=True)) == [first.name]


def test_a_node_made_in_the_admin_goes_through_the_service(signed_in, admin, location):
    response = signed_in(admin).post("/admin/nodes/node/add/", node_form(location), follow=True)
    node = Node.objects.get(name="edge-1")
    assert any(text.startswith("Node secret (shown once): ") for _, text in messages_of(response))
    assert AuditLog.objects.filter(action="node.create", user=admin, resource_id=str(node.pk)).exists()
