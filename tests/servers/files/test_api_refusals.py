"""Every refusal of the file manager's API: who may not (404, 403), when not (423, 409), what may not
(400 with a clear message, 409 for what exists, 413 over the editor's limit) and a node that does not
answer (503) — on the local and the SSH node where the node is involved."""

import os

import pytest

from nodes.models import Node
from servers import runtime
from servers.models import Server, ServerMember

ENGINES = [(1, "unix"), (2, "ssh")]


def url(server, tail: str = "") -> str:
    return f"/api/servers/{server.pk}/files{tail}"


def host(server, path: str = "") -> str:
    return os.path.join(runtime.server_dir(server), path.lstrip("/"))


def write_host(server, path: str, data: str = "x", mode: int = 0o644) -> None:
    """A file the game made (on the node's disk, owned by the game's user like the game's own)."""
    target = host(server, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write(data)
    os.chmod(target, mode)
    os.chown(target, *owner_ids(server))


def owner_ids(server) -> tuple[int, int]:
    stat = os.stat(host(server))
    return stat.st_uid, stat.st_gid


def error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["statusCode"] == status
    return body["message"]


@pytest.fixture
def owner_api(client_for, customer):
    return client_for(customer)


@pytest.fixture
def ready(files_server, owner_api):
    """A server whose directory exists (its first session made it), with /a.txt in it."""

    def make(engine=1, via="unix") -> Server:
        server = files_server(engine, via)
        response = owner_api.post(url(server, "/create"), {"path": "/a.txt", "content": "a"}, format="json")
        assert response.status_code == 200, response.content
        return server

    return make


def test_who_may_not(ready, client_for, stranger, make_user):
    server = ready()
    assert "Server not found" in error(client_for(stranger).get(url(server)), 404)
    reader = make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["file.read"])
    api = client_for(reader)
    assert api.get(url(server)).status_code == 200
    assert api.get(url(server, "/content"), {"path": "/a.txt"}).status_code == 200
    assert "file.write" in error(api.post(url(server, "/create"), {"path": "/b"}, format="json"), 403)
    assert "file.write" in error(
        api.put(url(server, "/content") + "?path=/a.txt", {"content": "b"}, format="json"), 403
    )
    for tail, body in (
        ("/rename", {"from": "/a.txt", "to": "/b"}),
        ("/copy", {"from": "/a.txt", "to": "/b"}),
    ):
        assert "file.write" in error(api.post(url(server, tail), body, format="json"), 403)
    assert "file.write" in error(
        api.post(url(server, "/chmod"), {"path": "/a.txt", "mode": "600"}, format="json"), 403
    )
    assert "file.delete" in error(api.delete(url(server) + "?path=/a.txt"), 403)
    nobody = make_user()
    ServerMember.objects.create(server=server, user=nobody, permissions=[])
    assert "file.read" in error(client_for(nobody).get(url(server)), 403)
    with open(host(server, "/a.txt")) as handle:
        assert handle.read() == "a"


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [(Server.Status.SUSPENDED, 423, "suspended"), (Server.Status.INSTALLING, 409, "installing")],
)
def test_when_not(ready, owner_api, status, code, words):
    server = ready()
    Server.objects.filter(pk=server.pk).update(status=status)
    assert words in error(owner_api.get(url(server)), code)
    assert words in error(owner_api.delete(url(server) + "?path=/a.txt"), code)
    assert words in error(
        owner_api.put(url(server, "/content") + "?path=/a.txt", {"content": "b"}, format="json"), code
    )
    assert os.path.exists(host(server, "/a.txt"))


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_bad_paths_are_refused_and_nothing_beside_the_server_is_reachable(ready, owner_api, engine, via):
    server = ready(engine, via)
    # A sibling whose name starts with this server's (s1 vs s1_evil), with a secret in it.
    sibling = runtime.server_dir(server).rstrip("/") + "_evil"
    os.makedirs(sibling, exist_ok=True)
    with open(os.path.join(sibling, "secret"), "w") as handle:
        handle.write("sibling secret")
    try:
        evil = os.path.basename(sibling)
        # Query strings are decoded once: %2e%2e arrives as "..", %00 as NUL.
        refused = {
            "/%2e%2e/" + evil + "/secret": "may not contain '..'",
            "../" + evil + "/secret": "may not contain '..'",
            "/a%00b": "NUL",
            "/..%5c" + evil + "%5csecret": "backslash",
        }
        for path, words in refused.items():
            assert words in error(owner_api.get(url(server, "/content") + "?path=" + path), 400), path
            assert words in error(owner_api.delete(url(server) + "?path=" + path), 400), path
        assert "may not contain '..'" in error(
            owner_api.post(
                url(server, "/rename"), {"from": "/a.txt", "to": f"/../{evil}/a.txt"}, format="json"
            ),
            400,
        )
        assert "may not contain '..'" in error(
            owner_api.post(url(server, "/copy"), {"from": f"/../{evil}/secret", "to": "/s"}, format="json"),
            400,
        )
        # The literal name "%2e%2e" (sent encoded once more) is just a name, inside the server.
        made = owner_api.post(url(server, "/create"), {"path": "/%2e%2e/x", "content": "n"}, format="json")
        assert made.status_code == 200, made.content
        assert os.path.isfile(host(server, "/%2e%2e/x"))
        assert owner_api.get(url(server, "/content") + "?path=/%252e%252e/x").json()["data"]["content"] == "n"
        # A relative path is from the root, like an absolute one.
        assert owner_api.get(url(server, "/content"), {"path": "a.txt"}).json()["data"]["content"] == "a"
        assert (
            owner_api.get(url(server, "/content"), {"path": "//./a.txt"}).json()["data"]["path"] == "/a.txt"
        )
        # The sibling's absolute host path means nothing inside the helper.
        assert "No such file" in error(
            owner_api.get(url(server, "/content"), {"path": sibling + "/secret"}), 404
        )
        with open(os.path.join(sibling, "secret")) as handle:
            assert handle.read() == "sibling secret"
    finally:
        for name in os.listdir(sibling):
            os.remove(os.path.join(sibling, name))
        os.rmdir(sibling)


