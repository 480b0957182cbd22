"""An image's registry is a host the node's engine connects to: references whose registry is loopback,
private, link-local (metadata), CGNAT or a name resolving there are refused wherever images are set
(template API create/edit, egg import, admin, staff's server image), unless HEARTH_IMAGE_REGISTRY_ALLOW
lists them; and a pull never reaches one (an image saved before the rule)."""

import ipaddress
import socket
import uuid

import pytest

from servers.models import Server
from templates_app.models import Template
from templates_app.registries import registry_of
from tests.servers import test_lifecycle
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create, lines
from tests.templates_app.test_admin import posted_back

pytestmark = pytest.mark.django_db
pulls = test_lifecycle.pulls  # the fixture that records every pull the engines are asked for


def local_name() -> str:
    """A DNS name this machine resolves to one of its own addresses (its hostname), never via the internet."""
    name = socket.gethostname()
    addresses = {ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(name, None)}
    assert addresses and not any(a.is_global for a in addresses), (name, addresses)
    return name


HOSTILE = [
    "127.0.0.1:2201/probe",
    "127.0.0.1/probe:latest",
    "[::1]:5000/x",
    "localhost/x",
    "localhost:5000/x:1",
    "LOCALHOST:5000/x",
    "169.254.169.254/latest/meta-data",
    "10.0.0.5:5000/game",
    "192.168.1.10/game",
    "100.64.0.1/game",
    "[fd00:ec2::254]/x",
    "127.1:5000/x",
    "0x7f.1/x",
    "0.0.0.0:22/x",
    "registry-unknown-here:5000/x",  # single label: the node's search domains or /etc/hosts decide
    "Intranet/x",
]


def template_body(**overrides) -> dict:
    return {
        "name": f"Probe {uuid.uuid4().hex[:6]}",
        "dockerImage": "hearth/testgame:latest",
        "startCommand": "/usr/local/bin/testgame",
        "stopCommand": "stop",
        **overrides,
    }


def messages(response) -> str:
    return " ".join(" ".join(v) for v in response.json()["fields"].values())


@pytest.mark.parametrize("image", [*HOSTILE, "local-name"])
def test_the_api_refuses_a_template_image_from_a_local_registry(staff, settings, image):
    settings.IMAGE_REGISTRY_ALLOW = []
    if image == "local-name":
        image = f"{local_name()}:5000/x"
    response = staff.post("/api/templates", template_body(dockerImage=image), format="json")
    assert response.status_code == 400, response.content
    assert f"The image's registry {registry_of(image)}" in messages(response)
    assert "HEARTH_IMAGE_REGISTRY_ALLOW" in messages(response)
    assert not Template.objects.filter(docker_image=image).exists()


@pytest.mark.parametrize("field", ["dockerImages", "installImage"])
def test_the_selectable_and_install_images_are_checked_too(staff, settings, field):
    settings.IMAGE_REGISTRY_ALLOW = []
    value = {"Probe": "127.0.0.1:2201/probe"} if field == "dockerImages" else "127.0.0.1:2201/probe"
    extra = {"installScript": "true"} if field == "installImage" else {}
    response = staff.post("/api/templates", template_body(**{field: value}, **extra), format="json")
    assert response.status_code == 400, response.content
    assert "is a loopback address" in messages(response)


def test_an_edit_cannot_add_a_local_registry(staff, settings):
    settings.IMAGE_REGISTRY_ALLOW = []
    created = staff.post("/api/templates", template_body(), format="json").json()["data"]
    for method in (staff.patch, staff.put):
        response = method(
            f"/api/templates/{created['id']}", template_body(dockerImage="[::1]:5000/x"), format="json"
        )
        assert response.status_code == 400, response.content
    assert Template.objects.get(pk=created["id"]).docker_image == "hearth/testgame:latest"


def test_an_egg_import_refuses_a_local_registry(staff, settings):
    settings.IMAGE_REGISTRY_ALLOW = []
    egg = {
        "meta": {"version": "PTDL_v2"},
        "name": "Probe egg",
        "docker_images": {"Probe": "169.254.169.254/x"},
        "startup": "/usr/local/bin/testgame",
        "config": {"files": "{}", "startup": '{"done": "Done ("}', "logs": "{}", "stop": "stop"},
        "variables": [],
    }
    response = staff.post("/api/templates/import", {"egg": egg}, format="json")
    assert response.status_code == 400, response.content
    assert "link-local" in response.json()["message"]
    assert not Template.objects.filter(name="Probe egg").exists()


