"""Compress and decompress: round trips through tar.gz and zip, the four formats we extract, the
requests' refusals, and the API (waiting for the job, or answering 202 while it goes on)."""

import io
import os
import tarfile
import tracemalloc

import pytest

from config.errors import IllegalTransition, InvalidInput, NotFound
from servers import runtime
from servers.files.archives import archive_compress, archive_decompress
from servers.files.archives_jobs import archive_decompress_execute
from servers.files.helper import helper_for, session
from servers.models import Job, Server, ServerMember
from servers.selectors import console_history
from tests.servers.files.test_archives_support import (
    compress,
    decompress,
    host_tree,
    put,
    tar_bytes,
    zip_bytes,
)

TREE = {
    "/world/level.dat": os.urandom(300 * 1024),
    "/world/region/r.0.0.mca": b"region" * 1000,
    "/world/empty/.keep": b"",
    "/plugins/a.jar": b"jar",
    "/server.properties": b"motd=hi\n",
}


def under(tree: dict, prefix: str) -> dict:
    return {path[len(prefix) + 1 :]: what for path, what in tree.items() if path.startswith(f"{prefix}/")}


@pytest.mark.parametrize(
    ("engine", "via", "name"),
    [(1, "unix", "backup.tar.gz"), (1, "unix", "backup.zip"), (2, "ssh", "backup.zip")],
)
def test_a_round_trip_keeps_every_file_and_directory(files_server, customer, engine, via, name):
    server = files_server(engine, via)
    put(server, **TREE)
    with session(server) as files:
        files.symlink("server.properties", f"{helper_for(server).mount}/world/props")

    job, archive_path = compress(server, customer, ["/world", "/plugins", "/server.properties"], name)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert archive_path == f"/{name}"
    assert job.detail["bytesDone"] == job.detail["bytesTotal"] == sum(map(len, TREE.values()))
    extracted = decompress(server, customer, archive_path, "/restored")
    assert extracted.status == Job.Status.SUCCEEDED, extracted.error
    tree = host_tree(server)
    restored = under(tree, "restored")
    original = {k: v for k, v in tree.items() if not k.startswith(("restored", "backup"))}
    if name.endswith(".zip"):  # zip holds no symlinks: skipped, and said so
        assert "Skipped world/props (a symbolic link" in job.log
        del original["world/props"]
    else:  # tar.gz keeps it; extraction never makes links
        assert any("world/props (a symbolic link" in line for line in extracted.detail["skipped"])
        del original["world/props"]
    assert restored == original
    assert any(line["data"].startswith("Compressing: ") for line in console_history(server.pk))


def test_an_archive_of_the_root_never_holds_itself_or_temporary_files(files_server, customer):
    server = files_server()
    put(server, **{"/a.txt": b"a", "/d/b.txt": b"b", "/.hearth-123.part": b"partial"})

    job, archive_path = compress(server, customer, ["/"], "all.tar.gz", directory="/d")

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert archive_path == "/d/all.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(host_tree(server)["d/all.tar.gz"])) as tar:
        assert sorted(tar.getnames()) == ["a.txt", "d", "d/b.txt"]


FORMATS = {
    "a.tar": tar_bytes([("x/y.txt", b"tar")]),
    "a.tar.gz": tar_bytes([("x/y.txt", b"tar.gz")], compression="gz"),
    "a.tar.zst": tar_bytes([("x/y.txt", b"tar.zst")], compression="zst"),
    "a.zip": zip_bytes([("x/y.txt", b"zip")]),
    "misnamed.bin": tar_bytes([("x/y.txt", b"told by its content")], compression="zst"),
}


def test_each_format_is_extracted_told_by_its_content(files_server, customer):
    server = files_server()
    put(server, **{f"/{name}": data for name, data in FORMATS.items()})

    for name in FORMATS:
        job = decompress(server, customer, f"/{name}", f"/{name}.d")
        assert job.status == Job.Status.SUCCEEDED, (name, job.error)
        assert job.detail["format"] == {"misnamed.bin": "tar.zst"}.get(name, name.split(".", 1)[1])
        expected = {"misnamed.bin": b"told by its content"}.get(name, name.split(".", 1)[1].encode())
        assert host_tree(server)[f"{name}.d/x/y.txt"] == expected

    archive_decompress_execute(job_id=job.pk)  # a second delivery finds the job claimed: nothing twice
    assert Job.objects.get(pk=job.pk).finished_at == job.finished_at


