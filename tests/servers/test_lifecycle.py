"""The whole life of a server on the real engines, locally and over SSH."""

import contextlib

import docker
import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import roles_ensure_defaults
from servers.models import Server
from servers.selectors import console_history
from tests.conftest import require_env, tokens_for
from tests.polling import wait_for
from tests.servers.conftest import wait_status

# Tasks go through the broker to a real worker (tests/fixtures/worker.py), as in production.
pytestmark = pytest.mark.real_worker
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
    return "".join(entry["data"] for entry in console_history(server.pk, limit=1000))


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
    wait_for(lambda: not Server.objects.filter(pk=server.pk).exists(), 30, "the delete job to remove the row")


def wait_for_line(server, text: str, timeout: float = 15):
    wait_for(
        lambda: text in lines(server), timeout, lambda: f"'{text}' in the console:\n{lines(server)[-2000:]}"
    )


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
    wait_for(lambda: server.jobs.get().status == "failed", 15, "the install job to finish as failed")


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


def test_a_running_server_that_is_suspended_is_killed_and_stays_suspended(
    client_for, customer, game_node, game_template, monitor
):
    """The kill that a suspension queues must not end the suspension (it once recorded 'stopped')."""
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)
    response = staff_client().post(f"/api/servers/{server.pk}/suspend", {"reason": "Unpaid"}, format="json")
    assert response.status_code == 200, response.content
    wait_for_line(server, "Server killed.")
    server.refresh_from_db()
    assert server.status == S.SUSPENDED and server.suspension_reason == "Unpaid"
    assert api.post(f"/api/servers/{server.pk}/start").status_code == 423
    assert staff_client().post(f"/api/servers/{server.pk}/unsuspend").status_code == 200


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


# --- Stopping: the stop command, then the stop signal, then SIGKILL (issue 9, item 12) -------------


def started(api, node, template, **extra):
    server = create(api, node, template, install=True, **extra)
    wait_status(server, S.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    return wait_status(server, S.RUNNING)


def exit_code(server) -> int:
    inspect = docker.APIClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL")).inspect_container(
        server.container_name
    )
    return inspect["State"]["ExitCode"]


def test_a_second_attach_that_detaches_leaves_the_console_and_stop_working(
    client_for, customer, game_node, game_template, monitor
):
    """An operator's `docker attach` (or a one-off attach) that ends must not close the game's stdin."""
    api = client_for(customer)
    server = started(api, game_node(), game_template)
    engine = docker.APIClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    assert engine.inspect_container(server.container_name)["Config"]["StdinOnce"] is False
    for _ in range(2):  # attach with stdin, then detach
        sock = engine.attach_socket(server.container_name, params={"stdin": 1, "stream": 1})
        sock._sock.close()
        sock.close()
    api.post(f"/api/servers/{server.pk}/command", {"command": "say still listening"}, format="json")
    wait_for_line(server, "[Server] still listening")

    assert api.post(f"/api/servers/{server.pk}/stop", {"timeout": 5}, format="json").status_code == 200
    wait_status(server, S.STOPPED, timeout=30)
    assert exit_code(server) == 0  # stopped by its own stop command, not killed (137)
    console_text = lines(server)
    assert "Stopping the server: sending the stop command `stop`." in console_text
    assert "[INFO] Stopping server" in console_text
    assert "SIGTERM" not in console_text and "SIGKILL" not in console_text


def test_a_game_that_ignores_the_stop_command_gets_sigterm(
    client_for, customer, game_node, game_template, monitor
):
    game_template.stop_command = "halt"  # the test game does not know it: "Unknown command"
    game_template.save()
    api = client_for(customer)
    server = started(api, game_node(), game_template)
    api.post(f"/api/servers/{server.pk}/stop", {"timeout": 2}, format="json")
    wait_status(server, S.STOPPED, timeout=30)
    assert exit_code(server) == 0  # the game's own SIGTERM handler
    console_text = lines(server)
    steps = [
        "Stopping the server: sending the stop command `halt`.",
        "Unknown command.",
        "The server did not stop within 2 s; sending SIGTERM.",
        "[INFO] Stopping server",
    ]
    positions = [console_text.index(step) for step in steps]
    assert positions == sorted(positions), console_text
    assert "SIGKILL" not in console_text


