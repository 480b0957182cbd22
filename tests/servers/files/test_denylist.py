"""The template's file denylist through the files API: what it protects cannot be read, written,
created, uploaded, renamed away or onto, copied, deleted, archived or extracted onto, whichever way
the path is written or linked to; staff's admin view is not bound. The SFTP gateway's side is in
tests/sftp/test_denylist.py."""

import io
import os
import tarfile

import pytest
from django.core.exceptions import ValidationError

from servers import runtime
from servers.files.denylist import Denylist
from servers.files.helper import helper_for, session
from templates_app.validators import validate_file_denylist
from tests.servers.files.test_archives_support import compress, decompress, tar_bytes
from tests.servers.files.test_upload import upload

DENYLIST = ["secret.cfg", "config/", "*.jar", "!allowed.jar", "/root-only.txt"]
PROTECTED = "protected by the server's template"


def url(server, tail: str = "") -> str:
    return f"/api/servers/{server.pk}/files{tail}"


def host(server, path: str) -> str:
    return os.path.join(runtime.server_dir(server), path.lstrip("/"))


def read_host(server, path: str) -> bytes:
    with open(host(server, path), "rb") as handle:
        return handle.read()


def planted(server) -> None:
    """The server's files as the game (not bound by the denylist) left them, links included."""
    server.template.file_denylist = DENYLIST
    server.template.save(update_fields=["file_denylist"])
    mount = helper_for(server).mount
    with session(server, denylist=False) as files:
        for directory in ("config", "plugins", "sub", "world"):
            files.mkdir(f"{mount}/{directory}")
        for path, data in {
            "secret.cfg": b"s1",
            "config/secret.yml": b"s2",
            "plugins/a.jar": b"jar",
            "plugins/allowed.jar": b"ok",
            "root-only.txt": b"r",
            "sub/root-only.txt": b"free r",
            "free.txt": b"free",
            "world/level.dat": b"w",
        }.items():
            files.write(f"{mount}/{path}", [data])
        files.symlink("secret.cfg", f"{mount}/link")  # relative
        files.symlink(f"{mount}/secret.cfg", f"{mount}/abs")  # absolute, as the game sees it
        files.symlink("config", f"{mount}/cfgdir")  # a directory above a protected file
        files.symlink("config/new.yml", f"{mount}/dangling")  # to write through


def test_patterns_are_read_as_gitignore_reads_them():
    denylist = Denylist(DENYLIST)
    assert denylist.denies("/secret.cfg") and denylist.denies("/deep/er/secret.cfg")
    assert denylist.denies("/config", directory=True) and denylist.denies("/config/x/y")
    assert not denylist.denies("/config")  # `config/` names a directory, not a file called config
    assert denylist.denies("/plugins/a.jar") and not denylist.denies("/plugins/allowed.jar")
    assert denylist.denies("/root-only.txt") and not denylist.denies("/sub/root-only.txt")
    assert not denylist.denies("/SECRET.CFG")  # another file: names are case-sensitive, as on disk
    assert not denylist.denies("/") and not Denylist([]) and not Denylist(["", "  ", "!"])
    # A newline in a name is matched by wildcards like any other character, at any depth.
    for path in ("/a\nb/config/x", "/x\n/secret.cfg", "/q\n.jar", "/a\n/b\n/c.jar", "/x\ny/evil.jar"):
        assert denylist.denies(path), path
    assert not denylist.denies("/a\nb/allowed.jar") and not denylist.denies("/secret.cfg\n")
    assert Denylist(["a?b", "x/**/y"]).denies("/a\nb") and Denylist(["x/**/y"]).denies("/x/\n/y")
    assert Denylist(["x?y/"]).denies("/x\ny", directory=True) and not Denylist(["ab"]).denies("/a\nb")


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ("server.jar", "must be a list of patterns"),
        (["ok", 3], "must be a list of patterns"),
        (["a\nb"], "is not a pattern: one line"),
        (["!"], "is not a gitignore pattern"),
    ],
)
def test_a_bad_denylist_is_refused_at_save(patterns, message):
    with pytest.raises(ValidationError, match=message):
        validate_file_denylist(patterns)


