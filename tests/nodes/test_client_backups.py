"""The backup door (nodes/client/backups.py) on a local and an SSH node: archives made by a contained
container, checked before a restore, swapped in whole or not at all, and a hostile archive kept inside."""

import gzip
import hashlib
import io
import os
import tarfile

import pytest

from nodes.client import BackupCorrupt, BackupFailed, client_for
from tests.backups.tree import checksums, mixed_files, plant, remove_backup_dirs, target_of

ENGINES = [(1, "unix", "zstd"), (2, "ssh", "gzip")]


@pytest.fixture(autouse=True)
def _cleanup(_no_leftover_containers):
    yield
    remove_backup_dirs()


def _sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.mark.parametrize(("engine", "via", "compression"), ENGINES)
def test_a_backup_restores_every_file_and_leaves_out_the_ignored(files_server, engine, via, compression):
    server = files_server(engine, via)
    files = mixed_files()
    files.update({"logs/latest.log": "noise\n", "cache/x.tmp": "tmp\n", "keep.tmp": "kept? no\n"})
    files[".hearthignore"] = "# comments and blanks are skipped\n\n/logs/\n*.tmp\n!keep.tmp\n"
    files[".pteroignore"] = "egg-cache\r\n"  # an egg's ignore file from Pterodactyl, CRLF and all
    files["egg-cache/blob"] = "left out"
    root = plant(server, files, links={"link-to-etc": "/etc", "relative": "server.properties"})
    client, target = client_for(server.node), target_of(server)
    made = client.backup_write(target, "b1.tar", compression=compression, excludes=["names/-dash.txt"])
    archive = os.path.join(target.backup_dir, "b1.tar")
    assert made.sha256 == _sha256(archive) and made.size_bytes == os.path.getsize(archive)
    assert sorted(os.listdir(target.backup_dir)) == ["b1.tar"]  # no temporary left
    expected = {
        path: value
        for path, value in checksums(root).items()
        if not path.startswith(("logs", "cache/x.tmp", "egg-cache"))
        and path not in ("keep.tmp", "names/-dash.txt")
    }

    os.remove(os.path.join(root, "server.properties"))  # the game changes things after the backup
    with open(os.path.join(root, "world/region/r.1.mca"), "wb") as handle:
        handle.write(b"changed")
    plant(server, {"new/file": "made later"})
    client.backup_restore(target, "b1.tar", compression=compression, sha256=made.sha256)
    assert checksums(root) == expected
    assert not [name for name in os.listdir(root) if name.startswith(".hearth-")]