def test_a_game_that_ignores_sigterm_gets_sigkill_after_each_step(
    client_for, customer, game_node, game_template, monitor
):
    api = client_for(customer)
    server = started(api, game_node(), game_template)
    api.post(f"/api/servers/{server.pk}/command", {"command": "sleepstop"}, format="json")
    wait_for_line(server, "The next stop will hang")
    api.post(f"/api/servers/{server.pk}/stop", {"timeout": 2}, format="json")
    wait_status(server, S.STOPPED, timeout=30)
    assert exit_code(server) == 137
    wait_for_line(server, "Server stopped.")  # the task writes it just after the state
    console_text = lines(server)
    steps = [
        "Stopping the server: sending the stop command `stop`.",
        "[INFO] Stopping server",
        "The server did not stop within 2 s; sending SIGTERM.",
        "The server did not stop within 2 s; killing it (SIGKILL).",
        "Server stopped.",
    ]
    positions = [console_text.index(step) for step in steps]
    assert positions == sorted(positions), console_text


def test_a_template_with_a_stop_signal_is_stopped_by_that_signal(
    client_for, customer, game_node, game_template, monitor
):
    """Eggs' `^C` becomes SIGINT: sent first, then SIGTERM, then SIGKILL."""
    game_template.stop_command, game_template.stop_signal = "", "SIGINT"
    game_template.save()
    api = client_for(customer)
    server = started(api, game_node(), game_template)
    api.post(f"/api/servers/{server.pk}/stop", {"timeout": 5}, format="json")
    wait_status(server, S.STOPPED, timeout=30)
    assert exit_code(server) == 0
    console_text = lines(server)
    assert "Stopping the server: sending SIGINT." in console_text
    assert "[INFO] Stopping server" in console_text
    assert "SIGTERM" not in console_text


@pytest.mark.parametrize(
    ("stop_command", "stop_signal", "steps"),
    [
        ("stop", "", [("command", "stop"), ("signal", "SIGTERM"), ("signal", "SIGKILL")]),
        ("", "SIGTERM", [("signal", "SIGTERM"), ("signal", "SIGKILL")]),
        ("", "SIGINT", [("signal", "SIGINT"), ("signal", "SIGTERM"), ("signal", "SIGKILL")]),
        ("", "SIGKILL", [("signal", "SIGKILL")]),
    ],
)
def test_the_stop_steps_go_from_gentle_to_firm(stop_command, stop_signal, steps):
    from servers.runtime import _stop_steps
    from templates_app.models import Template

    assert _stop_steps(Template(stop_command=stop_command, stop_signal=stop_signal)) == steps


# --- Installs that print nothing still time out (issue 9, item 9) ---------------------------------


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_a_silent_install_times_out(
    client_for, customer, game_node, game_template, monitor, settings, engine, via
):
    import time

    settings.SERVER_INSTALL_TIMEOUT_SECONDS = 2
    game_template.install_script = "sleep 60\n"
    game_template.save()
    began = time.monotonic()
    server = create(client_for(customer), game_node(engine, via), game_template, install=True)
    server = wait_status(server, S.INSTALL_FAILED, S.STOPPED, timeout=40)
    assert time.monotonic() - began < 20, "the deadline did not fire while the script was silent"
    assert server.status == S.INSTALL_FAILED
    assert server.status_reason == "Install timed out after 2 s."
    job = server.jobs.get()
    assert job.status == "failed" and job.error == "Install timed out after 2 s."
    assert "Installation failed: Install timed out after 2 s." in lines(server)
    engine_client = docker.DockerClient(base_url=require_env(f"HEARTH_TEST_DOCKER{engine}_URL"))
    assert not engine_client.containers.list(all=True, filters={"name": f"hearth-install-{server.pk}"})


def test_an_install_that_prints_keeps_its_output_and_exit_code(
    client_for, customer, game_node, game_template, monitor, settings
):
    settings.SERVER_INSTALL_TIMEOUT_SECONDS = 30
    game_template.install_script = "echo one\nsleep 1\necho two >&2\nexit 4\n"
    game_template.save()
    server = create(client_for(customer), game_node(), game_template, install=True)
    server = wait_status(server, S.INSTALL_FAILED)
    assert "exited with code 4" in server.status_reason and "two" in server.status_reason
    assert "one" in server.jobs.get().log


# --- Images: pulled when missing, or when the template asks for it (issue 9, item 13) -------------


@pytest.fixture
def pulls(monkeypatch):
    """Every pull the panel asks of an engine (the real pull still runs)."""
    calls = []
    original = docker.APIClient.pull

    def recording(self, repository, tag=None, *args, **kwargs):
        calls.append(f"{repository}:{tag}")
        return original(self, repository, tag, *args, **kwargs)

    monkeypatch.setattr(docker.APIClient, "pull", recording)
    return calls


