"""A server's network mode is bridge, whoever sets it and by whichever door: `host` would hand the game
the node's own network (the engine's and sshd's loopback ports, every other server's ports)."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.forms import modelform_factory

from config.errors import InvalidInput
from servers import runtime
from servers.lifecycle.create import server_create
from servers.lifecycle.update import server_update
from servers.models import Server
from tests.servers.test_refusals import a_server, body, make_node, template  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

OTHER_MODES = ["host", "none", "container:abc", "HOST", "bridge ", ""]


@pytest.mark.parametrize("mode", OTHER_MODES)
def test_the_api_refuses_another_network_mode(client_for, admin, make_node, template, mode):  # noqa: F811
    response = client_for(admin).post(
        "/api/servers", body(template, make_node(), networkMode=mode), format="json"
    )
    assert response.status_code == 400
    assert "networkMode" in response.json()["fields"]
    assert not Server.objects.exists()


@pytest.mark.parametrize("mode", OTHER_MODES)
def test_the_services_refuse_another_network_mode(admin, make_node, template, mode):  # noqa: F811
    node = make_node()
    with pytest.raises(InvalidInput) as refused:
        server_create(
            actor=admin, template=template, name="s", node=node, environment={"MOTD": "x"}, network_mode=mode
        )
    assert "network_mode" in refused.value.detail
    assert not Server.objects.exists()

    server = a_server(admin, node, template)
    with pytest.raises(InvalidInput):
        server_update(server=server, actor=admin, network_mode=mode)
    server.refresh_from_db()
    assert server.network_mode == "bridge"


@pytest.mark.parametrize("mode", OTHER_MODES)
def test_the_model_refuses_it_for_any_form(admin, make_node, template, mode):  # noqa: F811
    server = a_server(admin, make_node(), template)
    server.network_mode = mode
    with pytest.raises(DjangoValidationError):
        server.full_clean()
    form = modelform_factory(Server, fields=["network_mode"])({"network_mode": mode}, instance=server)
    assert not form.is_valid() and "network_mode" in form.errors


def test_the_admin_change_form_cannot_set_it(signed_in, admin, make_node, template):  # noqa: F811
    server = a_server(admin, make_node(), template)
    client = signed_in(admin)
    page = client.get(f"/admin/servers/server/{server.pk}/change/").content.decode()
    assert 'name="network_mode"' not in page
    client.post(f"/admin/servers/server/{server.pk}/change/", {"name": server.name, "network_mode": "host"})
    server.refresh_from_db()
    assert server.network_mode == "bridge"


def test_a_row_changed_past_the_checks_never_reaches_the_container_spec(admin, make_node, template):  # noqa: F811
    server = a_server(admin, make_node(), template)
    Server.objects.filter(pk=server.pk).update(network_mode="host")
    server.refresh_from_db()
    with pytest.raises(ValueError, match="Network mode must be one of: bridge"):
        runtime.container_spec(server)
