"""Nodes in the admin: the change page's "Test connection" button runs the health service."""

import pytest

from accounts.models import AuditLog
from nodes.models import Node

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
    client = signed_in(make_user(role="Support"))
    page = client.get(f"/admin/nodes/node/{node.pk}/change/").content.decode()
    assert "/test/" not in page
    assert client.post(f"/admin/nodes/node/{node.pk}/test/").status_code == 403
    listing = client.get("/admin/nodes/node/").content.decode()
    assert 'value="test_connection"' not in listing
    assert Node.objects.get(pk=node.pk).last_health == {}


def test_the_button_is_a_post(signed_in, admin, make_node):
    node = make_node(engine=1, via="unix")
    assert signed_in(admin).get(f"/admin/nodes/node/{node.pk}/test/").status_code == 405
    assert not AuditLog.objects.filter(action="node.test").exists()
