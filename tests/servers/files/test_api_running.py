"""The file manager on a running server: the helper shares the directory with the game's container, so
the game sees an edit at once and the API sees what the game wrote."""

import docker

from servers.models import Server
from tests.fixtures.env import require_env
from tests.fixtures.servers import wait_status

S = Server.Status


def test_files_of_a_running_server(files_server, client_for, customer, monitor):
    server = files_server()
    api = client_for(customer)
    assert api.post(f"/api/servers/{server.pk}/install").status_code == 200
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
    wait_status(server, S.RUNNING)

    written = api.get(f"/api/servers/{server.pk}/files/content", {"path": "/install.txt"})
    assert written.status_code == 200 and written.json()["data"]["content"].startswith("motd=")
    saved = api.put(
        f"/api/servers/{server.pk}/files/content?path=/plugins/hello.yml",
        {"content": "hello: game\n"},
        format="json",
    )
    assert saved.status_code == 404  # the editor does not make directories: create does
    made = api.post(
        f"/api/servers/{server.pk}/files/create",
        {"path": "/plugins/hello.yml", "content": "hello: game\n"},
        format="json",
    )
    assert made.status_code == 200, made.content
    game = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL")).containers.get(
        server.container_name
    )
    seen = game.exec_run(["cat", "/home/container/plugins/hello.yml"]).output.decode()
    assert seen == "hello: game\n"
    assert api.delete(f"/api/servers/{server.pk}/files?path=/plugins").status_code == 200
    assert game.exec_run(["ls", "/home/container/plugins"]).exit_code != 0
    server.refresh_from_db()
    assert server.status == S.RUNNING