@pytest.mark.django_db
def test_customers_cannot_reach_protected_files_through_the_api(
    files_server, client_for, customer, signed_in, admin, settings
):
    server = files_server()
    planted(server)
    api = client_for(customer)

    def refused(answer):
        assert answer.status_code == 403, answer.content
        message = answer.json()["message"]
        assert PROTECTED in message and "*.jar" not in message  # the effect, never the patterns
        return message

    # Reading, however the path is written or linked.
    for path in (
        "/secret.cfg",
        "secret.cfg",
        "//secret.cfg",
        "/./secret.cfg",
        "/secret.cfg/",
        "/sub/../secret.cfg",
    ):
        answer = api.get(url(server, "/content"), {"path": path})
        if ".." in path:
            assert answer.status_code == 400  # refused as a path before anything else
        else:
            assert "/secret.cfg is" in refused(answer), path
    for path in ("/link", "/abs", "/cfgdir/secret.yml", "/config/secret.yml", "/root-only.txt"):
        refused(api.get(url(server, "/content"), {"path": path}))
    assert api.get(url(server, "/content"), {"path": "/SECRET.CFG"}).status_code == 404
    assert (
        api.get(url(server, "/content"), {"path": "/sub/root-only.txt"}).json()["data"]["content"] == "free r"
    )
    refused(api.get(url(server, "/download"), {"path": "/plugins/a.jar"}))
    assert api.get(url(server, "/download"), {"path": "/plugins/allowed.jar"}).status_code == 200

    # Listing: into a protected directory (or a link to one) no; the names beside it stay visible.
    refused(api.get(url(server), {"path": "/config"}))
    refused(api.get(url(server), {"path": "/cfgdir/"}))
    assert "secret.cfg" in {e["name"] for e in api.get(url(server), {"path": "/"}).json()["data"]}

    # Writing, creating, uploading: onto a protected name, through a link, into a protected directory.
    put = api.put(url(server, "/content") + "?path=/secret.cfg", {"content": "mine"}, format="json")
    refused(put)
    refused(api.post(url(server, "/create"), {"path": "/config/new.yml", "content": "x"}, format="json"))
    refused(api.post(url(server, "/create"), {"path": "/x/b.jar", "content": "x"}, format="json"))
    refused(api.post(url(server, "/create"), {"path": "/config/sub", "isDirectory": True}, format="json"))
    answer = upload(server, customer, [("path", "/"), ("file", ("secret.cfg", b"uploaded"))])
    assert answer.status == 403 and PROTECTED in answer.json()["message"]
    answer = upload(server, customer, [("path", "/cfgdir"), ("file", ("new.yml", b"uploaded"))])
    assert answer.status == 403
    assert not os.path.exists(host(server, "/config/new.yml"))

    # Renaming away, onto, a directory holding one, a directory onto a protected one; copying.
    for source, target in [
        ("/secret.cfg", "/mine.txt"),
        ("/free.txt", "/secret.cfg"),
        ("/free.txt", "/cfgdir/free.txt"),
        ("/config", "/config2"),
        ("/world", "/config"),
        ("/plugins", "/p2"),
    ]:
        refused(api.post(url(server, "/rename"), {"from": source, "to": target}, format="json"))
        refused(api.post(url(server, "/copy"), {"from": source, "to": target}, format="json"))
    assert not os.path.exists(host(server, "/p2")) and not os.path.exists(host(server, "/config2"))
    assert api.post(url(server, "/rename"), {"from": "/world", "to": "/w2"}, format="json").status_code == 200

    # Deleting it, or a directory holding it (nothing goes: not even what was not protected).
    refused(api.delete(url(server) + "?path=/secret.cfg"))
    assert "/plugins/a.jar" in refused(api.delete(url(server) + "?path=/plugins"))
    assert read_host(server, "/plugins/allowed.jar") == b"ok"
    refused(api.post(url(server, "/chmod"), {"path": "/secret.cfg", "mode": "600"}, format="json"))
    assert api.delete(url(server) + "?path=/link").status_code == 200  # the link itself: not protected
    assert read_host(server, "/secret.cfg") == b"s1" and read_host(server, "/config/secret.yml") == b"s2"

    # Archives leave protected files out, and extraction never lands on one.
    job, archive = compress(server, customer, ["/"], "all.tar.gz")
    assert job.status == job.Status.SUCCEEDED, job.error
    with tarfile.open(fileobj=io.BytesIO(read_host(server, archive))) as tar:
        names = set(tar.getnames())
    assert {"free.txt", "plugins/allowed.jar", "sub/root-only.txt", "w2/level.dat"} <= names
    assert not names & {"secret.cfg", "config", "config/secret.yml", "plugins/a.jar", "root-only.txt"}
    evil = tar_bytes(
        [("secret.cfg", b"evil"), ("config/x.yml", b"evil"), ("p/b.jar", b"evil"), ("ok.txt", b"ok")]
    )
    with open(host(server, "/evil.tar"), "wb") as handle:
        handle.write(evil)
    job = decompress(server, customer, "/evil.tar", "/")
    assert job.status == job.Status.SUCCEEDED, job.error
    assert read_host(server, "/secret.cfg") == b"s1" and read_host(server, "/ok.txt") == b"ok"
    assert not os.path.exists(host(server, "/config/x.yml")) and not os.path.exists(host(server, "/p/b.jar"))
    assert any(PROTECTED in note for note in job.detail["skipped"])

    # A download from a URL onto a protected name is refused before anything is fetched.
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    answer = api.post(
        url(server, "/pull"), {"url": "http://127.0.0.1:9/a.jar", "path": "/cfgdir"}, format="json"
    )
    refused(answer)

    # Staff's admin view is not bound.
    listing = signed_in(admin).get(f"/admin/servers/server/{server.pk}/files/?path=/config")
    assert [entry["name"] for entry in listing.context["entries"]] == ["secret.yml"]


