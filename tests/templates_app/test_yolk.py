"""Eggs run by their image's entrypoint, on the real engines (local and SSH node): hearth/testyolk evaluates
STARTUP as Pterodactyl's yolks do (tests/images/testyolk). The egg starts with bash, runs `[[ … ]]`,
splits its extra arguments, runs its staff-only trap, and prints a hostile value in every editable
variable literally: nothing of it runs. One container per node."""

import io
import json
import os
import re

import docker
import pytest

from nodes.client import client_for as node_client
from servers import runtime
from servers.models import Server
from templates_app.eggs import egg_import
from templates_app.services import template_save
from templates_app.startup import launcher
from tests.fixtures import require_env
from tests.polling import wait_for

pytestmark = pytest.mark.usefixtures("_eager_tasks", "_no_leftover_containers")
HOSTILE = (
    "a $(touch pwned1) `touch pwned2` ; touch pwned3 | touch pwned4 && touch pwned5 > pwned6 * '\" \\"
    "\ntouch pwned7 # $'\\x3b'touch pwned8 $(id) ~ ?"
)
EDITABLE = ["SERVER_NAME", "EXTRA_ARGS", "MOTD", "WORLD"]
STARTUP = (
    'trap "{{STOP}}" TERM; if [[ -n "{{SERVER_NAME}}" && {{SERVER_PORT}} -gt 0 ]]; then '
    "printargs {{EXTRA_ARGS}} \"{{SERVER_NAME}}\" '{{WORLD}}' --motd={{MOTD}} --port={{SERVER_PORT}} "
    '"--location={{P_SERVER_LOCATION}}" & wait; fi'
)


def egg() -> str:
    variable = {"description": "", "user_viewable": True, "user_editable": True, "rules": "nullable|string"}
    variables = [{**variable, "name": name, "env_variable": name, "default_value": "x"} for name in EDITABLE]
    variables.append(
        {**variable, "name": "Stop", "env_variable": "STOP", "user_viewable": False, "user_editable": False,
         "default_value": 'echo "stopping $SERVER_NAME"; kill -TERM $!; wait;'}
    )  # fmt: skip
    return json.dumps(
        {
            "meta": {"version": "PTDL_v2", "update_url": None},
            "name": "Yolk game",
            "author": "tests@hearth",
            "description": "",
            "features": [],
            "docker_images": {"Yolk": require_env("HEARTH_TEST_YOLK_IMAGE")},
            "file_denylist": [],
            "startup": STARTUP,
            "config": {"files": "{}", "startup": json.dumps({"done": "Done ("}), "logs": "{}", "stop": "^C"},
            "scripts": {"installation": {"script": "", "container": "", "entrypoint": "bash"}},
            "variables": variables,
        }
    )


def engine(number: int) -> docker.DockerClient:
    return docker.DockerClient(base_url=require_env(f"HEARTH_TEST_DOCKER{number}_URL"))


def expected_lines() -> str:
    words = re.split(r"[ \t\n]+", HOSTILE)
    argv = [*words, HOSTILE, HOSTILE, f"--motd={words[0]}", *words[1:]]
    return "".join(f"[{word}]\n" for word in argv)


@pytest.mark.parametrize(("number", "via"), [(1, "unix"), (2, "ssh")])
def test_an_egg_on_a_yolk_runs_as_written_and_no_value_becomes_code(
    client_for, admin, game_node, number, via
):
    template, _ = egg_import(egg())
    template.use_image_entrypoint = True
    template.stop_command, template.stop_signal = "", "SIGTERM"  # straight to the signal the trap awaits
    template = template_save(template=template)
    node = game_node(engine=number, via=via)
    body = {
        "name": "yolk",
        "templateId": str(template.pk),
        "nodeId": str(node.pk),
        "allocatedMemoryMb": 256,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 512,
        "environment": {},
    }
    response = client_for(admin).post("/api/servers", body, format="json")
    assert response.status_code == 201, response.content
    Server.objects.filter(pk=response.json()["data"]["id"]).update(
        environment=dict.fromkeys(EDITABLE, HOSTILE)
    )
    server = Server.objects.select_related("template", "node__location").get(pk=response.json()["data"]["id"])

    client = node_client(server.node)
    runtime.start(client, server)
    container = engine(number).containers.get(server.container_name)
    wait_for(lambda: "Done (" in container.logs().decode(), 30, lambda: container.logs().decode())
    logs = container.logs().decode()
    port = server.primary_allocation.container_port or server.primary_allocation.port
    assert expected_lines() + f"[--port={port}]\n[--location={server.node.location.name}]\n" in logs, logs
    assert "container@pterodactyl~ /bin/bash /.hearth-launch\n" in logs  # the yolk's own line

    config = container.attrs["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert config["Cmd"] == ["/bin/bash", "/entrypoint.sh"] and config["Entrypoint"] is None  # the image's
    assert env["STARTUP"] == launcher("/bin/bash")
    assert env["P_SERVER_UUID"] == str(server.pk) and env["P_SERVER_ALLOCATION_LIMIT"] == "3"
    assert "pwned" not in env["HEARTH_STARTUP"]

    # The staff-only trap runs as the egg intends: SIGTERM reaches the script, which stops the game.
    assert runtime.stop(client, server, timeout=10) is not None
    logs = container.logs().decode()
    assert f"stopping {HOSTILE}" in logs and "[INFO] Stopping server" in logs, logs
    planted = [name for name in os.listdir(runtime.server_dir(server)) if name.startswith("pwned")]
    assert planted == []


@pytest.mark.parametrize(("number", "via"), [(1, "unix"), (2, "ssh")])
def test_bash_is_found_where_the_image_has_it(game_node, number, via):
    client = node_client(game_node(engine=number, via=via))
    assert client.image_has_file(require_env("HEARTH_TEST_YOLK_IMAGE"), "/bin/bash")
    assert not client.image_has_file(require_env("HEARTH_TEST_IMAGE"), "/bin/bash")
    assert client.image_has_file(require_env("HEARTH_TEST_IMAGE"), "/bin/sh")


def test_the_bash_probe_leaves_no_volume_behind(game_node):
    """An image with VOLUME gets an anonymous volume with each created container: the probe removes it."""
    docker_client = engine(1)
    tag = f"hearth/testgame-volume:{os.getpid()}"
    dockerfile = f"FROM {require_env('HEARTH_TEST_IMAGE')}\nVOLUME /data\n".encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    try:
        before = {v.name for v in docker_client.volumes.list(filters={"dangling": True})}
        assert not node_client(game_node(engine=1, via="unix")).image_has_file(tag, "/bin/bash")
        after = {v.name for v in docker_client.volumes.list(filters={"dangling": True})}
        assert after - before == set()
    finally:
        docker_client.images.remove(tag, force=True)
