"""The only door to nodes: Docker over `unix://` or `ssh://` (paramiko), plus shell commands and SFTP.

Nothing else in Hearth imports `docker` or `paramiko`. Connections (connections.py) are cached per
node and rebuilt after any failure; every call has a timeout; an unreachable node raises
NodeUnavailable (errors.py; the API answers 503 naming the node). SSH host keys are pinned (see
pinning.py): a node without a key pins the one of its first authenticated connection, any other key
is refused, and `prove_host` checks a key the panel was told before anyone pins it.
"""

import contextlib
import io
import logging
import shlex
import subprocess
import tarfile
import time

import docker
import docker.errors
import paramiko
from django.conf import settings

from nodes.client.connections import (  # noqa: F401 - the package's surface
    DOCKER_API_VERSION,
    _cache_key,
    _close,
    _Connection,
    _connections,
    _connections_lock,
    _open,
    forget,
    prove_host,
)
from nodes.client.errors import (  # noqa: F401 - the package's surface
    _TRANSPORT_ERRORS,
    FileTooLarge,
    HostKeyMismatch,
    ImagePullFailed,
    NodeCommandFailed,
    NodeUnavailable,
    NotARegularFile,
)
from nodes.client.keys import fingerprint as fingerprint
from nodes.client.keys import generate_keypair as generate_keypair  # callers use node_client.generate_keypair
from nodes.client.keys import load_private_key as load_private_key
from nodes.client.keys import normalize_host_key as normalize_host_key
from nodes.client.keys import parse_host_key as parse_host_key
from nodes.client.ssh import remote_failure
from nodes.client.streams import Stream, _demultiplex

logger = logging.getLogger(__name__)


