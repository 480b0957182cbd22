"""On the real engine: a hostile variable value runs nothing in the container, for the stock templates and
for imported eggs run directly (their program swapped for printf, since their images need a registry),
`STARTUP` holds the launcher, a template that would hand a value to a nested shell never starts, and an
egg's `regex:` ready line moves a server to running. (Eggs run by the image's entrypoint: test_yolk.)"""

import json
import os
import re

import docker
import pytest

from nodes.client import client_for as node_client
from servers import runtime
from servers.models import Server
from templates_app.eggs import egg_import
from templates_app.models import Template, TemplateVariable
from templates_app.services import template_save, templates_install_catalogue
from templates_app.startup import launcher
from templates_app.variables import UnsafeSubstitution
from tests.fixtures import require_env, wait_status
from tests.fixtures.templates import egg_bytes
from tests.polling import wait_for

pytestmark = pytest.mark.usefixtures("_eager_tasks", "_no_leftover_containers")
S = Server.Status
# Every way the old renderings let a value out, in one value: each would leave a pwnedN file behind.
HOSTILE = (
    "a $(touch pwned1) `touch pwned2` ; touch pwned3 | touch pwned4 && touch pwned5 > pwned6 * '\" \\"
    "\ntouch pwned7 # $'\\x3b'touch pwned8"
)


def engine():
    return docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))


def post_server(client, node, template, environment=None):
    body = {
        "name": "hostile",
        "templateId": str(template.pk),
        "nodeId": str(node.pk),
        "allocatedMemoryMb": 256,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 512,
        "environment": environment or {},
    }
    return client.post("/api/servers", body, format="json")


def make_server(client, node, template, environment=None) -> Server:
    response = post_server(client, node, template, environment)
    assert response.status_code == 201, response.content
    return Server.objects.select_related("template", "node").get(pk=response.json()["data"]["id"])


def with_hostile_values(server: Server, names) -> Server:
    """Store the hostile value as if it had passed every rule (the rules are not what keeps it data)."""
    Server.objects.filter(pk=server.pk).update(
        environment={**server.environment, **dict.fromkeys(names, HOSTILE)}
    )
    return Server.objects.select_related("template", "node").get(pk=server.pk)


def run_to_exit(server: Server) -> str:
    client = node_client(server.node)
    runtime.ensure_directory(client, server)
    runtime.start(client, server)
    container = engine().containers.get(server.container_name)
    container.wait(timeout=30)
    return container.logs().decode()


def planted(server: Server) -> list[str]:
    return sorted(name for name in os.listdir(runtime.server_dir(server)) if name.startswith("pwned"))


def swap_program(template: Template, program: str) -> Template:
    template.docker_image = template.install_image = require_env("HEARTH_TEST_IMAGE")
    template.docker_images = {}
    template.install_script = ""
    template.start_command = template.start_command.replace(program, "printf '[%s]\\n'", 1)
    template.config_files = []
    template.use_image_entrypoint = False  # the command run directly: the test game's image has no yolk
    return template_save(template=template)


@pytest.mark.parametrize(
    ("egg", "program", "names", "printed"),
    [
        # HOSTNAME between escaped quotes stays one word; ADDITIONAL_ARGS, unquoted, splits
        ("egg-rust.json", "./RustDedicated", ["HOSTNAME", "ADDITIONAL_ARGS"], ['["{v}"]', "{w}"]),
        ("egg-paper.json", "java", ["SERVER_JARFILE"], ["{w}"]),
        ("egg-factorio.yaml", "./bin/x64/factorio", ["SAVE_NAME"], ["[{v}.zip]"]),
    ],
)
def test_imported_eggs_print_hostile_values_and_run_nothing(
    client_for, admin, game_node, egg, program, names, printed
):
    template, _ = egg_import(egg_bytes(egg), filename=egg)
    template = swap_program(template, program)
    server = with_hostile_values(make_server(client_for(admin), game_node(), template), names)
    logs = run_to_exit(server)
    words = "".join(f"[{word}]\n" for word in re.split(r"[ \t\n]+", HOSTILE))
    for line in printed:
        assert line.format(v=HOSTILE, w=words) in logs, logs
    assert planted(server) == []
    inspect = engine().api.inspect_container(server.container_name)
    env = dict(item.split("=", 1) for item in inspect["Config"]["Env"])
    assert env["STARTUP"] == launcher("/bin/sh") and inspect["Config"]["Cmd"][:2] == ["/bin/sh", "-c"]
    assert "pwned" not in inspect["Config"]["Cmd"][2]
    assert env[names[0]] == HOSTILE  # the value travels as data in the environment


