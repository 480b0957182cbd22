"""Hostile archives, on the local and the SSH node: entries that point outside (`..`, absolute),
links (symbolic and hard) with entries written through them, devices and fifos, an archive that plants
a link for a second one, a decompression bomb, too many entries and the disk limit. Each time the host
is checked: nothing outside the server's directory changed, nothing partial is left inside it."""

import io
import os
import tarfile
import uuid

import pytest

from servers.files.helper import helper_for, session
from servers.models import Job
from tests.servers.files.test_archives_support import (
    ENGINES,
    compress,
    decompress,
    digest,
    escaped,
    host_tree,
    link_info,
    put,
    special_info,
    tar_bytes,
    tar_gz_of_zeros,
    tar_zst_of_zeros,
    zip_bytes,
)

HOSTILE_NAMES = ["../{}", "/etc/{}", "a/../../{}", "./../{}", "a/../../../../../../{}"]


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_an_entry_pointing_outside_fails_the_whole_extraction_and_leaves_nothing(
    files_server, customer, engine, via
):
    server = files_server(engine, via)
    token = f"escaped-{uuid.uuid4().hex}"
    archives = {}
    for i, pattern in enumerate(HOSTILE_NAMES):
        entries = [("good/first.txt", b"kept? no"), (pattern.format(token), b"escaped")]
        archives[f"/t{i}.tar.gz"] = tar_bytes(entries, compression="gz")
        if i < 3:
            archives[f"/z{i}.zip"] = zip_bytes(entries)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        tar.addfile(tarfile.TarInfo("caf\xe9.txt"))  # a latin-1 name: not UTF-8
    put(server, **archives, **{"/latin1.tar": raw.getvalue()})
    before = host_tree(server)
    passwd = digest("/etc/passwd")

    for path in archives:
        job = decompress(server, customer, path, "/out")
        assert job.status == Job.Status.FAILED, path
        assert "nothing was extracted" in job.error and ("'..'" in job.error or "absolute" in job.error)
        assert job.detail["errorStatus"] == 400
    latin1 = decompress(server, customer, "/latin1.tar", "/out")
    assert latin1.status == Job.Status.FAILED and "not a UTF-8 name" in latin1.error

    assert host_tree(server) == before  # no /out, no good/first.txt, no staging directory
    assert escaped(server, token) == [] and digest("/etc/passwd") == passwd


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_links_devices_and_fifos_are_skipped_and_entries_written_through_a_link_stay_inside(
    files_server, customer, engine, via, tmp_path
):
    server = files_server(engine, via)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(tmp_path, 0o777)  # noqa: S103 - writable by anyone: an escape would succeed here
    os.chmod(outside, 0o777)  # noqa: S103
    passwd = digest("/etc/passwd")
    put(
        server,
        "/evil.tar",
        tar_bytes(
            [
                link_info("evil", "/etc"),
                ("evil/passwd", b"root::0:0::/:/bin/sh\n"),
                link_info("out", str(outside)),
                ("out/planted", b"escaped"),
                link_info("hard", "/etc/passwd", hard=True),
                special_info("null", tarfile.CHRTYPE),
                special_info("disk", tarfile.BLKTYPE),
                special_info("pipe", tarfile.FIFOTYPE),
                ("plain.txt", b"plain"),
            ]
        ),
    )
    put(server, "/evil.zip", zip_bytes([("zipped.txt", b"z")], symlinks={"ziplink": "/etc/passwd"}))

    job = decompress(server, customer, "/evil.tar", "/x")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.detail["skippedCount"] == 6
    assert any("evil (a symbolic link" in line for line in job.detail["skipped"])
    assert any("hard (a hard link" in line for line in job.detail["skipped"])
    zipped = decompress(server, customer, "/evil.zip", "/x")
    assert zipped.status == Job.Status.SUCCEEDED, zipped.error
    assert zipped.detail["skipped"] == ["ziplink (a symbolic link: not extracted)"]

    tree = host_tree(server)
    assert tree["x/evil"] == "dir" and tree["x/evil/passwd"] == b"root::0:0::/:/bin/sh\n"
    assert tree["x/out"] == "dir" and tree["x/out/planted"] == b"escaped"
    assert tree["x/plain.txt"] == b"plain" and tree["x/zipped.txt"] == b"z"
    assert not [path for path, what in tree.items() if isinstance(what, tuple)], "a link was planted"
    for name in ("hard", "null", "disk", "pipe", "ziplink"):
        assert f"x/{name}" not in tree
    assert digest("/etc/passwd") == passwd and os.listdir(outside) == []


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_an_archive_cannot_plant_a_link_that_a_second_archive_writes_through(
    files_server, customer, engine, via, tmp_path
):
    server = files_server(engine, via)
    os.chmod(tmp_path, 0o777)  # noqa: S103
    put(server, "/first.tar.gz", tar_bytes([link_info("data", str(tmp_path))], compression="gz"))
    put(server, "/second.zip", zip_bytes([("data/planted", b"escaped")]))

    first = decompress(server, customer, "/first.tar.gz", "/")
    second = decompress(server, customer, "/second.zip", "/")

    assert first.status == second.status == Job.Status.SUCCEEDED
    tree = host_tree(server)
    assert tree["data"] == "dir" and tree["data/planted"] == b"escaped"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_link_already_in_the_target_is_never_written_through(files_server, customer, engine, via, tmp_path):
    """The game (the customer) may plant links; extracting onto one fails before anything moves."""
    server = files_server(engine, via)
    os.chmod(tmp_path, 0o777)  # noqa: S103
    put(server, "/a.tar", tar_bytes([("fine.txt", b"1"), ("data/planted", b"escaped")]))
    with session(server) as files:
        files.symlink(str(tmp_path), f"{helper_for(server).mount}/data")
    before = host_tree(server)

    job = decompress(server, customer, "/a.tar", "/")

    assert job.status == Job.Status.FAILED and "/data is a symbolic link" in job.error
    assert host_tree(server) == before  # not even fine.txt: conflicts are found before anything moves
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_decompression_bomb_is_stopped_while_streaming_and_leaves_nothing(
    files_server, customer, engine, via, settings
):
    server = files_server(engine, via)
    settings.FILES_EXTRACT_MAX_RATIO = 50
    put(server, "/bomb.tar.gz", tar_gz_of_zeros("zeros.bin", 64 * 1024 * 1024))  # ~64 KB
    put(server, "/bomb.tar.zst", tar_zst_of_zeros("zeros.bin", 1024**3))  # 1 GB in a few KB
    # An entry of a type we skip, its gigabyte of data never written: the stream itself is capped.
    put(server, "/hidden.tar.zst", tar_zst_of_zeros("odd", 1024**3, kind=b"Z"))
    before = host_tree(server)

    for path in ("/bomb.tar.gz", "/bomb.tar.zst", "/hidden.tar.zst"):
        job = decompress(server, customer, path, "/out")
        assert job.status == Job.Status.FAILED, path
        assert "decompression bomb" in job.error and "FILES_EXTRACT_MAX_RATIO" in job.error, job.error

    assert host_tree(server) == before


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_too_many_entries_and_the_byte_limit_stop_an_extraction(
    files_server, customer, engine, via, settings
):
    server = files_server(engine, via)
    settings.FILES_EXTRACT_MAX_ENTRIES = 10
    settings.FILES_EXTRACT_MAX_BYTES = 64 * 1024
    many = [(f"d/{i}.txt", b"x") for i in range(11)]
    put(server, "/many.tar.gz", tar_bytes(many, compression="gz"))
    put(server, "/many.zip", zip_bytes(many))
    put(server, "/big.zip", zip_bytes([("big.bin", os.urandom(100 * 1024))]))
    before = host_tree(server)

    for path in ("/many.tar.gz", "/many.zip"):
        job = decompress(server, customer, path, "/d")
        assert job.status == Job.Status.FAILED and "FILES_EXTRACT_MAX_ENTRIES" in job.error
    big = decompress(server, customer, "/big.zip", "/d")
    assert big.status == Job.Status.FAILED and "FILES_EXTRACT_MAX_BYTES" in big.error

    assert host_tree(server) == before


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_over_the_disk_limit_nothing_is_left_half_written(files_server, customer, engine, via, settings):
    server = files_server(engine, via)
    server.allocated_disk_mb = 8
    server.save(update_fields=["allocated_disk_mb"])
    settings.FILES_EXTRACT_MAX_RATIO = 10**7
    put(server, "/zeros.tar.zst", tar_zst_of_zeros("zeros.bin", 12 * 1024 * 1024))
    put(server, "/random.bin", os.urandom(5 * 1024 * 1024))
    before = host_tree(server)

    extracted = decompress(server, customer, "/zeros.tar.zst", "/out")
    packed, _ = compress(server, customer, ["/random.bin"], "random.zip")

    for job in (extracted, packed):
        assert job.status == Job.Status.FAILED
        assert "disk limit of 8 MB" in job.error and job.detail["errorStatus"] == 400
    assert host_tree(server) == before  # no /out, no random.zip, no temporary file