def test_what_may_not(ready, owner_api, settings):
    server = ready()
    api = owner_api
    write_host(server, "/dir/inner.txt")
    write_host(server, "/binary.bin")
    with open(host(server, "/binary.bin"), "wb") as handle:
        handle.write(b"\xff\xfe\x00\x01")
    assert "No such file or directory: /missing" in error(api.get(url(server), {"path": "/missing"}), 404)
    assert "/a.txt is not a directory" in error(api.get(url(server), {"path": "/a.txt"}), 400)
    assert "is a directory" in error(api.get(url(server, "/content"), {"path": "/dir"}), 400)
    assert "binary file: download it instead" in error(
        api.get(url(server, "/content"), {"path": "/binary.bin"}), 400
    )
    assert "path is required" in error(api.get(url(server, "/content")), 400)
    assert "already exists at /a.txt" in error(
        api.post(url(server, "/create"), {"path": "/a.txt"}, format="json"), 409
    )
    assert "already exists at /dir" in error(
        api.post(url(server, "/create"), {"path": "/dir", "isDirectory": True}, format="json"), 409
    )
    assert "/a.txt is not a directory" in error(
        api.post(url(server, "/create"), {"path": "/a.txt/b", "content": ""}, format="json"), 400
    )
    assert "root directory cannot be deleted" in error(api.delete(url(server) + "?path=/"), 400)
    assert "No such file or directory: /missing" in error(api.delete(url(server) + "?path=/missing"), 404)
    move = {"from": "/dir", "to": "/dir/deeper"}
    assert "inside it" in error(api.post(url(server, "/rename"), move, format="json"), 400)
    assert "inside it" in error(api.post(url(server, "/copy"), move, format="json"), 400)
    taken = {"from": "/a.txt", "to": "/dir/inner.txt"}
    assert "already exists" in error(api.post(url(server, "/rename"), taken, format="json"), 409)
    assert "already exists" in error(api.post(url(server, "/copy"), taken, format="json"), 409)
    gone = {"from": "/nothing", "to": "/b"}
    assert "No such file or directory: /nothing" in error(
        api.post(url(server, "/rename"), gone, format="json"), 404
    )
    assert "Unknown field" in error(
        api.post(url(server, "/copy"), {**gone, "force": True}, format="json"), 400
    )
    for mode, words in (
        ("4755", "no setuid"),
        ("1777", "sticky"),
        ("rwx", "octal"),
        ("99", "octal"),
        ("", "may not be blank"),
    ):
        assert words in error(
            api.post(url(server, "/chmod"), {"path": "/a.txt", "mode": mode}, format="json"), 400
        )
    assert os.stat(host(server, "/a.txt")).st_mode & 0o7777 == 0o644

    settings.FILES_EDITOR_MAX_BYTES = 10
    write_host(server, "/big.txt", "x" * 11)
    assert "editor's limit" in error(api.get(url(server, "/content"), {"path": "/big.txt"}), 413)
    assert "editor's limit" in error(
        api.put(url(server, "/content") + "?path=/a.txt", {"content": "y" * 11}, format="json"), 413
    )
    with open(host(server, "/a.txt")) as handle:
        assert handle.read() == "a"


def test_over_the_disk_limit_nothing_is_written(ready, owner_api, settings):
    server = ready()
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=1)
    big = "z" * (1024 * 1024 + 1)
    settings.FILES_EDITOR_MAX_BYTES = 2 * len(big)
    answer = owner_api.post(url(server, "/create"), {"path": "/big.txt", "content": big}, format="json")
    assert "disk limit of 1 MB" in error(answer, 400)
    answer = owner_api.put(url(server, "/content") + "?path=/a.txt", {"content": big}, format="json")
    assert "disk limit of 1 MB" in error(answer, 400)
    write_host(server, "/half.bin", "h" * (600 * 1024))
    answer = owner_api.post(url(server, "/copy"), {"from": "/half.bin", "to": "/copy.bin"}, format="json")
    assert "disk limit of 1 MB" in error(answer, 400)
    assert sorted(os.listdir(host(server))) == ["a.txt", "half.bin"]  # no file, no temporary left
    with open(host(server, "/a.txt")) as handle:
        assert handle.read() == "a"


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_node_that_does_not_answer_is_a_503(ready, owner_api, engine, via):
    server = ready(engine, via)
    Node.objects.filter(pk=server.node_id).update(docker_url="ssh://hearth@127.0.0.1:1")
    message = error(owner_api.get(url(server)), 503)
    assert f"Node '{server.node.name}' is unreachable" in message
    assert error(owner_api.delete(url(server) + "?path=/a.txt"), 503)
