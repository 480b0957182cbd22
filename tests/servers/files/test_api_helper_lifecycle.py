"""The files helper's lifecycle: reaped when idle (never with a session running), removed with the
server's directory, on suspension (a session opened before breaks) and for servers that are gone."""

import os
import time

import pytest

from nodes.client import NodeUnavailable, client_for
from nodes.health import node_check_health
from servers import runtime
from servers.files.helper import helper_for, helpers_reap, session
from servers.lifecycle.suspension import server_suspend
from servers.models import Server
from tests.fixtures.servers import server_beside

ENGINES = [(1, "unix"), (2, "ssh")]


def helper_exists(server) -> bool:
    return client_for(server.node).container_state(helper_for(server).name) is not None


def later(settings) -> float:
    return time.time() + settings.FILES_HELPER_IDLE_SECONDS + 1


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_an_idle_helper_is_reaped_but_never_one_with_a_session_running(files_server, settings, engine, via):
    server = files_server(engine, via)
    with session(server) as files:
        files.list(helper_for(server).mount)
        assert helpers_reap(now=later(settings)) == 0  # idle by the clock, but its session runs
        assert helper_exists(server)
    assert helpers_reap() == 0  # just used
    assert helper_exists(server)
    assert helpers_reap(now=later(settings)) == 1
    assert not helper_exists(server)
    with session(server) as files:  # the next use makes a new one
        assert files.list(helper_for(server).mount) == []


def test_a_suspension_removes_the_helper_and_breaks_a_session_opened_before(
    files_server, admin, django_capture_on_commit_callbacks
):
    server = files_server()
    with session(server) as files:
        mount = helper_for(server).mount
        files.write(f"{mount}/before.txt", [b"x"])
        with django_capture_on_commit_callbacks(execute=True):
            server_suspend(server=server, actor=admin, reason="unpaid")
        assert not helper_exists(server)
        with pytest.raises(NodeUnavailable):
            files.write(f"{mount}/after.txt", [b"y"])
    assert os.listdir(runtime.server_dir(server)) == ["before.txt"]


def test_deleting_the_servers_directory_removes_its_helper_first(files_server):
    server = files_server()
    with session(server) as files:
        files.list(helper_for(server).mount)
    runtime.destroy(client_for(server.node), server)
    assert not helper_exists(server)
    assert not os.path.exists(runtime.server_dir(server))


def test_helpers_of_servers_suspended_or_installing_are_reaped_at_once(files_server):
    suspended = files_server()
    installing, kept = beside(suspended), beside(suspended)
    for server in (suspended, installing, kept):
        with session(server) as files:
            files.list(helper_for(server).mount)
    Server.objects.filter(pk=suspended.pk).update(status=Server.Status.SUSPENDED)
    Server.objects.filter(pk=installing.pk).update(status=Server.Status.INSTALLING)
    assert helpers_reap() == 2
    assert not helper_exists(suspended) and not helper_exists(installing) and helper_exists(kept)


def beside(server: Server) -> Server:
    """Another server on the same node."""
    return server_beside(server)


def test_the_health_check_names_the_missing_sftp_server_and_file_operations_say_why(
    files_server, settings, client_for, customer
):
    server = files_server()
    settings.FILES_SFTP_SERVER = "/nonexistent/sftp-server"
    from nodes.client import files_image

    files_image._binaries.cache_clear()
    try:
        (problem,) = node_check_health(node=server.node)["problems"]
        assert "/nonexistent/sftp-server is missing" in problem and "openssh-sftp-server" in problem
        answer = client_for(customer).get(f"/api/servers/{server.pk}/files")
        assert answer.status_code == 503 and "openssh-sftp-server" in answer.json()["message"]
    finally:
        files_image._binaries.cache_clear()
    settings.FILES_SFTP_SERVER = "/usr/lib/openssh/sftp-server"
    assert node_check_health(node=server.node)["problems"] == []


def test_the_beat_runs_the_reaper(files_server, settings):
    from config.celery import app
    from servers.tasks import files_helpers_reap_task

    assert settings.CELERY_BEAT_SCHEDULE["files-helpers-reap"]["task"] in app.tasks
    server = files_server()
    with session(server) as files:
        files.list(helper_for(server).mount)
    settings.FILES_HELPER_IDLE_SECONDS = -1  # everything is idle
    files_helpers_reap_task.delay()
    assert not helper_exists(server)
