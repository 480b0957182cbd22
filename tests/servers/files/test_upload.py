"""POST /api/servers/<id>/files/upload: streamed to the node (through the ASGI route that shadows
Django's body read, and through the plain view), capped, metered against the disk limit, leaving
nothing behind when refused, on the local and the SSH node."""

import os

import pytest

from accounts.models import AuditLog
from servers.files.helper import session
from servers.models import Server, ServerMember
from tests.servers.files.transfer_client import asgi, bearer, multipart

NODES = [pytest.param(1, "unix", id="local"), pytest.param(2, "ssh", id="ssh")]
MB = 1024 * 1024


def url(server) -> str:
    return f"/api/servers/{server.pk}/files/upload"


def names_in(server, directory: str = "/") -> set[str]:
    mount = server.template.data_path
    with session(server) as files:
        return {e.name for e in files.list(mount + directory.rstrip("/"))}


def make_dir(server, directory: str) -> None:
    with session(server) as files:
        files.mkdir(server.template.data_path + directory)


def read_back(server, path: str) -> bytes:
    with session(server) as files:
        return b"".join(files.read(server.template.data_path + path))


def upload(server, user, fields, *, chunk: int = 64 * 1024, length: bool = True, headers=()):
    body, content_type = multipart(fields)
    sent = [(b"content-type", content_type.encode()), *bearer(user), *headers]
    if length:
        sent.append((b"content-length", str(len(body)).encode()))
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    return asgi("POST", url(server), headers=sent, chunks=chunks)


@pytest.mark.parametrize(("engine", "via"), NODES)
def test_it_streams_several_files_into_a_directory(files_server, customer, engine, via):
    server = files_server(engine, via)
    make_dir(server, "/plugins")
    one, two = os.urandom(3 * MB + 17), b"motd=hello\n"
    answer = upload(
        server, customer, [("path", "/plugins"), ("file", ("a.jar", one)), ("file", ("b.txt", two))]
    )
    assert answer.status == 200, answer.body
    assert answer.json() == {
        "success": True,
        "message": "File uploaded successfully",
        "files": ["/plugins/a.jar", "/plugins/b.txt"],
    }
    assert read_back(server, "/plugins/a.jar") == one
    assert read_back(server, "/plugins/b.txt") == two
    assert names_in(server, "/plugins") == {"a.jar", "b.txt"}  # no temporary file left
    logged = AuditLog.objects.filter(action="file.upload", resource_id=str(server.pk))
    assert sorted(row.metadata["path"] for row in logged) == ["/plugins/a.jar", "/plugins/b.txt"]
    assert {row.user for row in logged} == {customer}


def test_the_plain_view_streams_too_and_replaces_a_file(files_server, customer, client_for):
    server = files_server()
    client = client_for(customer)
    for content in (b"first", b"second"):
        body, content_type = multipart([("file", ("notes.txt", content))])
        answer = client.generic("POST", url(server), body, content_type=content_type)
        assert answer.status_code == 200, answer.content
    assert read_back(server, "/notes.txt") == b"second"


def test_a_path_after_the_files_is_refused(files_server, customer):
    server = files_server()
    answer = upload(server, customer, [("file", ("a.txt", b"x")), ("path", "/")])
    assert answer.status == 400
    assert "path field before the files" in answer.json()["message"]


@pytest.mark.parametrize(
    "filename",
    ["../../x", "a/b", "/etc/passwd", "..", "a\\b", "bad\x00name", ""],
)
def test_a_hostile_filename_is_refused(files_server, customer, filename):
    server = files_server()
    answer = upload(server, customer, [("file", (filename, b"evil"))])
    assert answer.status == 400, answer.body
    assert answer.json()["statusCode"] == 400
    assert names_in(server) == set()


def test_a_hostile_directory_is_refused(files_server, customer):
    server = files_server()
    for directory in ("/../..", "/a/../../b"):
        answer = upload(server, customer, [("path", directory), ("file", ("a.txt", b"x"))])
        assert answer.status == 400
    assert names_in(server) == set()


@pytest.mark.parametrize(("engine", "via"), NODES)
def test_over_the_cap_is_413_at_once_or_when_crossed(files_server, customer, settings, engine, via):
    settings.FILES_UPLOAD_MAX_BYTES = 1 * MB
    server = files_server(engine, via)
    fields = [("file", ("world.zip", os.urandom(2 * MB)))]
    told = upload(server, customer, fields)  # Content-Length says so: refused before reading
    assert told.status == 413
    assert "1 MB" in told.json()["message"]
    crossed = upload(server, customer, fields, length=False)  # found out while streaming
    assert crossed.status == 413
    assert "HEARTH_FILES_UPLOAD_MAX_BYTES" in crossed.json()["message"]
    assert names_in(server) == set()  # the temporary file is gone too


@pytest.mark.parametrize(("engine", "via"), NODES)
def test_over_the_disk_limit_leaves_nothing(files_server, customer, engine, via):
    server = files_server(engine, via)
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=1)  # the fixture sets its own
    server.refresh_from_db()
    answer = upload(server, customer, [("file", ("big.bin", os.urandom(2 * MB)))], length=False)
    assert answer.status == 400
    assert "disk limit of 1 MB" in answer.json()["message"]
    assert names_in(server) == set()


def test_refusals(files_server, customer, stranger, make_user):
    server = files_server()
    fields = [("file", ("a.txt", b"x"))]
    assert upload(server, stranger, fields).status == 404
    reader = make_user(email="reader@example.com", username="reader")
    ServerMember.objects.create(server=server, user=reader, permissions=["file.read"])
    forbidden = upload(server, reader, fields)
    assert forbidden.status == 403
    assert "file.write" in forbidden.json()["message"]
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    assert upload(server, customer, fields).status == 423
    Server.objects.filter(pk=server.pk).update(status=Server.Status.INSTALLING)
    assert upload(server, customer, fields).status == 409
    Server.objects.filter(pk=server.pk).update(status=Server.Status.STOPPED)
    missing = upload(server, customer, [("path", "/nowhere"), *fields])
    assert missing.status == 404
    assert "/nowhere" in missing.json()["message"]
    assert names_in(server) == set()


def test_it_needs_credentials_and_a_form(files_server, customer):
    server = files_server()
    anonymous = asgi("POST", url(server), headers=[(b"content-type", b"multipart/form-data; boundary=x")])
    assert anonymous.status == 401
    assert anonymous.json()["statusCode"] == 401
    not_a_form = asgi(
        "POST",
        url(server),
        headers=[(b"content-type", b"application/json"), *bearer(customer)],
        chunks=[b"{}"],
    )
    assert not_a_form.status == 400
    assert "multipart/form-data" in not_a_form.json()["message"]
    no_file = upload(server, customer, [("path", "/")])
    assert no_file.status == 400


def test_too_many_files_or_a_huge_field_are_refused(files_server, customer, settings):
    settings.FILES_UPLOAD_MAX_BYTES = 1 * MB
    server = files_server()
    many = upload(server, customer, [("file", (f"f{i}.txt", b"x")) for i in range(101)])
    assert many.status == 400
    assert "at most 100 files" in many.json()["message"]
    junk = upload(server, customer, [("junk", "x" * (2 * MB)), ("file", ("a.txt", b"x"))], length=False)
    assert junk.status == 413  # every byte of the body counts, not only the files'
    bad_path = upload(server, customer, [("path", b"\xff\xfe"), ("file", ("a.txt", b"x"))])
    assert bad_path.status == 400
    assert "UTF-8" in bad_path.json()["message"]
    assert names_in(server) - {f"f{i}.txt" for i in range(100)} == set()
