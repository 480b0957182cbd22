"""Commands on a node's host (not in a container): run one, stream its output out or its input in, SFTP."""

import contextlib
import shlex
import subprocess

import paramiko
from django.conf import settings

from nodes.client.errors import NodeCommandFailed


class Host:
    """The host half of NodeClient (mixed into it; `self.guard` and `self._connection` from ClientBase)."""

    def run(self, argv: list[str], *, timeout: float | None = None, check: bool = True) -> str:
        """Run a command on the node's host (not in a container) and return its stdout."""
        timeout = timeout or settings.NODE_TIMEOUT_SECONDS
        conn = self._connection()
        command = shlex.join(argv)
        if conn.ssh is None:
            with self.guard(f"running {argv[0]}"):
                result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
            out, err, code = result.stdout, result.stderr, result.returncode
        else:
            with self.guard(f"running {argv[0]}"):
                _, stdout, stderr = conn.ssh.exec_command(command, timeout=timeout)
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                code = stdout.channel.recv_exit_status()
        if check and code != 0:
            raise NodeCommandFailed(self.node.name, command, code, err.strip())
        return out

    def read_stream(self, argv: list[str], *, chunk_size: int = 256 * 1024):
        """Run a command on the node host and yield its stdout in chunks (for streaming archives).

        A reader that stops early ends the command (its channel is closed, a local process killed)."""
        conn = self._connection()
        command = shlex.join(argv)
        if conn.ssh is None:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                with self.guard(f"reading from {argv[0]}"):
                    while chunk := process.stdout.read(chunk_size):
                        yield chunk
                    code, err = process.wait(), process.stderr.read().decode(errors="replace")
            finally:
                _end_process(process)
        else:
            with self.guard(f"reading from {argv[0]}"):
                channel = conn.ssh.get_transport().open_session(timeout=settings.NODE_CONNECT_TIMEOUT_SECONDS)
            try:
                with self.guard(f"reading from {argv[0]}"):
                    channel.settimeout(settings.NODE_TIMEOUT_SECONDS)
                    channel.exec_command(command)
                    while chunk := channel.recv(chunk_size):
                        yield chunk
                    code = channel.recv_exit_status()
                    err = channel.recv_stderr(65536).decode(errors="replace")
            finally:
                channel.close()
        if code != 0:
            raise NodeCommandFailed(self.node.name, command, code, err.strip())

    def write_stream(self, argv: list[str], chunks, *, exit_timeout: float | None = None) -> str:
        """Run a command on the node host feeding `chunks` to its stdin; returns its stdout.

        Once the input is sent, the command gets `exit_timeout` seconds (default: the node timeout) to
        finish, e.g. `tar` writing out what it has buffered. If anything fails midway, including the
        caller's own `chunks`, the command is ended (its channel closed, a local process killed)."""
        conn = self._connection()
        command = shlex.join(argv)
        exit_timeout = exit_timeout or settings.NODE_TIMEOUT_SECONDS
        if conn.ssh is None:
            process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                with self.guard(f"writing to {argv[0]}"):
                    for chunk in chunks:
                        process.stdin.write(chunk)
                    process.stdin.close()
                    out, code = process.stdout.read().decode(), process.wait()
                    err = process.stderr.read().decode(errors="replace")
            finally:
                _end_process(process)
        else:
            with self.guard(f"writing to {argv[0]}"):
                channel = conn.ssh.get_transport().open_session(timeout=settings.NODE_CONNECT_TIMEOUT_SECONDS)
            try:
                with self.guard(f"writing to {argv[0]}"):
                    channel.settimeout(settings.NODE_TIMEOUT_SECONDS)
                    channel.exec_command(command)
                    for chunk in chunks:
                        channel.sendall(chunk)
                    channel.shutdown_write()
                    channel.settimeout(exit_timeout)
                    out = b""
                    while data := channel.recv(65536):
                        out += data
                    code = channel.recv_exit_status()
                    err = channel.recv_stderr(65536).decode(errors="replace")
                    out = out.decode(errors="replace")
            finally:
                channel.close()
        if code != 0:
            raise NodeCommandFailed(self.node.name, command, code, err.strip())
        return out

    def sftp(self) -> paramiko.SFTPClient:
        """An SFTP session on the node (SSH nodes only); close it when done."""
        conn = self._connection()
        if conn.ssh is None:
            raise RuntimeError("Local nodes have no SFTP: use the filesystem directly.")
        with self.guard("opening SFTP"):
            sftp = conn.ssh.open_sftp()
            sftp.get_channel().settimeout(settings.NODE_TIMEOUT_SECONDS)
            return sftp


def _end_process(process: subprocess.Popen) -> None:
    """Kill a local command that is still running (its reader or writer gave up) and reap it."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(Exception):
        process.wait(timeout=5)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(Exception):
                pipe.close()
