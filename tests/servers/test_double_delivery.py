"""Each long task, delivered twice: the second delivery does nothing.

Tasks are acknowledged late (a worker that dies mid-task leaves the message to be delivered again), so the
broker may hand the same message over a second time after the first delivery did all its work. Here the
message the API published is captured (Celery's `before_task_publish`) and published again with the same
task id and arguments, to the same real worker (tests/fixtures/worker.py), once the first delivery has
finished. Then nothing may change: no second container, no second state change, the job finished once, no
repeated console line.
"""

import contextlib

import docker
import pytest
from celery.signals import before_task_publish, task_postrun

from servers.models import Job, Server
from tests.fixtures import require_env, wait_status
from tests.polling import wait_for
from tests.servers.test_lifecycle import create, lines

pytestmark = pytest.mark.real_worker
S = Server.Status


@contextlib.contextmanager
def messages():
    """The task messages published meanwhile, as (task name, task id, args, kwargs)."""
    sent = []

    def record(sender=None, headers=None, body=None, **_):
        sent.append((sender, headers["id"], tuple(body[0]), dict(body[1])))

    before_task_publish.connect(record, weak=False)
    try:
        yield sent
    finally:
        before_task_publish.disconnect(record)


@pytest.fixture
def finished():
    """The ids of the task deliveries the worker finished, one entry per delivery."""
    done = []

    def record(task_id=None, **_):
        done.append(task_id)

    task_postrun.connect(record, weak=False)
    yield done
    task_postrun.disconnect(record)


def the_message(sent, name: str):
    matching = [message for message in sent if message[0] == name]
    assert len(matching) == 1, f"expected one {name} message, got {sent}"
    return matching[0]


def deliver_again(message, finished: list, *, after_first: bool = True) -> None:
    """Publish `message` again, as the broker redelivers it, and wait until the worker has run it.
    `after_first=False` publishes it at once, so both deliveries may run side by side."""
    from config.celery import app

    name, task_id, args, kwargs = message
    if after_first:
        wait_for(lambda: task_id in finished, 60, f"the first delivery of {name}")
    app.tasks[name].apply_async(args, kwargs, task_id=task_id)
    wait_for(lambda: finished.count(task_id) == 2, 60, f"the second delivery of {name}")


def containers(server, engine: int = 1) -> list[dict]:
    client = docker.APIClient(base_url=require_env(f"HEARTH_TEST_DOCKER{engine}_URL"))
    try:
        return client.containers(all=True, filters={"label": f"hearth.server={server.pk}"})
    finally:
        client.close()


def snapshot(server) -> dict:
    """What a second delivery must leave as it was."""
    server = Server.objects.get(pk=server.pk)
    return {
        "status": server.status,
        "updated_at": server.updated_at,
        "containers": [c["Id"] for c in containers(server)],
        "container states": [c["State"] for c in containers(server)],
        "jobs": list(server.jobs.values_list("pk", "status", "started_at", "finished_at").order_by("pk")),
    }


def count(server, text: str) -> int:
    return lines(server).count(text)


@pytest.fixture
def owner_api(client_for, customer):
    return client_for(customer)


@pytest.fixture
def installed(owner_api, game_node, game_template, monitor):
    server = create(owner_api, game_node(), game_template, install=True)
    return wait_status(server, S.STOPPED)


@pytest.fixture
def running(owner_api, installed):
    owner_api.post(f"/api/servers/{installed.pk}/start")
    return wait_status(installed, S.RUNNING)


def test_install_delivered_twice_installs_once(owner_api, game_node, game_template, monitor, finished):
    server = create(owner_api, game_node(), game_template)
    with messages() as sent:
        assert owner_api.post(f"/api/servers/{server.pk}/install").status_code == 200
    wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    message = the_message(sent, "servers.tasks.server_install_task")
    wait_for(lambda: message[1] in finished, 60, "the install to finish")
    before = snapshot(server)

    deliver_again(message, finished)

    assert snapshot(server) == before
    assert count(server, "installing for") == 1
    assert count(server, "Installation complete") == 1
    job = Job.objects.get(pk=message[2][1])
    assert job.status == Job.Status.SUCCEEDED and len(containers(server)) == 1


