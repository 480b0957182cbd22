from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Role, User
from nodes.local import node_register_local
from nodes.models import Node
from tests.conftest import require_env

pytestmark = pytest.mark.django_db


def bootstrap(*args) -> str:
    out = StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


def test_it_creates_roles_and_an_administrator_whose_password_works(api):
    output = bootstrap("--no-local-node")
    password = output.split("password: ")[1].split()[0]
    assert {r.name for r in Role.objects.all()} == {"Administrator", "Support", "Customer"}
    admin = User.objects.get(email="admin@hearth.local")
    assert admin.is_superuser and admin.is_staff
    response = api.post("/login", {"email": "admin@hearth.local", "password": password, "next": "/admin/"})
    assert response.status_code == 302
    assert api.get("/admin/").status_code == 200


def test_running_it_again_changes_nothing_and_prints_no_password():
    bootstrap("--no-local-node")
    output = bootstrap("--no-local-node")
    assert "password:" not in output
    assert "exists; password unchanged" in output
    assert User.objects.filter(is_superuser=True).count() == 1
    assert Role.objects.count() == 3


def test_edited_default_roles_are_kept(roles):
    Role.objects.filter(name="Customer").update(permissions=["server.create", "backup.create"])
    bootstrap("--no-local-node")
    assert Role.objects.get(name="Customer").permissions == ["server.create", "backup.create"]


def test_without_a_docker_socket_it_says_what_to_do():
    node, message = node_register_local(socket=Path("/nonexistent/docker.sock"))
    assert node is None
    assert "No Docker socket" in message and "apt install docker.io" in message


def test_it_registers_the_local_engine_once():
    socket = Path(require_env("HEARTH_TEST_DOCKER1_URL").removeprefix("unix://"))
    first, _ = node_register_local(socket=socket)
    second, message = node_register_local(socket=socket)
    assert first == second
    assert "already registered" in message
    assert Node.objects.count() == 1
    assert first.docker_url == f"unix://{socket}"
    assert first.max_memory_mb > 0


def test_a_data_dir_the_node_checks_refuse_is_a_message_not_a_traceback(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "my panel"  # a space: not a data dir root may mkdir and chown
    socket = Path(require_env("HEARTH_TEST_DOCKER1_URL").removeprefix("unix://"))
    node, message = node_register_local(socket=socket)
    assert node is None
    assert message.startswith("Local node not registered: data_dir: Use an absolute path")
    assert not Node.objects.exists()
