"""OpenSSH's own `sftp` client in batch mode against the gateway: public-key and password logins,
the everyday commands, a read-only member refused, and a session closed mid-way by revocation."""

import os
import stat
import subprocess
import time

import pytest

from accounts.sshkeys import ssh_key_add
from nodes.client import generate_keypair
from servers import runtime
from servers.models import ServerMember
from tests.fixtures import PASSWORD
from tests.sftp.conftest import sftp_name

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def openssh(gateway, tmp_path):
    """Run `sftp -b` as `user` with a key registered for them (or a password through SSH_ASKPASS)."""

    def key_for(user) -> str:
        pem, line = generate_keypair()
        ssh_key_add(user=user, name="openssh", public_key=line)
        path = tmp_path / f"key-{user.pk}"
        path.write_text(pem)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        return str(path)

    def command(user, server, *, password: str | None = None, batch: str = "-") -> list[str]:
        # BatchMode=no before -b (ssh keeps an option's first value): SSH_ASKPASS may answer the prompt.
        argv = ["sftp", "-F", "/dev/null", "-o", "BatchMode=no", "-b", batch, "-P", str(gateway.port)]
        argv += [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ]
        if password is None:
            argv += ["-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no", "-i", key_for(user)]
        else:
            argv += ["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"]
        return [*argv, f"{sftp_name(user, server)}@127.0.0.1"]

    def environment(password: str | None) -> dict:
        env = {**os.environ, "HOME": str(tmp_path)}
        if password is not None:
            askpass = tmp_path / "askpass"
            askpass.write_text(f"#!/bin/sh\necho '{password}'\n")
            askpass.chmod(0o700)
            env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        return env

    def run(user, server, commands: str, *, password: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            command(user, server, password=password),
            input=commands,
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(password),
            cwd=tmp_path,
            stdin=None,
            start_new_session=True,
        )

    def start(user, server) -> subprocess.Popen:
        return subprocess.Popen(
            command(user, server),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(None),
            cwd=tmp_path,
        )

    run.start = start
    return run


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_the_everyday_commands_with_a_key(openssh, files_server, customer, tmp_path, engine, via):
    server = files_server(engine, via)
    (tmp_path / "up.txt").write_bytes(b"uploaded\n" * 1000)
    done = openssh(
        customer,
        server,
        "mkdir world\nput up.txt world/up.txt\nls -l world\nrename world/up.txt world/moved.txt\n"
        "get world/moved.txt down.txt\ncd ..\npwd\nrm world/moved.txt\nrmdir world\nmkdir kept\nls\n",
    )
    assert done.returncode == 0, done.stderr
    assert "up.txt" in done.stdout and "Remote working directory: /" in done.stdout
    assert (tmp_path / "down.txt").read_bytes() == b"uploaded\n" * 1000
    assert os.listdir(runtime.server_dir(server)) == ["kept"]


def test_a_password_login_and_a_read_only_member(openssh, files_server, customer, make_user, tmp_path):
    server = files_server()
    done = openssh(customer, server, "put /etc/hostname hostname\n", password=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert openssh(customer, server, "ls\n", password="wrong").returncode != 0
    reader = make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["file.read"])
    done = openssh(reader, server, "get hostname got\n-put /etc/hostname again\n-rm hostname\nls\n")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "got").exists()
    assert done.stderr.count("Permission denied") == 2, done.stderr
    assert os.listdir(runtime.server_dir(server)) == ["hostname"]


def test_revocation_closes_an_open_openssh_session(openssh, files_server, make_user):
    server = files_server()
    member = make_user()
    ServerMember.objects.create(server=server, user=member, permissions=["file.read", "file.write"])
    client = openssh.start(member, server)
    try:
        client.stdin.write("mkdir before\nls\n")
        client.stdin.flush()
        time.sleep(1.5)
        assert client.poll() is None, client.stderr.read()
        ServerMember.objects.filter(user=member).delete()
        started = time.monotonic()
        # The client notices at its next command (it waits on its stdin meanwhile): keep asking.
        while client.poll() is None and time.monotonic() - started < 5:
            try:
                client.stdin.write("ls\n")
                client.stdin.flush()
            except BrokenPipeError:
                break
            time.sleep(0.25)
        client.wait(timeout=1)
        assert time.monotonic() - started <= 5
        assert client.returncode != 0
        assert os.listdir(runtime.server_dir(server)) == ["before"]
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