def test_extracting_into_an_existing_directory_merges_and_replaces_files(files_server, customer):
    server = files_server(2, "ssh")
    put(server, **{"/t/keep.txt": b"mine", "/t/same.txt": b"old", "/t/sub/old.txt": b"o"})
    put(server, "/u.zip", zip_bytes([("same.txt", b"new"), ("sub/new.txt", b"n"), ("fresh/f.txt", b"f")]))

    job = decompress(server, customer, "/u.zip", "/t")

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert under(host_tree(server), "t") == {
        "keep.txt": b"mine",
        "same.txt": b"new",
        "sub": "dir",
        "sub/old.txt": b"o",
        "sub/new.txt": b"n",
        "fresh": "dir",
        "fresh/f.txt": b"f",
    }


def test_a_file_where_the_archive_has_a_directory_fails_before_anything_moves(files_server, customer):
    server = files_server()
    put(server, **{"/t/sub": b"a file", "/a.tar": tar_bytes([("z.txt", b"1"), ("sub/x.txt", b"2")])})
    before = host_tree(server)

    job = decompress(server, customer, "/a.tar", "/t")

    assert job.status == Job.Status.FAILED and "/t/sub is a file" in job.error
    assert host_tree(server) == before


def test_the_requests_refuse_at_once(files_server, customer):
    server = files_server()
    put(
        server,
        **{"/notes.txt": b"not an archive", "/gz.bin": b"\x1f\x8b" + b"junk" * 10, "/a.zip": zip_bytes([])},
    )

    refusals = [
        (NotFound, "/nope does not exist", lambda: archive_decompress(**r(server, customer), archive_path="/nope", target_path="/")),
        (InvalidInput, "not an archive", lambda: archive_decompress(**r(server, customer), archive_path="/notes.txt", target_path="/")),
        (InvalidInput, "not an archive", lambda: archive_decompress(**r(server, customer), archive_path="/gz.bin", target_path="/")),
        (InvalidInput, "is a file, not a directory", lambda: archive_decompress(**r(server, customer), archive_path="/a.zip", target_path="/notes.txt")),
        (InvalidInput, "'..'", lambda: archive_decompress(**r(server, customer), archive_path="/../a.zip", target_path="/")),
        (NotFound, "/gone does not exist", lambda: archive_compress(**r(server, customer), paths=["/gone"], archive_name="a.zip")),
        (InvalidInput, "must end with .tar.gz", lambda: archive_compress(**r(server, customer), paths=["/notes.txt"], archive_name="a.rar")),
        (InvalidInput, "format must be one of", lambda: archive_compress(**r(server, customer), paths=["/notes.txt"], archive_name="a", format="rar")),
        (InvalidInput, "single file name", lambda: archive_compress(**r(server, customer), paths=["/notes.txt"], archive_name="d/a.zip")),
        (InvalidInput, "non-empty list", lambda: archive_compress(**r(server, customer), paths=[], archive_name="a.zip")),
        (IllegalTransition, "/a.zip already exists", lambda: archive_compress(**r(server, customer), paths=["/notes.txt"], archive_name="a.zip")),
    ]  # fmt: skip
    for error, words, request in refusals:
        with pytest.raises(error) as refused:
            request()
        assert words in refused.value.message, words
    assert not Job.objects.filter(server=server).exists()


def r(server, actor) -> dict:
    return {"server": server, "actor": actor}


# ---- the API ------------------------------------------------------------------------------------------


def url(server, what: str) -> str:
    return f"/api/servers/{server.pk}/files/{what}"


def test_compress_answers_with_the_archive_once_written_and_decompress_when_extracted(
    transactional_db, files_server, customer, client_for
):
    server = files_server()
    put(server, **{"/world/a.txt": b"a", "/world/b/c.txt": b"c"})
    api = client_for(customer)

    packed = api.post(url(server, "compress"), {"paths": ["/world"], "archiveName": "w.zip"}, format="json")
    assert packed.status_code == 200, packed.content
    assert packed.json()["archivePath"] == "/w.zip" and packed.json()["jobId"]

    unpacked = api.post(
        url(server, "decompress"), {"archivePath": "/w.zip", "targetPath": "/copy"}, format="json"
    )
    assert unpacked.status_code == 200, unpacked.content
    assert under(host_tree(server), "copy") == {
        "world": "dir",
        "world/a.txt": b"a",
        "world/b": "dir",
        "world/b/c.txt": b"c",
    }
    from accounts.models import AuditLog

    actions = set(AuditLog.objects.filter(user=customer).values_list("action", flat=True))
    assert {"file.compress", "file.decompress"} <= actions


