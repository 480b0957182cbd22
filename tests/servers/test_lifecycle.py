"""The whole life of a server on the real engines, locally and over SSH."""

import docker
import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import roles_ensure_defaults
from servers import console
from servers.models import Server
from tests.conftest import require_env, tokens_for
from tests.servers.conftest import wait_status

S = Server.Status


def staff_client() -> APIClient:
    """An Administrator's client: node choice and limits are staff's (`server.resources`)."""
    staff, made = User.objects.get_or_create(email="lifecycle-staff@example.com", username="lifecycle-staff")
    if made:
        staff.roles.add(*[role for role in roles_ensure_defaults() if role.name == "Administrator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(staff)['token']}")
    return client


def create(client, node, template, **extra):
    """Staff create the server on `node` for the user behind `client`, who then drives it."""
    body = {
        "name": "survival",
        "templateId": str(template.pk),
        "nodeId": str(node.pk),
        "ownerId": client.get("/api/auth/me").json()["data"]["id"],
        "allocatedMemoryMb": 256,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 512,
        "environment": {"MOTD": "hello $(id) `id`"},
        **extra,
    }
    response = staff_client().post("/api/servers", body, format="json")
    assert response.status_code == 201, response.content
    return Server.objects.get(pk=response.json()["data"]["id"])


def lines(server) -> str:
    return "".join(entry["data"] for entry in console.history(server.pk, limit=1000))


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_create_install_start_stop_update_delete(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    node = game_node(engine, via)
    api = client_for(customer)
    server = create(api, node, game_template)
    assert server.status == S.STOPPED and server.owner == customer

    assert api.post(f"/api/servers/{server.pk}/install").json()["message"] == "Installation started"
    server = wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    assert server.status == S.STOPPED, server.status_reason
    assert "installing for" in lines(server)

    assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
    wait_status(server, S.RUNNING)
    assert "Done (" in lines(server)

    assert (
        api.post(
            f"/api/servers/{server.pk}/command", {"command": "say hello there"}, format="json"
        ).status_code
        == 200
    )
    wait_for_line(server, "[Server] hello there")

    assert api.post(f"/api/servers/{server.pk}/stop").status_code == 200
    wait_status(server, S.STOPPED)

    resize = {"allocatedMemoryMb": 384, "name": "renamed"}
    assert api.put(f"/api/servers/{server.pk}", resize, format="json").status_code == 403  # staff's call
    update = staff_client().put(f"/api/servers/{server.pk}", resize, format="json")
    assert update.status_code == 200 and update.json()["data"]["allocatedMemoryMb"] == 384

    assert api.delete(f"/api/servers/{server.pk}").status_code == 200
    assert not Server.objects.filter(pk=server.pk).exists()


def wait_for_line(server, text: str, timeout: float = 15):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in lines(server):
            return
        time.sleep(0.1)
    pytest.fail(f"'{text}' never appeared in the console:\n{lines(server)[-2000:]}")


def test_variables_reach_the_game_as_data(client_for, customer, game_node, game_template, monitor):
    node = game_node()
    api = client_for(customer)
    server = create(api, node, game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)
    api.post(f"/api/servers/{server.pk}/command", {"command": "env MOTD"}, format="json")
    wait_for_line(server, "[INFO] MOTD=hello $(id) `id`")
    container = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL")).containers.get(
        server.container_name
    )
    properties = container.exec_run(["cat", "/home/container/server.properties"]).output.decode()
    assert "motd=hello $(id) `id`" in properties.replace("\\", "")
    install = container.exec_run(["cat", "/home/container/install.txt"]).output.decode()
    assert install.strip() == "motd=hello $(id) `id`"


def test_the_container_is_hardened(client_for, customer, game_node, game_template, monitor):
    node = game_node()
    api = client_for(customer)
    server = create(api, node, game_template, install=True, pidsLimit=64)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)
    inspect = docker.APIClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL")).inspect_container(
        server.container_name
    )
    host = inspect["HostConfig"]
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["PidsLimit"] == 64
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 1_000_000_000
    assert host["RestartPolicy"]["Name"] in ("no", "")
    assert host["LogConfig"]["Config"] == {"max-file": "3", "max-size": "10m"}
    assert "/tmp" in host["Tmpfs"]
    assert [m["Destination"] for m in inspect["Mounts"]] == ["/home/container"]
    assert not any("docker.sock" in m["Source"] for m in inspect["Mounts"])
    assert inspect["Config"]["User"] == "1000:1000"
    assert inspect["Config"]["Labels"]["hearth.server"] == str(server.pk)
    bindings = host["PortBindings"]
    port = server.primary_port
    assert {f"{port}/tcp", f"{port}/udp"} <= set(bindings)
    assert bindings[f"{port}/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]

    api.post(f"/api/servers/{server.pk}/command", {"command": "forkbomb 500"}, format="json")
    wait_for_line(server, "Forkbomb:")
    assert "fork failed" in lines(server)
    server.refresh_from_db()
    assert server.status == S.RUNNING


def test_a_failing_install_script_leaves_install_failed_with_the_reason(
    client_for, customer, game_node, game_template, monitor
):
    game_template.install_script = "echo preparing\necho 'no space left' >&2\nexit 3\n"
    game_template.save()
    server = create(client_for(customer), game_node(), game_template, install=True)
    server = wait_status(server, S.INSTALL_FAILED)
    assert "exited with code 3" in server.status_reason
    assert "no space left" in server.status_reason
    assert server.jobs.get().status == "failed"


def test_reinstall_runs_the_script_again_and_keeps_the_server_usable(
    client_for, customer, game_node, game_template, monitor
):
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED)
    assert api.post(f"/api/servers/{server.pk}/reinstall").json()["message"] == "Reinstallation started"
    wait_status(server, S.STOPPED)
    assert lines(server).count("installing for") == 2
    assert server.jobs.filter(kind="install", status="succeeded").count() == 2
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)


