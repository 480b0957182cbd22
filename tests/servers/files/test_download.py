"""GET /api/servers/<id>/files/download?path=: streamed from the node through an async iterator, on
the local and the SSH node; the session is closed when the client leaves midway."""

import os

import pytest

from nodes.client import client_for as node_client
from servers.files.helper import helper_for, session
from servers.models import Server, ServerMember
from tests.polling import wait_for
from tests.servers.files.transfer_client import asgi, bearer

NODES = [pytest.param(1, "unix", id="local"), pytest.param(2, "ssh", id="ssh")]
MB = 1024 * 1024


def put(server, path: str, content: bytes) -> None:
    with session(server) as files:
        files.write(server.template.data_path + path, [content])


def download(server, user, path: str, **kwargs):
    return asgi(
        "GET",
        f"/api/servers/{server.pk}/files/download",
        query=f"path={path}",
        headers=bearer(user),
        **kwargs,
    )


@pytest.mark.parametrize(("engine", "via"), NODES)
def test_it_streams_the_file(files_server, customer, engine, via):
    server = files_server(engine, via)
    content = os.urandom(5 * MB + 3)
    put(server, "/world.dat", content)
    answer = download(server, customer, "/world.dat")
    assert answer.status == 200
    assert answer.body == content
    assert answer.headers["content-length"] == str(len(content))
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == 'attachment; filename="world.dat"'


def test_a_non_ascii_or_hostile_name_is_a_safe_header(files_server, customer):
    server = files_server()
    put(server, "/café ünïcode.txt", b"x")
    answer = download(server, customer, "/caf%C3%A9%20%C3%BCn%C3%AFcode.txt")
    assert answer.status == 200
    assert answer.headers["content-disposition"] == (
        "attachment; filename*=utf-8''caf%C3%A9%20%C3%BCn%C3%AFcode.txt"
    )
    put(server, '/a"b\r\nSet-Cookie: x.txt', b"y")
    hostile = download(server, customer, "/a%22b%0D%0ASet-Cookie%3A%20x.txt")
    assert hostile.status == 200
    assert hostile.body == b"y"
    assert "\n" not in hostile.headers["content-disposition"]
    assert "set-cookie" not in hostile.headers


def test_directories_links_and_missing_files_are_refused(files_server, customer):
    server = files_server()
    mount = server.template.data_path
    with session(server) as files:
        files.mkdir(mount + "/world")
        files.symlink("/etc/passwd", mount + "/link")
    directory = download(server, customer, "/world")
    assert directory.status == 400
    assert "is a directory" in directory.json()["message"]
    link = download(server, customer, "/link")
    assert link.status == 400
    assert "not a regular file" in link.json()["message"]
    missing = download(server, customer, "/nope.txt")
    assert missing.status == 404
    assert "/nope.txt" in missing.json()["message"]
    assert download(server, customer, "/../../etc/passwd").status == 400
    assert download(server, customer, "").status == 400


def test_refusals(files_server, customer, stranger, make_user):
    server = files_server()
    put(server, "/a.txt", b"a")
    assert download(server, stranger, "/a.txt").status == 404
    outsider = make_user(email="member@example.com", username="member")
    ServerMember.objects.create(server=server, user=outsider, permissions=["file.write"])
    assert download(server, outsider, "/a.txt").status == 403
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    assert download(server, customer, "/a.txt").status == 423


def sftp_servers_running(server) -> int:
    """sftp-server processes in the server's helper (one per open session, plus the idle main one)."""
    top = node_client(server.node)._api.top(helper_for(server).name)
    return sum("sftp-server" in " ".join(row) for row in top["Processes"])


@pytest.mark.parametrize(("engine", "via"), NODES)
def test_the_session_closes_when_the_client_leaves_midway(files_server, customer, engine, via):
    server = files_server(engine, via)
    put(server, "/big.bin", os.urandom(40 * MB))
    idle = sftp_servers_running(server)
    answer = download(server, customer, "/big.bin", leave_after=1 * MB)
    assert answer.status == 200
    assert len(answer.body) < 40 * MB
    wait_for(lambda: sftp_servers_running(server) == idle, 10, "the download's sftp-server to end")