def test_the_stock_test_game_runs_with_hostile_values(client_for, admin, game_node):
    templates_install_catalogue()
    template = Template.objects.get(name="Test Game")
    server = make_server(client_for(admin), game_node(), template, {"MOTD": "x"})
    server = with_hostile_values(server, ["MOTD", "MAX_PLAYERS"])
    client = node_client(server.node)
    runtime.ensure_directory(client, server)
    runtime.start(client, server)
    container = engine().containers.get(server.container_name)
    wait_for(lambda: "Done (" in container.logs().decode(), 20, "the game's ready line")
    assert planted(server) == []
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["HEARTH_STARTUP"] == "exec /usr/local/bin/testgame" and env["MOTD"] == HOSTILE
    assert container.attrs["Config"]["Cmd"] == ["/bin/sh", "-c", "/usr/local/bin/testgame"]  # no bash there
    runtime.kill(client, server)


@pytest.mark.parametrize(
    "startup",
    [
        "sh -ec \"printf '%s\\n' {{X}}\"",
        "sh -c -- \"printf '%s\\n' {{X}}\"",
        "env A=1 sh -c \"printf '%s\\n' {{X}}\"",
        "sh -c {{X}}",
        "printf '%s\\n' {{X}} | sh",
        "sh <<< {{X}}",
    ],
)
def test_a_template_that_hands_a_value_to_a_nested_shell_never_starts(client_for, admin, game_node, startup):
    # Saved while X was staff's only, then made editable by a direct database edit, past every check.
    template = Template.objects.create(
        name="Bypass",
        docker_image=require_env("HEARTH_TEST_IMAGE"),
        start_command=startup,
        stop_command="stop",
    )
    variable = TemplateVariable.objects.create(
        template=template, env_variable="X", name="X", default_value="x", user_editable=False
    )
    server = make_server(client_for(admin), game_node(), template)
    variable.user_editable = True
    variable.save()
    refused = post_server(client_for(admin), server.node, template, {"X": "id"})
    assert refused.status_code == 400
    assert "X: the start command places it where it would run as code" in refused.json()["message"]
    Server.objects.filter(pk=server.pk).update(environment={"X": "touch pwned1; touch pwned2"})
    server.refresh_from_db()
    with pytest.raises(UnsafeSubstitution, match="X: the start command places it where it would run as code"):
        run_to_exit(server)
    assert planted(server) == []
    with pytest.raises(docker.errors.NotFound):
        engine().containers.get(server.container_name)


@pytest.mark.real_worker  # the install and the start go through the broker to a worker, as in production
def test_an_eggs_regex_ready_line_moves_the_server_to_running(client_for, admin, game_node, monitor):
    egg = json.loads(egg_bytes("egg-paper.json"))
    egg["name"] = "Paper on the test game"
    egg["config"]["startup"] = json.dumps({"done": r"regex:^\[INFO\] Done \(\d+\.\d+s\)! For help"})
    template, _ = egg_import(json.dumps(egg))
    template.docker_image = template.install_image = require_env("HEARTH_TEST_IMAGE")
    template.docker_images = {}
    template.install_script = ""
    template.start_command = "/usr/local/bin/testgame"
    template.config_files = []
    template_save(template=template)
    api = client_for(admin)
    server = make_server(api, game_node(), template, {"SERVER_JARFILE": "server.jar", "BUILD_NUMBER": "1"})
    assert api.post(f"/api/servers/{server.pk}/install").status_code == 200
    wait_status(server, S.STOPPED)
    started = api.post(f"/api/servers/{server.pk}/start")
    assert started.status_code == 200, started.content
    wait_status(server, S.RUNNING)
    assert api.post(f"/api/servers/{server.pk}/kill").status_code == 200