def test_a_corrupted_archive_is_refused_before_any_file_is_touched(files_server):
    server = files_server()
    root = plant(server, {"a.txt": "original", "d/b.txt": "original"})
    client, target = client_for(server.node), target_of(server)
    made = client.backup_write(target, "b.tar.zst", compression="zstd")
    plant(server, {"a.txt": "since changed"})
    before = checksums(root)
    archive = os.path.join(target.backup_dir, "b.tar.zst")
    with open(archive, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff\xfe")
    with pytest.raises(BackupCorrupt, match="sha256"):
        client.backup_restore(target, "b.tar.zst", compression="zstd", sha256=made.sha256)
    assert checksums(root) == before
    with pytest.raises(BackupCorrupt, match="missing"):
        client.backup_restore(target, "gone.tar.zst", compression="zstd", sha256=made.sha256)
    with pytest.raises(BackupCorrupt):
        client.backup_restore(target, "b.tar.zst", compression="zstd", sha256="")
    assert checksums(root) == before


def _hostile_archive(outside: str) -> bytes:
    """Members that try to leave: absolute, `..`, through a planted link, a hard link to a node file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name, data=b"x", **fields):
            info = tarfile.TarInfo(name)
            for key, value in fields.items():
                setattr(info, key, value)
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)

        add("ok.txt", b"fine")
        add(f"{outside}/absolute", b"abs")
        add(f"../../../../..{outside}/dotdot", b"dotdot")
        add("out", type=tarfile.SYMTYPE, linkname=outside)
        add("out/through-link", b"through")
        add("up", type=tarfile.SYMTYPE, linkname="../..")
        add("up/escaped", b"escaped")
        add("hard", type=tarfile.LNKTYPE, linkname="/etc/passwd")
        add("setuid", b"#!/bin/sh\n", mode=0o4755)
    return buffer.getvalue()


def test_a_hostile_archive_stays_inside_the_server_directory(files_server, tmp_path):
    server = files_server()
    root = plant(server, {"original.txt": "original"})
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(tmp_path, 0o777)  # noqa: S103 - writable by the game's user: only containment stops it
    os.chmod(outside, 0o777)  # noqa: S103
    client, target = client_for(server.node), target_of(server)
    # As if its S3 object were replaced and its recorded checksum forged too: only containment is left.
    made = client.backup_receive(target, "evil.tar.gz", [gzip.compress(_hostile_archive(str(outside)))])
    with pytest.raises(BackupFailed, match="could not be extracted"):
        client.backup_restore(target, "evil.tar.gz", compression="gzip", sha256=made.sha256)
    assert list(outside.iterdir()) == []
    parent = os.path.dirname(root)
    assert not os.path.exists(os.path.join(parent, "escaped"))
    assert not os.path.exists(os.path.join(os.path.dirname(parent), "escaped"))
    assert checksums(root) == {"original.txt": hashlib.sha256(b"original").hexdigest()}
    assert not [name for name in os.listdir(root) if name.startswith(".hearth-")]


def test_a_backup_that_fails_leaves_no_file(files_server):
    server = files_server()
    root = plant(server, {"a.txt": "a", "secret/key": "k"})
    os.chown(os.path.join(root, "secret"), 0, 0)
    os.chmod(os.path.join(root, "secret"), 0o700)  # the game's user cannot read it: tar fails
    client, target = client_for(server.node), target_of(server)
    with pytest.raises(BackupFailed, match="tar failed"):
        client.backup_write(target, "b.tar.zst", compression="zstd")
    assert os.listdir(target.backup_dir) == []
    with pytest.raises(BackupFailed, match="archive name"):
        client.backup_write(target, "../b", compression="zstd")
    with pytest.raises(BackupFailed, match="compression"):
        client.backup_write(target, "b", compression="; rm -rf /")


@pytest.mark.parametrize(("engine", "via"), [(2, "ssh")])
def test_a_streamed_archive_is_received_whole_and_read_back(files_server, engine, via):
    server = files_server(engine, via)
    plant(server, mixed_files())
    client, target = client_for(server.node), target_of(server)
    digest, size = hashlib.sha256(), 0
    stream = client.backup_stream(target, compression="zstd")
    chunks = []
    for chunk in stream:
        digest.update(chunk)
        size += len(chunk)
        chunks.append(chunk)
    with pytest.raises(BackupCorrupt, match="larger than"):  # a replaced, bigger object stops there
        client.backup_receive(target, "copy.tar.zst", iter(chunks), max_bytes=size - 1)
    with pytest.raises(BackupCorrupt, match="sha256"):
        client.backup_receive(target, "copy.tar.zst", iter(chunks), sha256="0" * 64)
    assert os.listdir(target.backup_dir) == []  # neither got its name, nor left a temporary
    made = client.backup_receive(
        target, "copy.tar.zst", iter(chunks), max_bytes=size, sha256=digest.hexdigest()
    )
    assert (made.sha256, made.size_bytes) == (digest.hexdigest(), size)
    assert b"".join(client.backup_read(target, "copy.tar.zst")) == b"".join(chunks)
    client.backup_remove(target, "copy.tar.zst")
    client.backup_remove(target, "copy.tar.zst")  # a missing one is fine
    assert os.listdir(target.backup_dir) == []


def test_a_running_operation_refuses_another_until_stopped(files_server):
    """A killed worker's script goes on in its container: a second operation refuses, stop_operations
    ends it (and removes the temporary archive it was writing); an idle container is only removed."""
    from backups.storage import stop_operations
    from nodes.client.backups import BackupBusy

    server = files_server()
    plant(server, {"a.txt": "a"})
    client, target = client_for(server.node), target_of(server)
    left = client._start_backup_container(target, data="ro", backups="rw")  # as a dead worker's
    client._script(left, target, "sleep 60", [])
    with open(os.path.join(target.backup_dir, ".tmp-0123456789ab-b.tar.zst"), "wb") as handle:
        handle.write(b"half an archive")
    with pytest.raises(BackupBusy, match="still running"):
        client.backup_write(target, "b.tar.zst", compression="zstd")
    assert stop_operations(server) == 1
    assert client.container_state(left) is None and os.listdir(target.backup_dir) == []
    idle = client._start_backup_container(target, data="ro", backups="rw")  # its removal had failed
    client.backup_write(target, "b.tar.zst", compression="zstd")
    assert client.container_state(idle) is None
    assert stop_operations(server) == 0


def test_a_restore_over_the_disk_limit_is_refused_and_holes_stay_holes(files_server):
    """A file of zeros compresses to nothing yet restores to its size: refused past the server's disk
    limit, the originals kept. A sparse file is archived as its data and restored with its holes. The
    panel's own staging names are never archived."""
    import dataclasses

    server = files_server()
    root = plant(
        server, {"zeros.bin": bytes(4 * 1024 * 1024), ".hearth-upload-x/junk": "the panel's temporary"}
    )
    with open(os.path.join(root, "sparse.img"), "wb") as handle:
        handle.truncate(128 * 1024 * 1024)
        handle.write(b"data at the start")
    os.chown(os.path.join(root, "sparse.img"), *(os.stat(root)[4:6]))
    client, target = client_for(server.node), target_of(server)
    made = client.backup_write(target, "b.tar.zst", compression="zstd")
    assert made.size_bytes < 1024 * 1024
    os.remove(os.path.join(root, "zeros.bin"))
    plant(server, {"current.txt": "kept"})
    before = checksums(root)
    tight = dataclasses.replace(target, disk_limit_mb=1)
    with pytest.raises(BackupFailed, match="disk limit of 1 MB"):
        client.backup_restore(tight, "b.tar.zst", compression="zstd", sha256=made.sha256)
    assert checksums(root) == before

    roomy = dataclasses.replace(target, disk_limit_mb=64)
    client.backup_restore(roomy, "b.tar.zst", compression="zstd", sha256=made.sha256)
    sparse = os.stat(os.path.join(root, "sparse.img"))
    assert sparse.st_size == 128 * 1024 * 1024 and sparse.st_blocks * 512 < 1024 * 1024
    assert os.path.getsize(os.path.join(root, "zeros.bin")) == 4 * 1024 * 1024
    assert [name for name in os.listdir(root) if name.startswith(".hearth-")] == [".hearth-upload-x"]


def test_an_ignore_file_that_is_a_link_or_too_big_is_refused(files_server):
    server = files_server()
    root = plant(server, {"a.txt": "a"}, links={".hearthignore": "/dev/zero"})
    client, target = client_for(server.node), target_of(server)
    with pytest.raises(BackupFailed, match="not a regular file"):
        client.backup_write(target, "b.tar.zst", compression="zstd")
    os.remove(os.path.join(root, ".hearthignore"))
    plant(server, {".hearthignore": "".join(f"p{i}\n" for i in range(1001))})
    with pytest.raises(BackupFailed, match="over 1000 patterns"):
        client.backup_write(target, "b.tar.zst", compression="zstd")
    plant(server, {".hearthignore": "x" * 70000})
    with pytest.raises(BackupFailed, match="over 64 KiB"):
        client.backup_write(target, "b.tar.zst", compression="zstd")
    assert os.listdir(target.backup_dir) == []


def test_read_only_directories_restore_and_an_interrupted_swap_is_put_back(files_server):
    """A directory the game made read-only moves both ways; the leftovers of a restore killed midway
    (originals set aside, the archive's entries half placed) are put back, never deleted."""
    from backups.storage import stop_operations

    server = files_server()
    root = plant(server, {"ro/inside.txt": "in a read-only directory", "a.txt": "a"})
    os.chmod(os.path.join(root, "ro"), 0o555)  # noqa: S103 - read-only for its owner
    client, target = client_for(server.node), target_of(server)
    made = client.backup_write(target, "b.tar.zst", compression="zstd")
    expected = checksums(root)
    plant(server, {"later.txt": "made later"})
    client.backup_restore(target, "b.tar.zst", compression="zstd", sha256=made.sha256)
    assert checksums(root) == expected
    assert os.stat(os.path.join(root, "ro")).st_mode & 0o777 == 0o555
    assert not [name for name in os.listdir(root) if name.startswith(".hearth-")]

    # Killed while setting the originals aside: a backup refuses, the recovery puts them back.
    os.mkdir(os.path.join(root, ".hearth-replaced-t1"))
    os.rename(os.path.join(root, "ro"), os.path.join(root, ".hearth-replaced-t1", "ro"))
    plant(server, {".hearth-restore-t1/ro/inside.txt": "the archive's"})
    with pytest.raises(BackupFailed, match="half swapped"):
        client.backup_write(target, "c.tar.zst", compression="zstd")
    client.backup_recover(target)
    assert checksums(root) == expected

    # Killed while placing the archive's entries: they go, the originals come back.
    os.mkdir(os.path.join(root, ".hearth-replaced-t2"))
    for name in ("a.txt", "ro"):
        os.rename(os.path.join(root, name), os.path.join(root, ".hearth-replaced-t2", name))
    plant(server, {".hearth-placing-t2": "", "a.txt": "from the archive", ".hearth-restore-t2/b": "b"})
    assert stop_operations(server) == 0
    assert checksums(root) == expected