@pytest.mark.django_db
def test_on_the_ssh_node_too(files_server, client_for, customer):
    server = files_server(2, "ssh")
    planted(server)
    api = client_for(customer)
    for path in ("/secret.cfg", "/abs", "/cfgdir/secret.yml"):
        assert api.get(url(server, "/content"), {"path": path}).status_code == 403, path
    answer = api.post(url(server, "/rename"), {"from": "/free.txt", "to": "/cfgdir/x"}, format="json")
    assert answer.status_code == 403
    assert api.get(url(server, "/content"), {"path": "/free.txt"}).json()["data"]["content"] == "free"


def chained(server, files, mount: str, target: str, name: str, links: int = 35) -> None:
    """`name` -> … -> `target` through `links` symlinks: more than sftp-server's realpath follows (32),
    fewer than the kernel's 40, so every operation still reaches the target."""
    previous = target
    for i in range(1, links):
        files.symlink(previous, f"{mount}/{name}{i}")
        previous = f"{name}{i}"
    files.symlink(previous, f"{mount}/{name}")


def escapes_planted(files_server):
    """A server whose protected files are reached by 35-link chains (to a file, to a directory), with a
    directory named with a newline holding a jar, and /data holding a protected file."""
    server = files_server()
    planted(server)
    server.template.file_denylist = [*DENYLIST, "/data/secret.txt"]
    server.template.save(update_fields=["file_denylist"])
    mount = helper_for(server).mount
    with session(server, denylist=False) as files:
        chained(server, files, mount, "secret.cfg", "chain")
        chained(server, files, mount, "config", "dirchain")
        files.mkdir(f"{mount}/x\ny")
        files.write(f"{mount}/x\ny/evil.jar", [b"evil"])
        files.mkdir(f"{mount}/data")
        files.write(f"{mount}/data/secret.txt", [b"s3"])
    return server, mount


@pytest.mark.django_db
def test_long_link_chains_and_newlines_in_names_are_refused_too(files_server, client_for, customer):
    server, _ = escapes_planted(files_server)
    api = client_for(customer)
    for path in ("/chain", "/dirchain/secret.yml", "/x\ny/evil.jar"):
        answer = api.get(url(server, "/content"), {"path": path})
        assert answer.status_code == 403, (path, answer.content)
    put = api.put(url(server, "/content") + "?path=/dirchain/secret.yml", {"content": "mine"}, format="json")
    assert put.status_code == 403, put.content
    create = {"path": "/dirchain/new.yml", "content": "x"}
    assert api.post(url(server, "/create"), create, format="json").status_code == 403
    assert api.get(url(server), {"path": "/dirchain"}).status_code == 403
    chmod = {"path": "/dirchain/secret.yml", "mode": "666"}
    assert api.post(url(server, "/chmod"), chmod, format="json").status_code == 403
    assert read_host(server, "/secret.cfg") == b"s1" and not os.path.exists(host(server, "/config/new.yml"))
    beside = api.get(url(server, "/content"), {"path": "/x\ny/free.txt"})
    assert beside.status_code == 404  # not protected: only missing

    # A directory the check cannot list is not moved (nor deleted) unchecked, as over SFTP.
    assert api.post(url(server, "/chmod"), {"path": "/data", "mode": "000"}, format="json").status_code == 200
    answer = api.post(url(server, "/rename"), {"from": "/data", "to": "/d2"}, format="json")
    assert answer.status_code in (403, 409), answer.content
    assert api.delete(url(server) + "?path=/data").status_code in (403, 409)
    assert api.post(url(server, "/chmod"), {"path": "/data", "mode": "755"}, format="json").status_code == 200
    assert read_host(server, "/data/secret.txt") == b"s3" and not os.path.exists(host(server, "/d2"))