def test_install_delivered_twice_at_once_installs_once(
    owner_api, game_node, game_template, monitor, finished
):
    """Both deliveries on the worker's threads together: one claims the job, the other returns."""
    server = create(owner_api, game_node(), game_template)
    with messages() as sent:
        assert owner_api.post(f"/api/servers/{server.pk}/install").status_code == 200
        deliver_again(the_message(sent, "servers.tasks.server_install_task"), finished, after_first=False)
    wait_status(server, S.STOPPED, S.INSTALL_FAILED)
    assert server.status == S.STOPPED, server.status_reason
    wait_for(lambda: count(server, "Installation complete") >= 1, 15, "the install's last line")
    assert count(server, "installing for") == 1
    assert count(server, "Installation complete") == 1
    assert len(containers(server)) == 1


def test_start_delivered_twice_starts_once(owner_api, installed, finished):
    with messages() as sent:
        owner_api.post(f"/api/servers/{installed.pk}/start")
    wait_status(installed, S.RUNNING)
    message = the_message(sent, "servers.tasks.server_power_task")
    before = snapshot(installed)

    deliver_again(message, finished)

    assert snapshot(installed) == before
    assert count(installed, "Container started") == 1
    (job,) = Job.objects.filter(server=installed, kind=Job.Kind.POWER)
    assert str(job.pk) == message[3]["job_id"] and job.detail == {"action": "start"}
    assert job.status == Job.Status.SUCCEEDED, job.error


def test_a_start_of_a_missing_image_fails_its_job_with_the_reason(owner_api, installed, finished):
    Server.objects.filter(pk=installed.pk).update(docker_image="hearth/no-such-image:gone")
    with messages() as sent:
        assert owner_api.post(f"/api/servers/{installed.pk}/start").json()["jobId"]
    message = the_message(sent, "servers.tasks.server_power_task")
    wait_for(lambda: message[1] in finished, 60, "the start to finish")
    server = Server.objects.get(pk=installed.pk)
    job = Job.objects.get(pk=message[3]["job_id"])
    assert server.status == S.CRASHED
    assert (job.kind, job.status, job.error) == (Job.Kind.POWER, Job.Status.FAILED, server.status_reason)
    assert f"Could not start the server: {job.error}" in lines(installed)
    assert "no-such-image" in job.error, job.error


@pytest.mark.parametrize(("action", "line"), [("stop", "Server stopped."), ("kill", "Server killed.")])
def test_stop_or_kill_delivered_twice_stops_once(owner_api, running, finished, action, line):
    with messages() as sent:
        owner_api.post(f"/api/servers/{running.pk}/{action}")
    wait_status(running, S.STOPPED)
    message = the_message(sent, "servers.tasks.server_power_task")
    wait_for(lambda: message[1] in finished, 60, f"the {action} to finish")
    before = snapshot(running)

    deliver_again(message, finished)

    assert snapshot(running) == before
    assert count(running, line) == 1
    assert Job.objects.get(pk=message[3]["job_id"]).status == Job.Status.SUCCEEDED


def test_restart_delivered_twice_restarts_once(owner_api, running, finished):
    with messages() as sent:
        owner_api.post(f"/api/servers/{running.pk}/restart")
    message = the_message(sent, "servers.tasks.server_power_task")
    wait_for(lambda: message[1] in finished, 60, "the restart to finish")
    wait_status(running, S.RUNNING)
    before = snapshot(running)

    deliver_again(message, finished)

    assert snapshot(running) == before, "the second delivery restarted the server again"
    assert count(running, "Container started") == 2  # the first start, and the restart's


def test_a_restart_whose_game_exited_before_the_task_ran_still_starts_it(running):
    """The player typed `stop`, then clicked Restart: the game is gone by the time the worker takes the
    task, and the monitor has recorded `stopped`. The restart still starts it, as asked."""
    from servers.lifecycle.power import server_power_execute

    Server.objects.filter(pk=running.pk).update(status=S.STOPPING)  # what the restart request did
    docker.APIClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL")).kill(running.container_id)
    wait_status(running, S.STOPPED)
    starts = count(running, "Container started")

    server_power_execute(server_id=running.pk, action="restart")

    wait_status(running, S.RUNNING)
    assert count(running, "Container started") == starts + 1


def test_a_kill_delivered_again_after_the_server_was_started_again_does_not_kill_it(
    owner_api, running, finished
):
    with messages() as sent:
        owner_api.post(f"/api/servers/{running.pk}/kill")
    message = the_message(sent, "servers.tasks.server_power_task")
    wait_status(running, S.STOPPED)
    owner_api.post(f"/api/servers/{running.pk}/start")
    wait_status(running, S.RUNNING)
    before = snapshot(running)

    deliver_again(message, finished)

    assert snapshot(running) == before, "the late kill killed a server started after it"


