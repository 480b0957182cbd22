"""SFTP clients for the files benchmark, used the same way against the panel's gateway and, as raw
baselines, straight against a node's sshd: paramiko's SFTPClient (pipelined puts, prefetched gets:
its defaults) and OpenSSH's `sftp` in batch mode. Like bench/rawdocker.py this goes around the node
client on purpose (bench/ is outside tests/test_node_door.py's scan): it is what the panel is measured
against. Nothing here knows which of the two it is talking to, so the gateway's ratio to the direct
session is the gateway's own cost."""

import base64
import contextlib
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paramiko


def host_key(line: str) -> paramiko.PKey:
    """A pinned host key from its "ssh-ed25519 AAAA…" form."""
    kind, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


class ParamikoSftp:
    """One SSH connection and SFTP session. `connect_seconds`: TCP, key exchange, login and the
    subsystem's start, kept apart from the transfers it then makes."""

    def __init__(self, port: int, username: str, *, password=None, key_path=None, pinned=None):
        started = time.monotonic()
        self.transport = paramiko.Transport(("127.0.0.1", port))
        try:
            pkey = paramiko.Ed25519Key.from_private_key_file(key_path) if key_path else None
            self.transport.connect(hostkey=pinned, username=username, password=password, pkey=pkey)
            self.sftp = paramiko.SFTPClient.from_transport(self.transport)
        except BaseException:
            self.transport.close()
            raise
        self.connect_seconds = time.monotonic() - started

    @property
    def server_key(self) -> paramiko.PKey:
        return self.transport.get_remote_server_key()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sftp.close()
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def put_file(self, local: Path, remote: str) -> None:
        self.sftp.put(str(local), remote)

    def get_file(self, remote: str, local: Path) -> None:
        self.sftp.get(remote, str(local))

    def put_tree(self, local: Path, remote: str) -> int:
        """Every file of directory `local` into the new directory `remote`, one after the other."""
        self.sftp.mkdir(remote)
        count = 0
        for path in sorted(local.iterdir()):
            self.sftp.put(str(path), f"{remote}/{path.name}")
            count += 1
        return count

    def get_tree(self, remote: str, local: Path) -> int:
        """Every file of directory `remote` into the existing directory `local`, one after the other."""
        count = 0
        for name in sorted(self.sftp.listdir(remote)):
            self.sftp.get(f"{remote}/{name}", str(local / name))
            count += 1
        return count


def known_hosts_line(port: int, key: paramiko.PKey) -> str:
    return f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n"


class OpenSshSftp:
    """OpenSSH's `sftp -b -` (batch commands on stdin) with public-key login and a pinned host key;
    the system's ssh configuration is not read (`-F /dev/null`). Each call is one process, timed from
    its start (so the connection and login are in it: `connect_only` measures those alone) until the
    answer to a `pwd` sent after the commands: `sftp -b` runs them in order and stops at the first
    failure, so that answer means every command is done. The process's exit is then waited for
    separately (`exit_seconds`; a server that never closes the channel leaves the client waiting)."""

    MARK = "Remote working directory:"

    def __init__(self, port: int, username: str, *, key_path: str, known_hosts: str, timeout: float,
                 exit_timeout: float = 3.0):  # fmt: skip
        self.timeout, self.exit_timeout = timeout, exit_timeout
        self.last_seconds = self.exit_seconds = None
        self.argv = [
            "sftp", "-F", "/dev/null", "-q", "-b", "-", "-P", str(port), "-i", key_path,
            "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            f"{username}@127.0.0.1",
        ]  # fmt: skip

    def batch(self, *commands: str) -> None:
        script = "".join(f"{command}\n" for command in (*commands, "pwd"))
        started = time.monotonic()
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True
            )
            timer = threading.Timer(self.timeout, proc.kill)
            timer.start()
            try:
                proc.stdin.write(script)
                proc.stdin.close()
                done = any(line.startswith(self.MARK) for line in proc.stdout)
                self.last_seconds = time.monotonic() - started
                try:
                    proc.wait(self.exit_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                self.exit_seconds = time.monotonic() - started - self.last_seconds
            finally:
                timer.cancel()
                proc.stdout.close()
            if not done:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[-400:]
                raise RuntimeError(f"sftp exited {proc.returncode} before its last command: {message}")

    def connect_only(self) -> float:
        self.batch()
        return self.last_seconds

    def put_file(self, local: Path, remote: str) -> None:
        self.batch(f'put "{local}" "{remote}"')

    def get_file(self, remote: str, local: Path) -> None:
        self.batch(f'get "{remote}" "{local}"')

    def put_tree(self, local: Path, remote: str) -> int:
        self.batch(f'mkdir "{remote}"', f'put -r "{local}/." "{remote}"')
        return sum(1 for _ in local.iterdir())

    def get_tree(self, remote: str, local: Path) -> int:
        self.batch(f'get -r "{remote}/." "{local}"')
        return sum(1 for _ in local.iterdir())
