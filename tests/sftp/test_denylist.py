"""The template's file denylist through the SFTP gateway on the local node (the API's side, and the
SSH node, are in tests/servers/files/test_denylist.py): what it protects cannot be opened, listed
into, changed, renamed away or onto, linked to or deleted, whichever way the path is written or
linked; everything else works as before."""

import os

import pytest
from paramiko.sftp import CMD_EXTENDED

from servers.files.helper import session
from servers.sftp import protection
from tests.servers.files.test_denylist import escapes_planted, host, planted, read_host
from tests.sftp.conftest import sftp_name

pytestmark = pytest.mark.django_db(transaction=True)


def hardlink(sftp, source: str, target: str) -> None:
    sftp._request(CMD_EXTENDED, "hardlink@openssh.com", source, target)


def refused(call, *args, reason: str = "protected by the server's template") -> str:
    with pytest.raises(PermissionError) as caught:
        call(*args)
    assert reason in str(caught.value), args
    return str(caught.value)


def test_protected_files_are_out_of_reach_over_sftp(gateway, files_server, customer):
    server = files_server()
    planted(server)
    sftp = gateway.sftp(sftp_name(customer, server))

    for path in (
        "/secret.cfg",
        "secret.cfg",
        "//secret.cfg",
        "/./secret.cfg",
        "/sub/../secret.cfg",
        "/../secret.cfg",
        "/link",
        "/abs",
        "/cfgdir/secret.yml",
        "/plugins/a.jar",
        "/root-only.txt",
    ):
        refused(sftp.open, path)
    assert sftp.open("/sub/root-only.txt").read() == b"free r"
    assert sftp.open("/plugins/allowed.jar").read() == b"ok"
    with pytest.raises(FileNotFoundError):
        sftp.open("/SECRET.CFG")
    refused(sftp.listdir, "/config")
    refused(sftp.listdir, "/cfgdir/")
    assert "secret.cfg" in sftp.listdir("/")
    assert sftp.stat("/secret.cfg").st_size == 2  # describing it is not reading it

    refused(sftp.open, "/secret.cfg", "w")
    refused(sftp.open, "/dangling", "w")  # through a link to a protected name that does not exist yet
    refused(sftp.open, "/config/new.yml", "w")
    refused(sftp.mkdir, "/config/sub")
    refused(sftp.chmod, "/secret.cfg", 0o600)
    refused(sftp.truncate, "/link", 0)
    refused(sftp.remove, "/secret.cfg")
    refused(sftp.rmdir, "/config")
    for source, target in [
        ("/secret.cfg", "/mine"),
        ("/free.txt", "/secret.cfg"),
        ("/free.txt", "/cfgdir/x"),
        ("/config", "/c2"),
        ("/plugins", "/p2"),
        ("/world", "/config"),
    ]:
        refused(sftp.rename, source, target)
        refused(sftp.posix_rename, source, target)
    refused(sftp.symlink, "free.txt", "/secret.cfg")  # a link at a protected name
    sftp.symlink("secret.cfg", "/another-link")  # a link to one is allowed, and as useless
    refused(sftp.open, "/another-link")
    sftp.remove("/another-link")
    refused(hardlink, sftp, "/secret.cfg", "/copy")  # a second name for its bytes
    refused(hardlink, sftp, "/free.txt", "/secret.cfg")

    assert read_host(server, "/secret.cfg") == b"s1" and read_host(server, "/config/secret.yml") == b"s2"
    assert read_host(server, "/plugins/a.jar") == b"jar"
    assert not os.path.exists(host(server, "/mine")) and not os.path.exists(host(server, "/config/new.yml"))
    with sftp.open("/free.txt", "w") as handle:  # everything else as before
        handle.write(b"changed")
    sftp.rename("/world", "/w2")
    assert read_host(server, "/free.txt") == b"changed" and os.path.isdir(host(server, "/w2"))


def test_link_chains_unreadable_directories_and_newlines_do_not_escape(
    gateway, files_server, customer, monkeypatch
):
    server, mount = escapes_planted(files_server)
    with session(server, denylist=False) as files:
        files.mkdir(f"{mount}/many")
        for i in range(31):
            files.symlink("x", f"{mount}/many/{i}")  # the cheapest entries to make
    sftp = gateway.sftp(sftp_name(customer, server))

    chain = "too many symbolic links"
    for path in ("/chain", "/dirchain/secret.yml"):
        refused(sftp.open, path, reason=chain)
    refused(sftp.open, "/dirchain/new.yml", "w", reason=chain)
    refused(sftp.listdir, "/dirchain", reason=chain)
    refused(sftp.chmod, "/dirchain/secret.yml", 0o666, reason=chain)
    refused(sftp.open, "/x\ny/evil.jar")
    refused(sftp.rename, "/x\ny/evil.jar", "/free.jar")

    sftp.chmod("/data", 0)  # the check cannot list it now: the move is refused, not forwarded unchecked
    with pytest.raises(PermissionError, match="cannot be checked for /data"):
        sftp.rename("/data", "/d2")
    sftp.chmod("/data", 0o755)
    assert not os.path.exists(host(server, "/d2")) and read_host(server, "/data/secret.txt") == b"s3"
    assert read_host(server, "/secret.cfg") == b"s1" and not os.path.exists(host(server, "/config/new.yml"))
    with pytest.raises(FileNotFoundError):
        sftp.rename("/nothing-here", "/n2")  # a missing source is sftp-server's own answer

    # A move whose check would stall the session (a walk of the whole tree) is refused with a reason.
    monkeypatch.setattr(protection, "TREE_LIMIT", 40)  # 10,000 in use: a listing costs 10, an entry 1
    with pytest.raises(PermissionError, match="holds too many files to be checked"):
        sftp.rename("/many", "/m2")
    sftp.rename("/sub", "/s2")
    assert os.path.isdir(host(server, "/many")) and os.path.isdir(host(server, "/s2"))