def test_the_admin_refuses_a_local_registry(signed_in, admin, settings):
    settings.IMAGE_REGISTRY_ALLOW = []
    template = Template.objects.create(
        name="Admin probe", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    client = signed_in(admin)
    url = f"/admin/templates_app/template/{template.pk}/change/"
    response = client.post(url, posted_back(client, url, docker_image="127.0.0.1:2201/probe"))
    assert response.status_code == 200
    assert "is a loopback address" in response.content.decode()
    template.refresh_from_db()
    assert template.docker_image == "hearth/testgame:latest"


@pytest.mark.parametrize(
    ("allow", "image"),
    [
        (["127.0.0.1"], "127.0.0.1:2201/probe"),
        (["127.0.0.1:5000"], "127.0.0.1:5000/x"),
        (["10.0.0.0/8"], "10.0.0.5:5000/game"),
        (["localhost"], "localhost:5000/x"),
        (["::1/128"], "[::1]:5000/x"),
    ],
)
def test_staff_can_allow_a_registry_on_their_network(staff, settings, allow, image):
    settings.IMAGE_REGISTRY_ALLOW = allow
    response = staff.post("/api/templates", template_body(dockerImage=image), format="json")
    assert response.status_code == 201, response.content


def test_an_allowance_is_for_that_registry_only(staff, settings):
    settings.IMAGE_REGISTRY_ALLOW = ["127.0.0.1:5000"]
    response = staff.post("/api/templates", template_body(dockerImage="127.0.0.1:2201/probe"), format="json")
    assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    "image",
    ["hearth/testgame:latest", "ubuntu", "ghcr.io/pterodactyl/yolks:java_21", "quay.io/x/y:1", "8.8.8.8/x"],
)
def test_public_and_docker_hub_images_are_accepted(staff, settings, image):
    settings.IMAGE_REGISTRY_ALLOW = []
    response = staff.post("/api/templates", template_body(dockerImage=image), format="json")
    assert response.status_code == 201, response.content


def test_a_reference_the_grammar_refuses_is_a_clear_400(staff):
    response = staff.post("/api/templates", template_body(dockerImage="Hearth/Game:1"), format="json")
    assert response.status_code == 400, response.content
    assert "not a valid image reference" in messages(response)


@pytest.fixture
def server_of(make_node, game_template, customer):
    node = make_node(engine=1, via="unix")
    return Server.objects.create(
        name="s",
        owner=customer,
        node=node,
        template=game_template,
        docker_image=game_template.docker_image,
        status=Server.Status.STOPPED,
        allocated_memory_mb=256,
        allocated_cpu_cores=1,
        allocated_disk_mb=512,
    )


def test_staff_cannot_set_a_servers_image_to_a_local_registry(staff, settings, server_of):
    settings.IMAGE_REGISTRY_ALLOW = []
    response = staff.patch(
        f"/api/servers/{server_of.pk}", {"dockerImage": "127.0.0.1:2201/probe"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "is a loopback address" in messages(response)
    server_of.refresh_from_db()
    assert server_of.docker_image == "hearth/testgame:latest"


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_an_image_saved_before_the_rule_is_never_pulled_from_a_local_registry(
    client_for,
    customer,
    game_node,
    game_template,
    monitor,
    pulls,
    settings,
    engine,
    via,
):
    settings.IMAGE_REGISTRY_ALLOW = []
    probe = "127.0.0.1:2201/probe:1"  # the node's own sshd
    Template.objects.filter(pk=game_template.pk).update(docker_image=probe, install_image=probe)
    game_template.refresh_from_db()
    node = game_node(engine, via)
    server = wait_status(
        create(client_for(customer), node, game_template, install=True), Server.Status.INSTALL_FAILED
    )
    assert pulls == []
    assert server.status_reason.startswith(
        f"The image {probe} is not on node '{node.name}' and is not pulled: "
    )
    assert "127.0.0.1:2201 is a loopback address" in server.status_reason
    assert "SSH-" not in lines(server)
