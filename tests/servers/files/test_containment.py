"""Links the customer (or their game) plants in the server's directory, pointing at the node's own files
and at another server's: nothing outside the server's directory is read, written, chmodded, listed or
deleted through the API, on the local and the SSH node. Every assertion about "outside" is made on the
host's filesystem."""

import os

import pytest

from servers import runtime
from servers.models import Server
from tests.fixtures.servers import server_beside

ENGINES = [(1, "unix"), (2, "ssh")]


def url(server, tail: str = "") -> str:
    return f"/api/servers/{server.pk}/files{tail}"


def host(server, path: str = "") -> str:
    return os.path.join(runtime.server_dir(server), path.lstrip("/"))


def snapshot(top: str) -> dict:
    """Every path under `top` with its mode and content (what must not change)."""
    seen = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    content = handle.read()
            seen[os.path.relpath(path, top)] = (info.st_mode, content)
    return seen


def beside(server: Server) -> Server:
    """Another customer's server on the same node."""
    return server_beside(server, name="neighbour")


def as_the_game(server: Server) -> None:
    """What the test planted, owned by the game's user (the game plants it, in production)."""
    top = os.stat(host(server))
    for directory, dirs, files in os.walk(host(server)):
        for name in dirs + files:
            os.lchown(os.path.join(directory, name), top.st_uid, top.st_gid)


@pytest.fixture
def outside(tmp_path):
    """A directory of the node's host, readable by the SSH node's user, holding a secret."""
    top = tmp_path / "outside"
    (top / "sub").mkdir(parents=True)
    (top / "secret").write_text("host secret\n")
    (top / "sub" / "deep").write_text("deep secret\n")
    os.chmod(tmp_path, 0o755)  # noqa: S103 - a host dir others may read, as /etc is
    os.chmod(top, 0o777)  # noqa: S103 - even writable by anyone: only containment protects it
    os.chmod(top / "secret", 0o644)
    return str(top)


@pytest.fixture
def planted(files_server, client_for, customer, outside):
    """A server (and its neighbour's secret) with links to outside planted in its directory."""

    def make(engine: int, via: str):
        server = files_server(engine, via)
        api = client_for(customer)
        assert (
            api.post(url(server, "/create"), {"path": "/a.txt", "content": "a"}, format="json").status_code
            == 200
        )
        neighbour = beside(server)
        assert (
            api.post(
                url(neighbour, "/create"), {"path": "/n.txt", "content": "neighbour's data"}, format="json"
            ).status_code
            == 200
        )
        os.symlink(outside, host(server, "/out"))  # a parent
        os.symlink(os.path.join(outside, "secret"), host(server, "/secret"))  # a last component
        os.symlink(os.path.join(outside, "planted"), host(server, "/dangling"))  # a name to write through
        os.symlink(runtime.server_dir(neighbour), host(server, "/neighbour"))  # the other server
        os.symlink("../" + os.path.basename(runtime.server_dir(neighbour)), host(server, "/relative"))
        os.makedirs(host(server, "/dir"))
        os.symlink(outside, host(server, "/dir/link"))
        as_the_game(server)
        return server, neighbour, api

    return make


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_planted_links_reach_nothing_outside(planted, outside, engine, via):
    server, neighbour, api = planted(engine, via)
    before, neighbour_before = snapshot(outside), snapshot(runtime.server_dir(neighbour))

    listing = {e["name"]: e for e in api.get(url(server)).json()["data"]}
    assert listing["out"]["isSymlink"] and listing["secret"]["isSymlink"]
    for path in ("/out", "/neighbour", "/relative", "/dir/link"):
        assert api.get(url(server), {"path": path}).status_code == 404, path
    for path in ("/secret", "/out/secret", "/neighbour/n.txt", "/relative/n.txt", "/dir/link/secret"):
        answer = api.get(url(server, "/content"), {"path": path})
        assert answer.status_code == 404, (path, answer.content)
        for leaked in (b"host secret", b"deep secret", b"neighbour's data"):
            assert leaked not in answer.content

    # Writing through links: the parent does not exist inside; the dangling link is not replaced or followed.
    for path in ("/out/new", "/neighbour/new", "/relative/new", "/out/sub/new"):
        assert (
            api.put(url(server, "/content") + f"?path={path}", {"content": "w"}, format="json").status_code
            == 404
        )
        assert (
            api.post(url(server, "/create"), {"path": path, "content": "w"}, format="json").status_code == 404
        )
    assert (
        api.put(url(server, "/content") + "?path=/dangling", {"content": "w"}, format="json").status_code
        == 400
    )
    assert (
        api.post(url(server, "/create"), {"path": "/dangling", "content": "w"}, format="json").status_code
        == 409
    )
    assert (
        api.post(url(server, "/create"), {"path": "/out/d", "isDirectory": True}, format="json").status_code
        == 404
    )

    # chmod of a link to a host file, and through a parent link.
    assert (
        api.post(url(server, "/chmod"), {"path": "/secret", "mode": "777"}, format="json").status_code == 400
    )
    assert (
        api.post(url(server, "/chmod"), {"path": "/out/secret", "mode": "777"}, format="json").status_code
        == 404
    )
    assert (
        api.post(url(server, "/chmod"), {"path": "/neighbour", "mode": "700"}, format="json").status_code
        == 400
    )

    # Rename and copy whose source or destination goes through a link.
    for tail in ("/rename", "/copy"):
        for target in ("/out/a.txt", "/neighbour/a.txt", "/relative/a.txt", "/dir/link/a.txt"):
            answer = api.post(url(server, tail), {"from": "/a.txt", "to": target}, format="json")
            assert answer.status_code == 404, (tail, target, answer.content)
        answer = api.post(url(server, tail), {"from": "/out/secret", "to": "/stolen"}, format="json")
        assert answer.status_code == 404
    copied = api.post(url(server, "/copy"), {"from": "/dir", "to": "/dir2"}, format="json")
    assert copied.status_code == 200, copied.content
    assert os.readlink(host(server, "/dir2/link")) == outside  # copied as a link, never followed
    assert not os.path.exists(host(server, "/stolen"))

    # Deleting: the links go, what they point to stays.
    for path in ("/dir", "/dir2", "/secret", "/out", "/neighbour", "/dangling"):
        assert api.delete(url(server) + f"?path={path}").status_code == 200, path
    assert api.delete(url(server) + "?path=/relative/n.txt").status_code == 404

    assert snapshot(outside) == before
    assert snapshot(runtime.server_dir(neighbour)) == neighbour_before
    assert not os.path.exists(os.path.join(outside, "planted"))
    assert sorted(os.listdir(host(server))) == ["a.txt", "relative"]


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_absolute_links_open_the_helpers_empty_image_not_the_node(planted, engine, via):
    server, _, api = planted(engine, via)
    os.symlink("/etc", host(server, "/etc"))
    answer = api.get(url(server, "/content"), {"path": "/etc/passwd"})
    if answer.status_code == 200:  # the image's one-line passwd, never the node's
        assert "root:" not in answer.json()["data"]["content"]
    else:
        assert answer.status_code in (403, 404)
    assert api.get(url(server, "/content"), {"path": "/etc/shadow"}).status_code == 404
    assert api.put(
        url(server, "/content") + "?path=/etc/planted", {"content": "x"}, format="json"
    ).status_code in (
        400,
        403,
    )
    assert not os.path.exists("/etc/planted")
