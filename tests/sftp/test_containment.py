"""Nothing outside the server's directory is reachable through the gateway, on the local and the SSH
node: `..` stops at the server's root, absolute paths are the server's, and links the game planted
to the node's files resolve inside the helper container (where the node's files do not exist)."""

import io
import os

import pytest

from servers import runtime
from servers.files.helper import helper_for, session
from tests.sftp.conftest import sftp_name

pytestmark = pytest.mark.django_db(transaction=True)

ENGINES = [(1, "unix"), (2, "ssh")]


def fails(call, *args) -> bool:
    try:
        call(*args)
    except OSError:
        return True
    return False


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_nothing_outside_the_server_directory(gateway, files_server, customer, engine, via, tmp_path):
    server = files_server(engine, via)
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the SSH node's user must be able to look, as at any host file
    tmp_path = tmp_path / "node"
    tmp_path.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("node secret\n")
    os.chmod(tmp_path, 0o755)  # noqa: S103 - readable by the SSH node's user, as a host file would be
    sibling = runtime.server_dir(server).rstrip("/") + "_evil"
    mount = helper_for(server).mount
    with session(server) as files:  # what the game could plant in its own directory
        files.write(f"{mount}/inside.txt", [b"inside"])
        files.symlink(str(tmp_path), f"{mount}/out")
        files.symlink(f"{tmp_path}/secret", f"{mount}/secret-link")
        files.symlink("/", f"{mount}/root")
        files.symlink(sibling, f"{mount}/sibling")
    sftp = gateway.sftp(sftp_name(customer, server))

    sftp.chdir("..")
    assert sftp.getcwd() == "/"
    assert sorted(sftp.listdir("../../..")) == ["inside.txt", "out", "root", "secret-link", "sibling"]
    assert sftp.normalize("/../../etc/..") == "/"
    assert fails(sftp.stat, f"{tmp_path}/secret")  # the node's absolute path means the server's
    assert fails(sftp.open, "/out/secret")
    assert fails(sftp.open, "/secret-link")
    assert fails(sftp.open, "/sibling/anything")
    assert fails(sftp.listdir, f"/../{os.path.basename(sibling)}")
    for name in ("etc/passwd", "root/etc/passwd", "../etc/passwd"):
        try:
            with sftp.open(name) as handle:
                assert b"root:" not in handle.read()  # at most the helper image's one-line passwd
        except OSError:
            pass
    assert fails(sftp.putfo, io.BytesIO(b"x"), "/out/planted")  # written through a link: no
    assert fails(sftp.putfo, io.BytesIO(b"x"), "/root/planted")  # the helper's own root is read-only
    assert sftp.readlink("/out") == str(tmp_path)  # a link's own text is shown as it is
    sftp.symlink("/inside.txt", "/abs-link")  # an absolute target is the server's path
    with sftp.open("/abs-link") as handle:
        assert handle.read() == b"inside"
    sftp.posix_rename("/inside.txt", "/../../moved.txt")
    assert "moved.txt" in sftp.listdir("/")
    assert secret.read_text() == "node secret\n"
    assert sorted(os.listdir(tmp_path)) == ["secret"]
    assert not os.path.exists(sibling)
    assert os.path.isfile(os.path.join(runtime.server_dir(server), "moved.txt"))