def test_a_command_goes_to_the_monitor_without_a_task(owner_api, running):
    from tests.servers.test_lifecycle import wait_for_line

    with messages() as sent:
        owner_api.post(f"/api/servers/{running.pk}/command", {"command": "say straight in"}, format="json")
    wait_for_line(running, "[Server] straight in")
    assert not [m for m in sent if m[0] == "servers.tasks.server_command_task"], sent


def test_command_delivered_twice_reaches_the_game_once(owner_api, running, finished):
    """The task is the way when no monitor listens: delivered again, it does not type the line twice."""
    import uuid

    from config.celery import app
    from tests.servers.test_lifecycle import wait_for_line

    message = ("servers.tasks.server_command_task", str(uuid.uuid4()), (str(running.pk), "say only once"), {})
    app.tasks[message[0]].apply_async(message[2], task_id=message[1])
    wait_for_line(running, "[Server] only once")

    deliver_again(message, finished)
    owner_api.post(f"/api/servers/{running.pk}/command", {"command": "say a later one"}, format="json")
    wait_for_line(running, "[Server] a later one")  # the game has read everything sent before it

    assert count(running, "[Server] only once") == 1


def test_disk_check_delivered_twice_warns_once_and_does_not_stop(running, finished):
    """The first check over the limit warns; the same check delivered again is not 'the next check'."""
    import os
    from pathlib import Path

    from servers.tasks import server_check_disk_task

    Server.objects.filter(pk=running.pk).update(allocated_disk_mb=64)
    (Path(running.node.data_dir) / "servers" / str(running.pk) / "big.bin").write_bytes(
        os.urandom(80 * 1024 * 1024)
    )
    with messages() as sent:
        server_check_disk_task.delay(str(running.pk))
    message = the_message(sent, "servers.tasks.server_check_disk_task")
    wait_for(lambda: message[1] in finished, 60, "the disk check")
    assert count(running, "Warning: the server uses") == 1
    before = snapshot(running)

    deliver_again(message, finished)

    assert snapshot(running)["status"] == before["status"] == S.RUNNING
    assert count(running, "Warning: the server uses") == 1
    assert "Stopping: still over the disk limit" not in lines(running)


def test_delete_delivered_twice_deletes_once(owner_api, installed, finished):
    with messages() as sent:
        assert owner_api.delete(f"/api/servers/{installed.pk}").status_code == 200
    message = the_message(sent, "servers.tasks.server_delete_task")
    wait_for(lambda: not Server.objects.filter(pk=installed.pk).exists(), 60, "the server row to go")
    job = Job.objects.filter(pk=message[2][1]).values("status", "finished_at").first()

    deliver_again(message, finished)

    assert Job.objects.filter(pk=message[2][1]).values("status", "finished_at").first() == job
    assert containers(installed) == []


def test_transfer_delivered_twice_moves_once(client_for, admin, installed, game_node, finished):
    staff = client_for(admin)
    target = game_node(2, "unix")
    with messages() as sent:
        response = staff.post(
            f"/api/servers/{installed.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
        )
        assert response.status_code == 200, response.content
    message = the_message(sent, "servers.tasks.server_transfer_task")
    wait_for(lambda: message[1] in finished, 180, "the transfer")
    job = Job.objects.get(pk=message[2][1])
    assert job.status == Job.Status.SUCCEEDED, job.error
    before = snapshot(installed)

    deliver_again(message, finished)

    server = Server.objects.get(pk=installed.pk)
    assert server.node_id == target.pk and server.status == S.STOPPED
    assert Job.objects.get(pk=job.pk).finished_at == job.finished_at
    assert containers(installed, engine=1) == [] and len(containers(installed, engine=2)) == 1
    assert Server.objects.get(pk=installed.pk).updated_at == before["updated_at"]


def test_a_kill_that_ends_after_a_newer_start_leaves_the_start_alone(running, monkeypatch):
    """The killed container's exit can reach the monitor (stopped) and a new start be asked for
    (starting) before the kill task records its own end: that end must not undo the start."""
    from servers import runtime
    from servers.lifecycle import power

    kill = runtime.kill

    def kill_then_a_start_arrives(client, server):
        kill(client, server)
        wait_status(server, S.STOPPED)  # the monitor saw the exit
        Server.objects.filter(pk=server.pk).update(status=S.STARTING)  # as a start request does

    monkeypatch.setattr(runtime, "kill", kill_then_a_start_arrives)
    Server.objects.filter(pk=running.pk).update(status=S.STOPPING)  # as the kill request does
    power.server_power_execute(server_id=running.pk, action="kill")
    running.refresh_from_db()
    assert running.status == S.STARTING