class NodeClient:
    """Docker, shell and SFTP access to one node. Get one with `client_for(node)`."""

    def __init__(self, node):
        self.node = node

    def _connection(self) -> _Connection:
        with _connections_lock:
            conn = _connections.get(_cache_key(self.node))
        if conn is not None and (
            conn.ssh is None or (conn.ssh.get_transport() and conn.ssh.get_transport().is_active())
        ):
            return conn
        if conn is not None:
            forget(self.node)
        with self.guard("connecting"):
            conn = _open(self.node)
        with _connections_lock:  # keyed after opening: a first contact has just pinned the key
            _connections[_cache_key(self.node)] = conn
        return conn

    @contextlib.contextmanager
    def guard(self, doing: str):
        """Turn transport failures into NodeUnavailable and drop the broken connection."""
        try:
            yield
        except NodeUnavailable:
            forget(self.node)
            raise
        except docker.errors.APIError:
            raise  # the engine answered: not an availability problem
        except _TRANSPORT_ERRORS as exc:
            forget(self.node)
            if self.node.is_ssh:  # staff choose the address: say what failed, not what the far end said
                logger.info("Node %s: %s failed", self.node.name, doing, exc_info=exc)
                reason = remote_failure(exc)
            else:
                reason = str(exc) or exc.__class__.__name__
            raise NodeUnavailable(self.node.name, f"{doing} failed: {reason}") from exc

    @property
    def docker(self) -> docker.DockerClient:
        return self._connection().docker

    def ping(self) -> None:
        with self.guard("ping"):
            self.docker.ping()

    def info(self) -> dict:
        with self.guard("reading engine info"):
            return self.docker.info()

    def follow_events(self, filters: dict, since: float) -> Stream:
        """The engine's events matching `filters`, decoded, from `since` (unix time) on."""
        with self.guard("following events"):
            events = self.docker.events(decode=True, filters=filters, since=since)
        return Stream(events, events._response)

    def follow_logs(self, container_id: str, since: float | str, *, timestamps: bool = False) -> Stream:
        """A container's stdout and stderr from `since` on (unix seconds; a string keeps nanoseconds
        exact, as "1764000000.123456789"), as written: lists of (1 or 2, payload). With `timestamps`,
        each payload starts with the engine's RFC 3339 time of that output and a space."""
        api = self.docker.api
        params = {
            "stdout": 1,
            "stderr": 1,
            "follow": 1,
            "since": since if isinstance(since, str) else f"{since:.6f}",
            "timestamps": int(timestamps),
        }
        with self.guard("following the console"):
            response = api._get(
                api._url("/containers/{0}/logs", container_id),
                params=params,
                stream=True,
            )
            api._raise_for_status(response)
            with contextlib.suppress(Exception):  # the stream stays open for as long as the game runs
                api._disable_socket_timeout(api._get_raw_response_socket(response))
        return Stream(_demultiplex(response), response)

    def has_image(self, image: str) -> bool:
        """Is `image` (name:tag or id) on the node already?"""
        with self.guard("looking for an image"):
            try:
                self.docker.api.inspect_image(image)
            except docker.errors.ImageNotFound:
                return False
        return True

    def pull_image(self, image: str):
        """Pull `image` from its registry, yielding the engine's progress events (dicts); a registry's
        refusal or absence raises ImagePullFailed with the engine's reason."""
        repository, tag = _split_image(image)
        with self.guard(f"pulling {image}"):
            try:
                for event in self.docker.api.pull(repository, tag=tag, stream=True, decode=True):
                    if "error" in event:
                        raise ImagePullFailed(image, event["error"])
                    yield event
            except docker.errors.APIError as exc:  # the engine answered, but the registry did not
                raise ImagePullFailed(image, exc.explanation or str(exc)) from exc

    def read_container_file(self, container: str, path: str, *, limit: int) -> bytes | None:
        """The bytes of a regular file in a container's filesystem (a stopped container too), or None
        when it is missing. Its apparent size is asked first (HEAD, no body) and a file over `limit`
        raises FileTooLarge unread: a sparse 8 GB file would otherwise stream 8 GB of zeros; nothing
        beyond `limit` is read even if it grows meanwhile. A directory, link or device raises
        NotARegularFile (never followed, never archived)."""
        api = self.docker.api
        url = api._url("/containers/{0}/archive", container)
        with self.guard(f"reading {path}"):
            head = api.head(url, params={"path": path}, timeout=api.timeout)
            if head.status_code == 404:
                return None
            api._raise_for_status(head)
            stat = docker.utils.decode_json_header(head.headers["X-Docker-Container-Path-Stat"])
            if stat.get("mode", 0) & _GO_MODE_TYPE:
                raise NotARegularFile(path)
            if stat.get("size", 0) > limit:
                raise FileTooLarge(path, stat["size"], limit)
            response = api._get(url, params={"path": path}, stream=True)
            try:
                api._raise_for_status(response)
                archive = _read_at_most(response, limit + _TAR_OVERHEAD)
            finally:
                response.close()
        if archive is None:
            raise FileTooLarge(path, limit + 1, limit)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise NotARegularFile(path)  # replaced by a link or a directory since the HEAD
            if member.size > limit:
                raise FileTooLarge(path, member.size, limit)
            return tar.extractfile(member).read()

    def container_state(self, container: str) -> dict | None:
        """The container's State (Status, Running, ExitCode, StartedAt, FinishedAt…); None when it is gone."""
        with self.guard("inspecting a container"):
            try:
                return self.docker.api.inspect_container(container)["State"]
            except docker.errors.NotFound:
                return None

    def signal(self, container: str, signal: str) -> bool:
        """Send `signal` to the container's main process; False when it is not running (or gone)."""
        with self.guard(f"sending {signal}"):
            try:
                self.docker.api.kill(container, signal=signal)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if "is not running" in str(exc):
                    return False
                raise
        return True

    def wait_exit(self, container: str, timeout: float, *, poll: float = 0.2) -> int | None:
        """Wait up to `timeout` seconds for the container to stop; its exit code, or None if it still runs.

        Polls the engine's state rather than holding a `wait` request open: a read timeout on a stream
        behaves differently over SSH and over the socket, and it would drop the cached connection."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.container_state(container)
            if state is None:
                return 0
            if not state.get("Running"):
                return state.get("ExitCode")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(poll, remaining))

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

    @property
    def is_local(self) -> bool:
        return self.node.docker_url.startswith("unix://")


# Go's os.ModeType (dir, symlink, named pipe, socket, device, char device, irregular): the engine's
# path stat gives a Go FileMode, where a regular file has none of these bits.
_GO_MODE_TYPE = (1 << 31) | (1 << 27) | (1 << 25) | (1 << 24) | (1 << 26) | (1 << 21) | (1 << 19)
_TAR_OVERHEAD = 64 * 1024  # headers (long names take a PAX header), padding and the end blocks


def _read_at_most(response, size: int) -> bytes | None:
    """The whole body when it is at most `size` bytes; None (and the rest unread) when longer."""
    data = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        data += chunk
        if len(data) > size:
            return None
    return bytes(data)


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


def _split_image(image: str) -> tuple[str, str]:
    """'host:5000/name:tag' → ('host:5000/name', 'tag'); no tag means 'latest' (a digest stays whole)."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def client_for(node) -> NodeClient:
    return NodeClient(node)
