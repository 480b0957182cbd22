"""The server's files in the admin: a read-only listing through the file manager's service (so through
the helper's containment) linked from the change page, and the action that removes files helpers."""

import os

import pytest

from accounts.models import AuditLog
from nodes.client import client_for
from servers import runtime
from servers.files.helper import helper_for, session


def files_url(server, path: str = "/") -> str:
    return f"/admin/servers/server/{server.pk}/files/?path={path}"


@pytest.fixture
def support(make_user):
    return make_user(email="support@example.com", username="support", role="Support")


def test_staff_browse_a_servers_files_read_only(files_server, signed_in, admin, support, customer):
    server = files_server()
    with session(server) as files:
        mount = helper_for(server).mount
        files.mkdir(f"{mount}/world")
        files.write(f"{mount}/world/level.dat", [b"x" * 2048])
        files.write(f"{mount}/server.properties", [b"motd=hi\n"])
    os.symlink("/etc", os.path.join(runtime.server_dir(server), "etc"))
    client = signed_in(admin)
    change = client.get(f"/admin/servers/server/{server.pk}/change/")
    assert f"/admin/servers/server/{server.pk}/files/" in change.content.decode()

    root = client.get(files_url(server))
    assert root.status_code == 200
    names = [entry["name"] for entry in root.context["entries"]]
    assert names == ["world", "etc", "server.properties"]  # directories first; a link is not one
    assert "(link)" in root.content.decode()
    world = client.get(files_url(server, "/world"))
    assert [e["name"] for e in world.context["entries"]] == ["level.dat"]
    assert world.context["parent"] == "/"
    assert "2.0\xa0KB" in world.content.decode()
    for path, words in (("/missing", "No such file or directory: /missing"), ("/../x", "may not contain")):
        refused = client.get(files_url(server, path))
        assert refused.status_code == 200 and words in refused.context["error"]
    assert signed_in(support).get(files_url(server)).status_code == 200  # Support reads files
    assert signed_in(customer).get(files_url(server)).status_code == 302  # no admin for customers


def test_the_remove_files_helpers_action(files_server, signed_in, admin, support):
    server = files_server()
    with session(server) as files:
        files.list(helper_for(server).mount)
    engine = client_for(server.node)
    assert engine.container_state(helper_for(server).name) is not None
    form = {"action": "remove_files_helpers", "_selected_action": [str(server.pk)]}
    refused = signed_in(support).post("/admin/servers/server/", form)
    assert engine.container_state(helper_for(server).name) is not None  # Support may not (no server.update)
    assert refused.status_code in (200, 302)
    done = signed_in(admin).post("/admin/servers/server/", form, follow=True)
    assert "Files helpers removed: 1 server(s)." in [str(m) for m in done.context["messages"]]
    assert engine.container_state(helper_for(server).name) is None
    assert AuditLog.objects.filter(action="files.helper_remove", resource_id=str(server.pk)).exists()