@pytest.fixture
def local_tag(settings):
    """The test image under a name whose registry (127.0.0.1:1) never answers; removed afterwards."""
    import uuid

    settings.IMAGE_REGISTRY_ALLOW = ["127.0.0.1"]  # a loopback registry, which staff must allow

    name = f"127.0.0.1:1/hearth-test/testgame:{uuid.uuid4().hex[:12]}"
    engines = [docker.DockerClient(base_url=require_env(f"HEARTH_TEST_DOCKER{n}_URL")) for n in (1, 2)]
    for engine in engines:
        engine.images.get(require_env("HEARTH_TEST_IMAGE")).tag(name)
    yield name
    for engine in engines:
        with contextlib.suppress(docker.errors.ImageNotFound):
            engine.images.remove(name)
        engine.close()


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_an_image_on_the_node_is_not_pulled(
    client_for, customer, game_node, game_template, monitor, pulls, engine, via
):
    api = client_for(customer)
    server = create(api, game_node(engine, via), game_template, install=True)
    server = wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    assert server.status == S.STOPPED, server.status_reason
    assert pulls == []
    assert "Pulling image" not in lines(server) and "using the copy on the node" not in lines(server)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)
    assert pulls == []


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_an_absent_image_is_pulled_and_an_unreachable_registry_fails_the_install_clearly(
    client_for, customer, game_node, game_template, monitor, pulls, settings, engine, via
):
    settings.IMAGE_REGISTRY_ALLOW = ["127.0.0.1/32"]
    absent = "127.0.0.1:1/hearth-test/never-here:1"
    game_template.docker_image = game_template.install_image = absent
    game_template.save()
    node = game_node(engine, via)
    server = create(client_for(customer), node, game_template, install=True)
    server = wait_status(server, S.INSTALL_FAILED)
    assert pulls == ["127.0.0.1:1/hearth-test/never-here:1"]
    assert server.status_reason.startswith(
        f"The image {absent} is not on node '{node.name}' and could not be pulled: "
    ), server.status_reason
    assert "connection refused" in server.status_reason
    assert f"Pulling image {absent}" in lines(server)


def test_pull_policy_always_pulls_and_keeps_the_nodes_copy_when_the_registry_fails(
    client_for, customer, game_node, game_template, monitor, pulls, local_tag
):
    game_template.docker_image = game_template.install_image = local_tag
    game_template.pull_policy = "always"
    game_template.save()
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    server = wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    assert server.status == S.STOPPED, server.status_reason
    assert pulls == [local_tag]  # once: the install image is the game's own
    assert f"Could not refresh {local_tag}" in lines(server)
    assert "using the copy on the node" in lines(server)


def test_pull_policy_missing_uses_the_nodes_copy_without_asking_the_registry(
    client_for, customer, game_node, game_template, monitor, pulls, local_tag
):
    game_template.docker_image = game_template.install_image = local_tag
    game_template.save()
    assert game_template.pull_policy == "missing"  # the default
    server = create(client_for(customer), game_node(), game_template, install=True)
    server = wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    assert server.status == S.STOPPED, server.status_reason
    assert pulls == []


@pytest.fixture
def registry(settings):
    """A registry on 127.0.0.1 serving the test image; the images pulled from it are removed afterwards."""
    from tests.servers.registry import Registry

    settings.IMAGE_REGISTRY_ALLOW = ["127.0.0.1"]

    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    served = Registry(b"".join(engine.images.get(require_env("HEARTH_TEST_IMAGE")).save()))
    yield served
    for image in engine.images.list():
        for tag in image.tags:
            if tag.startswith(f"127.0.0.1:{served.port}/"):
                engine.images.remove(tag)
    engine.close()
    served.close()


def test_an_absent_image_is_pulled_from_its_registry_then_used(
    client_for, customer, game_node, game_template, monitor, pulls, registry
):
    import uuid

    image = f"127.0.0.1:{registry.port}/hearth-test/game:{uuid.uuid4().hex[:12]}"
    game_template.docker_image = game_template.install_image = image
    game_template.save()
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    server = wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    assert server.status == S.STOPPED, server.status_reason
    assert pulls == [image]  # once, though both the install and the game use it
    assert any("/manifests/" in path for path in registry.requests)
    assert f"Pulling image {image}" in lines(server) and f"Image {image} is up to date." in lines(server)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)
    assert pulls == [image]  # on the node now: the start does not pull again
