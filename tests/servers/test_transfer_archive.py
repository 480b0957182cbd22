"""The archive a transfer sends is rebuilt by the panel: what a hostile source can put in a tar stream
never reaches the target, the disk limit counts apparent size, and a tree read back gives the same
manifest whatever order or link choice the target's tar makes. Real GNU tar, on real directories."""

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from servers.transfer_archive import ArchiveRefused, ArchiveTooLarge, TreeWalk, differences

MB = 1024 * 1024


def tar_of(root: Path) -> list[bytes]:
    """The chunks `tar -C root -cf - .` writes, as the source node's tar would stream them."""
    out = subprocess.run(["tar", "-C", str(root), "-cf", "-", "."], capture_output=True, check=True).stdout
    return [out[i : i + 65536] for i in range(0, len(out), 65536)]


def crafted(*members: tuple[tarfile.TarInfo, bytes]) -> list[bytes]:
    """A tar stream with exactly these members, as a hostile source could write one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if data else None)
    return [buffer.getvalue()]


def member(name: str, kind=tarfile.REGTYPE, *, linkname: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info


def unpack(chunks, into: Path) -> None:
    into.mkdir()
    subprocess.run(
        ["tar", "-C", str(into), "--no-same-owner", "-xf", "-"], input=b"".join(chunks), check=True
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    (root / "world" / "region").mkdir(parents=True)
    (root / "world" / "region" / "r.0.0.mca").write_bytes(os.urandom(300_000))
    (root / "server.properties").write_text("motd=hi\n")
    (root / "empty.txt").write_bytes(b"")
    os.link(root / "server.properties", root / "world" / "hardlinked.properties")
    (root / "link-to-etc").symlink_to("/etc")
    (root / "name with spaces and \N{SNOWMAN}").write_text("x")
    os.mkfifo(root / "console.pipe")
    return root


def test_a_rebuilt_tree_unpacks_to_the_same_manifest(tree, tmp_path):
    sent = TreeWalk(limit_bytes=64 * MB)
    target = tmp_path / "target"
    unpack(list(sent.rebuilt(tar_of(tree))), target)
    found = TreeWalk().read_all(tar_of(target))
    assert differences(sent.manifest, found) == []
    assert sent.manifest == found
    assert sent.manifest["link-to-etc"] == ("symlink", "/etc")
    assert sent.manifest["world/hardlinked.properties"] == sent.manifest["server.properties"]
    assert sent.skipped == 1  # a FIFO (console.pipe) has no data to move
    assert (target / "world" / "region" / "r.0.0.mca").read_bytes() == (
        tree / "world" / "region" / "r.0.0.mca"
    ).read_bytes()


def test_the_manifest_ignores_which_name_tar_keeps_as_the_hardlink(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    (first / "a").write_text("same")
    os.link(first / "a", first / "b")
    one = TreeWalk().read_all(tar_of(first))
    second = tmp_path / "second"
    second.mkdir()
    (second / "b").write_text("same")
    os.link(second / "b", second / "a")
    assert TreeWalk().read_all(tar_of(second)) == one


def test_a_changed_missing_or_extra_file_is_a_difference(tree, tmp_path):
    sent = TreeWalk()
    target = tmp_path / "target"
    unpack(list(sent.rebuilt(tar_of(tree))), target)
    (target / "server.properties").write_text("motd=hi\n!")  # breaks the hardlinked one too
    (target / "empty.txt").unlink()
    (target / "planted").write_text("x")
    wrong = differences(sent.manifest, TreeWalk().read_all(tar_of(target)))
    assert wrong == [
        "missing: empty.txt",
        "unexpected: planted",
        "different: server.properties, world/hardlinked.properties",
    ]


@pytest.mark.parametrize(
    "members",
    [
        [(member("../escape"), b"x")],
        [(member("/etc/cron.d/evil"), b"x")],
        [(member("world", tarfile.DIRTYPE), b""), (member("world/../../escape"), b"x")],
        [(member("world//twice"), b"x")],
        [(member("link", tarfile.SYMTYPE, linkname="/etc"), b""), (member("link/passwd"), b"x")],
        [(member("file"), b"x"), (member("file/inside"), b"x")],
        [(member("nodir/file"), b"x")],
        [(member("file"), b"x"), (member("file"), b"y")],
        [(member("shadow", tarfile.LNKTYPE, linkname="/etc/shadow"), b"")],
        [(member("a", tarfile.LNKTYPE, linkname="../outside"), b"")],
        [
            (member("link", tarfile.SYMTYPE, linkname="/etc"), b""),
            (member("a", tarfile.LNKTYPE, linkname="link"), b""),
        ],
        [(member("./", tarfile.REGTYPE), b"")],
    ],
    ids=[
        "dotdot",
        "absolute",
        "dotdot-inside",
        "not-normal",
        "under-a-symlink",
        "under-a-file",
        "parent-never-sent",
        "twice",
        "hardlink-absolute",
        "hardlink-outside",
        "hardlink-to-a-symlink",
        "root-not-a-directory",
    ],
)
def test_it_refuses_what_tar_c_of_a_server_dir_never_writes(members):
    walk = TreeWalk()
    out = []
    with pytest.raises(ArchiveRefused):
        out.extend(walk.rebuilt(crafted(*members)))
    assert b"passwd" not in b"".join(out) and b"escape" not in b"".join(out)


def test_it_strips_setuid_and_owners_and_leaves_no_special_files(tmp_path):
    evil = member("suid-shell", mode=0o4755)
    evil.uid, evil.gid, evil.uname, evil.gname = 0, 0, "root", "root"
    device = member("disk", tarfile.CHRTYPE)
    device.devmajor, device.devminor = 8, 0
    chunks = list(TreeWalk().rebuilt(crafted((evil, b"#!/bin/sh\n"), (device, b""))))
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        (only,) = archive.getmembers()
    assert (only.name, only.mode, only.uid, only.uname) == ("suid-shell", 0o755, 0, "")


def test_the_limit_counts_sparse_files_at_full_size_and_stops_before_sending_them(tmp_path):
    root = tmp_path / "source"
    root.mkdir()
    (root / "small.dat").write_bytes(b"x" * 1000)
    with open(root / "huge.dat", "wb") as sparse:
        sparse.truncate(3 * 1024 * MB)  # 3 GB apparent, nothing on disk
    assert (root / "huge.dat").stat().st_blocks == 0
    source = subprocess.Popen(["tar", "-C", str(root), "-cf", "-", "."], stdout=subprocess.PIPE)
    walk, out = TreeWalk(limit_bytes=64 * MB), []
    try:
        with pytest.raises(
            ArchiveTooLarge, match=r"disk limit of 64 MB .*sparse files count at their full size"
        ):
            out.extend(walk.rebuilt(iter(lambda: source.stdout.read(65536), b"")))
    finally:
        source.kill()
        source.wait()
    assert b"huge.dat" not in b"".join(out)
    assert sum(map(len, out)) < 64 * MB


def test_the_limit_adds_up_every_file_and_header():
    walk = TreeWalk(limit_bytes=10 * 1024)
    members = [(member(f"f{n}"), b"x" * 1000) for n in range(20)]
    with pytest.raises(ArchiveTooLarge, match="at 'f6'"):
        list(walk.rebuilt(crafted(*members)))


def test_a_huge_long_name_or_pax_header_is_refused_before_it_is_read_whole():
    long_name = member("n" * (2 * 1024 * 1024))  # 2 MB name: GNU writes it as a long-name header
    pax = io.BytesIO()
    with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = member("f")
        info.pax_headers = {"comment": "c" * (2 * 1024 * 1024)}
        archive.addfile(info, io.BytesIO(b""))
    for chunks in (crafted((long_name, b"x")), [pax.getvalue()]):
        with pytest.raises(ArchiveRefused, match="a header of"):
            list(TreeWalk(limit_bytes=64 * MB).rebuilt(chunks))


def test_special_files_count_against_the_limit_though_they_are_left_out():
    fifos = [(member(f"p{n}", tarfile.FIFOTYPE), b"") for n in range(40)]
    with pytest.raises(ArchiveTooLarge):
        list(TreeWalk(limit_bytes=10 * 1024).rebuilt(crafted(*fifos)))


def test_junk_after_the_end_blocks_is_read_only_up_to_the_cap():
    def endless():
        yield from crafted((member("f"), b"x"))
        while True:
            yield bytes(1024 * 1024)

    with pytest.raises(ArchiveTooLarge):
        list(TreeWalk(limit_bytes=1 * MB).rebuilt(endless()))


def test_a_copy_read_back_with_more_than_was_sent_stops_at_what_was_sent(tree, tmp_path):
    sent = TreeWalk()
    copy = tmp_path / "copy"
    unpack(sent.rebuilt(tar_of(tree)), copy)
    (copy / "padding.dat").write_bytes(os.urandom(100_000))
    with pytest.raises(ArchiveTooLarge):
        TreeWalk(limit_bytes=sent.apparent_bytes).read_all(tar_of(copy))