def test_a_server_that_ignores_stop_is_killed_after_the_timeout(
    client_for, customer, game_node, game_template, monitor
):
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)
    api.post(f"/api/servers/{server.pk}/command", {"command": "sleepstop"}, format="json")
    wait_for_line(server, "The next stop will hang")
    api.post(f"/api/servers/{server.pk}/stop", {"timeout": 2}, format="json")
    wait_status(server, S.STOPPED, timeout=20)
    assert "did not stop within 2 s; killing it" in lines(server)


def test_over_the_disk_limit_a_server_is_warned_then_stopped(
    client_for, customer, game_node, game_template, monitor
):
    import os
    from pathlib import Path

    from servers.disk import server_check_disk

    api = client_for(customer)
    node = game_node()
    server = create(api, node, game_template, install=True, allocatedDiskMb=64)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    server = wait_status(server, S.RUNNING)
    (Path(node.data_dir) / "servers" / str(server.pk) / "big.bin").write_bytes(os.urandom(80 * 1024 * 1024))

    assert server_check_disk(server=Server.objects.get(pk=server.pk)) >= 80
    assert "Warning: the server uses" in lines(server)
    assert Server.objects.get(pk=server.pk).status == S.RUNNING
    server_check_disk(server=Server.objects.get(pk=server.pk))
    wait_status(server, S.STOPPED)
    refused = api.post(f"/api/servers/{server.pk}/start")
    assert refused.status_code == 409 and "disk" in refused.json()["message"]


def test_console_commands_survive_restarts(client_for, customer, game_node, game_template, monitor):
    """The monitor's stdin attach is renewed with each container run, so a stop is never lost."""
    import time

    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED)
    for cycle in range(3):
        api.post(f"/api/servers/{server.pk}/start")
        wait_status(server, S.RUNNING)
        api.post(f"/api/servers/{server.pk}/command", {"command": f"say cycle {cycle}"}, format="json")
        wait_for_line(server, f"[Server] cycle {cycle}")
        started = time.monotonic()
        api.post(f"/api/servers/{server.pk}/stop")
        wait_status(server, S.STOPPED)
        assert time.monotonic() - started < 10, "the stop command was lost and the stop timed out"
    assert "did not stop within" not in lines(server)
