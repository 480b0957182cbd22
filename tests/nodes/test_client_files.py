"""The files door (nodes/client/files.py) on a local and an SSH node: a helper container made on first
use, SFTP over an exec in it, and containment by the container: links planted to the host's files
resolve inside the helper, never on the node."""

import os

import pytest

from nodes.client import FileRefused
from servers import runtime
from servers.files.helper import helper_for, remove_helper, session

ENGINES = [(1, "unix"), (2, "ssh")]


@pytest.fixture(autouse=True)
def _cleanup(_no_leftover_containers):
    yield


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_write_read_list_and_the_helper_is_remade_when_gone(files_server, engine, via):
    server = files_server(engine, via)
    mount = helper_for(server).mount
    with session(server) as files:
        assert files.write(f"{mount}/hello.txt", [b"hello ", b"world"]) == 11
        assert b"".join(files.read(f"{mount}/hello.txt")) == b"hello world"
        (entry,) = [e for e in files.list(mount) if e.name == "hello.txt"]
        assert entry.size == 11 and entry.is_regular and not entry.is_symlink
    with open(os.path.join(runtime.server_dir(server), "hello.txt"), "rb") as handle:
        assert handle.read() == b"hello world"
    remove_helper(server)
    with session(server) as files:
        assert files.exists(f"{mount}/hello.txt")


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_link_to_the_hosts_files_resolves_inside_the_helper(files_server, engine, via, tmp_path):
    server = files_server(engine, via)
    mount = helper_for(server).mount
    secret = tmp_path / "secret"
    secret.write_text("node secret\n")
    os.chmod(tmp_path, 0o755)  # noqa: S103 - readable by the SSH node's user, as a host file would be
    with session(server) as files:
        files.symlink(str(tmp_path), f"{mount}/out")
        files.symlink("/etc", f"{mount}/etc")
        with pytest.raises(FileRefused) as missing:
            b"".join(files.read(f"{mount}/out/secret"))
        assert missing.value.reason == FileRefused.MISSING
        assert b"root:" not in b"".join(files.read(f"{mount}/etc/passwd"))  # the image's one-line passwd
        with pytest.raises(FileRefused):
            files.write(f"{mount}/etc/planted", [b"x"])  # the image is read-only
        files.symlink("/dev/shm", f"{mount}/shm")
        with pytest.raises(FileRefused):
            files.write(f"{mount}/shm/planted", [b"x"])  # no /dev/shm: nothing to fill past the disk limit
        assert files.remove_tree(f"{mount}/out") == 1
    assert secret.read_text() == "node secret\n"


def test_a_write_that_fails_midway_leaves_no_file(files_server):
    server = files_server()
    mount = helper_for(server).mount

    def chunks():
        yield b"a" * 1000
        raise RuntimeError("the upload broke")

    with session(server) as files:
        with pytest.raises(RuntimeError):
            files.write(f"{mount}/partial.bin", chunks())
        assert [e.name for e in files.list(mount)] == []