def test_a_failed_job_answers_with_its_error_and_a_long_one_with_202(
    transactional_db, files_server, customer, client_for, monkeypatch
):
    from servers.api import files_archive_views

    server = files_server()
    put(server, "/evil.tar", tar_bytes([("../x", b"x")]))
    api = client_for(customer)

    failed = api.post(
        url(server, "decompress"), {"archivePath": "/evil.tar", "targetPath": "/"}, format="json"
    )
    assert failed.status_code == 400 and "'..'" in failed.json()["message"] and failed.json()["jobId"]

    monkeypatch.setattr(files_archive_views, "WAIT_SECONDS", 0)
    monkeypatch.setattr("servers.files.archives.queue", lambda *args, **kwargs: None)  # a busy worker
    started = api.post(
        url(server, "compress"), {"paths": ["/evil.tar"], "archiveName": "e.tar.gz"}, format="json"
    )
    assert started.status_code == 202, started.content
    assert started.json()["archivePath"] == "/e.tar.gz"
    assert Job.objects.get(pk=started.json()["jobId"]).status == Job.Status.PENDING


def test_who_may_compress_and_decompress(files_server, customer, stranger, make_user, client_for):
    server = files_server()
    reader = make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["file.read"])
    body = {"paths": ["/x"], "archiveName": "x.zip"}

    assert client_for(stranger).post(url(server, "compress"), body, format="json").status_code == 404
    refused = client_for(reader).post(url(server, "compress"), body, format="json")
    assert refused.status_code == 403 and "file.write" in refused.json()["message"]
    assert (
        client_for(reader)
        .post(url(server, "decompress"), {"archivePath": "/x", "targetPath": "/"}, format="json")
        .status_code
        == 403
    )
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    for what in ("compress", "decompress"):
        assert client_for(customer).post(url(server, what), {}, format="json").status_code == 423
    Server.objects.filter(pk=server.pk).update(status=Server.Status.INSTALLING)
    for what in ("compress", "decompress"):
        assert client_for(customer).post(url(server, what), {}, format="json").status_code == 409
    Server.objects.filter(pk=server.pk).update(status=Server.Status.STOPPED)
    missing = client_for(customer).post(
        url(server, "decompress"), {"archivePath": "/nope.zip", "targetPath": "/"}, format="json"
    )
    assert missing.status_code == 404
    unknown = client_for(customer).post(url(server, "compress"), {**body, "format": "rar"}, format="json")
    assert unknown.status_code == 400 and "format" in unknown.json()["fields"]


def test_an_unreachable_node_answers_503(files_server, customer, client_for):
    server = files_server(2, "ssh")
    server.node.docker_url = "ssh://hearth@127.0.0.1:1"  # nothing listens there
    server.node.save(update_fields=["docker_url"])
    api = client_for(customer)

    for what, body in (
        ("compress", {"paths": ["/x"], "archiveName": "x.zip"}),
        ("decompress", {"archivePath": "/x.zip", "targetPath": "/"}),
    ):
        response = api.post(url(server, what), body, format="json")
        assert response.status_code == 503 and "unreachable" in response.json()["message"]
    assert not Job.objects.filter(server=server).exists()


def test_neither_a_file_nor_an_archive_is_held_whole_in_memory(files_server, customer):
    """32 MB through compress and decompress; the panel's Python allocations stay a fraction of it."""
    server = files_server()
    size, block = 32 * 1024 * 1024, os.urandom(1024 * 1024)
    with session(server) as files:
        files.write(f"{helper_for(server).mount}/big.bin", (block for _ in range(size // len(block))))

    tracemalloc.start()
    try:
        packed, _ = compress(server, customer, ["/big.bin"], "big.zip")
        _, compress_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        unpacked = decompress(server, customer, "/big.zip", "/out")
        _, decompress_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert packed.status == unpacked.status == Job.Status.SUCCEEDED, (packed.error, unpacked.error)
    assert os.path.getsize(os.path.join(runtime.server_dir(server), "out", "big.bin")) == size
    assert compress_peak < 8 * 1024 * 1024, compress_peak
    assert decompress_peak < 8 * 1024 * 1024, decompress_peak


@pytest.mark.real_worker  # through the broker to a worker, as in production: the endpoint waits for it
def test_on_a_real_worker_compress_answers_once_the_archive_is_written(
    transactional_db, files_server, customer, client_for
):
    server = files_server(2, "ssh")
    put(server, "/w/a.txt", b"a")

    response = client_for(customer).post(
        url(server, "compress"), {"paths": ["/w"], "archiveName": "w.tar.gz"}, format="json"
    )

    assert response.status_code == 200, response.content
    with tarfile.open(fileobj=io.BytesIO(host_tree(server)["w.tar.gz"])) as tar:
        assert tar.getnames() == ["w", "w/a.txt"]
