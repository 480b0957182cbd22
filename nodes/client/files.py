"""A server's files, reached only through OpenSSH's `sftp-server` in a helper container that mounts the
server's directory and nothing else of the node.

Why a container. The customer owns what is in their server's directory: their game can plant symlinks
(to `/etc`, to another server, to the node's data dir), hardlinks and swap a directory for a link while
we work. Checking a path on the node's host and then opening it (realpath-then-open) loses that race.
Inside the helper, every path resolves in the container's own mount namespace, whatever the links say:
the server's directory is the only thing of the node's it can see, its root filesystem is our files
image (sftp-server, the C library, a passwd: read-only), it runs as the game's uid:gid with every
capability dropped, `no-new-privileges`, no network and a PID and memory limit. A link to `/etc/shadow`
opens the image's nothing; `..` stops at `/`. So the API, the SFTP gateway, archive extraction, and
later backup restores and marketplace installs all get the same containment by construction, on local
and SSH nodes alike, through the node's Docker engine (an exec in the helper, its stdin and stdout the
SFTP protocol).

A helper is made on first use (servers/files/helper.py names its mount, user and directory), reused by
every session after, and removed when idle (`FILES_HELPER_IDLE_SECONDS`) or with its server.
"""

import contextlib
import errno
import posixpath
import select
import stat
import uuid
from dataclasses import dataclass

import docker.errors
import paramiko
from django.conf import settings

from nodes.client.errors import NodeUnavailable
from nodes.client.files_image import SFTP_SERVER, image_archive, image_tag
from nodes.client.sdk import raw_socket

HELPER_LABEL = "hearth.files"  # value: the server's uuid (never hearth.server: the monitor's label)
CHUNK = 256 * 1024
READ_WINDOW = 4 * 1024 * 1024  # read_windowed: bytes asked for ahead of the reader, at most
_SFTP_ARGV = [SFTP_SERVER, "-e", "-l", "ERROR", "-u", "022"]


@dataclass(frozen=True)
class FilesHelper:
    """One server's helper container: `source` (the checked directory on the node's host) appears at
    `mount` inside; it runs as `owner` ("uid:gid")."""

    server_id: str
    source: str
    mount: str
    owner: str

    @property
    def name(self) -> str:
        return f"hearth-files-{self.server_id}"


class FilesHelperDown(Exception):
    """The server's helper container is missing or not running: make it (start_files_helper) and retry."""


@dataclass(frozen=True)
class FileEntry:
    """What a listing or stat says of one path (never following a symlink unless asked)."""

    name: str
    size: int
    mode: int  # permission bits only (0o644)
    modified: float  # unix time
    is_directory: bool
    is_symlink: bool
    is_regular: bool

    @classmethod
    def from_attributes(cls, name: str, attrs) -> "FileEntry":
        mode = attrs.st_mode or 0
        return cls(
            name=name,
            size=attrs.st_size or 0,
            mode=stat.S_IMODE(mode),
            modified=float(attrs.st_mtime or 0),
            is_directory=stat.S_ISDIR(mode),
            is_symlink=stat.S_ISLNK(mode),
            is_regular=stat.S_ISREG(mode),
        )


class FileRefused(Exception):
    """sftp-server refused an operation: `reason` is one of MISSING, EXISTS, DENIED, FAILED (its word
    for everything else: not empty, not a directory, no space…), `path` the path it was about."""

    MISSING, EXISTS, DENIED, FAILED = "missing", "exists", "denied", "failed"

    def __init__(self, reason: str, path: str, detail: str = ""):
        self.reason, self.path, self.detail = reason, path, detail
        super().__init__(f"{path}: {detail or reason}")


_ERRNO_REASONS = {
    errno.ENOENT: FileRefused.MISSING,
    errno.EEXIST: FileRefused.EXISTS,
    errno.EACCES: FileRefused.DENIED,
}


class ExecStream:
    """The stdin and stdout of a process exec'd in a container, as a socket for paramiko's SFTPClient:
    `send` writes stdin, `recv` reads stdout out of the engine's multiplexed frames (stderr is kept,
    the last 4 KB, for errors). Works the same over the engine's unix socket and over SSH."""

    def __init__(self, attached, *, timeout: float | None):
        self._attached = attached
        self._socket = raw_socket(attached)
        self._socket.settimeout(timeout)
        self._buffer = bytearray()
        self._frame_left, self._frame_type = 0, 1
        self.stderr = b""

    def send(self, data) -> int:
        self._socket.sendall(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        """At most `size` bytes of stdout; b"" once the process has ended."""
        while not self._buffer:
            if self._frame_left == 0:
                header = self._read_exactly(8)
                if header is None:
                    return b""
                self._frame_type, self._frame_left = header[0], int.from_bytes(header[4:8], "big")
                continue
            chunk = self._socket.recv(min(self._frame_left, CHUNK))
            if not chunk:
                return b""
            self._frame_left -= len(chunk)
            if self._frame_type == 1:
                self._buffer += chunk
            else:
                self.stderr = (self.stderr + chunk)[-4096:]
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def _read_exactly(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self._socket.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def recv_ready(self) -> bool:
        """Is there stdout (or a frame of it) to read without waiting? (paramiko's pipelined writes ask.)"""
        if self._buffer:
            return True
        if hasattr(self._socket, "recv_ready"):  # a paramiko channel
            return self._socket.recv_ready()
        return bool(select.select([self._socket], [], [], 0)[0])

    def get_name(self) -> str:  # paramiko's SFTP logs name their channel
        return "files"

    def close(self) -> None:
        for closing in (self._socket, self._attached):
            with contextlib.suppress(Exception):
                closing.close()


class FileSession:
    """SFTP to one server's helper: the operations the panel composes its file features from. Paths
    are the helper's own (under `helper.mount`): servers/files turns the customer's into these. Every
    refusal is a FileRefused; a connection that breaks raises NodeUnavailable."""

    def __init__(self, node_name: str, stream: ExecStream):
        self.node_name, self.stream = node_name, stream
        self._sftp = paramiko.SFTPClient(stream)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sftp.close()
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def _refusals(self, path: str):
        """sftp-server's refusals (an OSError with its errno, or none for its plain "Failure") become
        FileRefused; a broken stream NodeUnavailable."""
        try:
            yield
        except (TimeoutError, ConnectionError, EOFError, paramiko.SSHException) as exc:
            raise self._broken(exc) from exc
        except OSError as exc:
            reason = _ERRNO_REASONS.get(exc.errno, FileRefused.FAILED)
            raise FileRefused(reason, path, exc.strerror or str(exc)) from exc

    def _broken(self, exc: Exception) -> NodeUnavailable:
        detail = self.stream.stderr.decode(errors="replace").strip()
        reason = str(exc) or exc.__class__.__name__
        return NodeUnavailable(
            self.node_name, f"the files session broke: {reason}" + (f" ({detail})" if detail else "")
        )

    def list(self, path: str) -> list[FileEntry]:
        with self._refusals(path):
            return [FileEntry.from_attributes(a.filename, a) for a in self._sftp.listdir_attr(path)]

    def lstat(self, path: str) -> FileEntry:
        with self._refusals(path):
            return FileEntry.from_attributes(posixpath.basename(path), self._sftp.lstat(path))

    def stat(self, path: str) -> FileEntry:
        with self._refusals(path):
            return FileEntry.from_attributes(posixpath.basename(path), self._sftp.stat(path))

    def exists(self, path: str) -> bool:
        try:
            self.lstat(path)
        except FileRefused as exc:
            if exc.reason == FileRefused.MISSING:
                return False
            raise
        return True

    def read(self, path: str, *, offset: int = 0, chunk_size: int = CHUNK):
        """The file's bytes in chunks (read ahead, for throughput), from `offset`."""
        with self._refusals(path):
            handle = self._sftp.open(path, "rb")
        try:
            with self._refusals(path):
                size = handle.stat().st_size
                if offset:
                    handle.seek(offset)
                handle.prefetch(size)
                while chunk := handle.read(chunk_size):
                    yield chunk
        finally:
            with contextlib.suppress(Exception):
                handle.close()

    def write(self, path: str, chunks, *, mode: int | None = None, exclusive: bool = False) -> int:
        """Write `chunks` to a temporary name beside `path` and rename it over `path` only once every
        byte is written; bytes written. Whatever fails midway (the caller's chunks included), the
        temporary file is removed and `path` is as it was. `exclusive`: refuse when `path` exists."""
        temporary = posixpath.join(posixpath.dirname(path), f".hearth-{uuid.uuid4().hex[:12]}.part")
        written = 0
        with self._refusals(path):
            handle = self._sftp.open(temporary, "wbx")
        try:
            with self._refusals(path):
                handle.set_pipelined(True)
                for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
                handle.close()
                if mode is not None:
                    self._sftp.chmod(temporary, mode)
                if exclusive:  # sftp-server's plain rename links, and so refuses an existing name
                    self._sftp.rename(temporary, path)
                else:
                    self._sftp.posix_rename(temporary, path)
        except BaseException:
            with contextlib.suppress(Exception):
                handle.close()
            with contextlib.suppress(Exception):
                self._sftp.remove(temporary)
            raise
        return written

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        with self._refusals(path):
            self._sftp.mkdir(path, mode)

    def remove(self, path: str) -> None:
        """Remove a file or a symlink (the link itself, never what it points to)."""
        with self._refusals(path):
            self._sftp.remove(path)

    def rmdir(self, path: str) -> None:
        with self._refusals(path):
            self._sftp.rmdir(path)

    def remove_tree(self, path: str) -> int:
        """Remove `path` and, for a directory, everything in it; a symlink is removed, never followed.
        Paths removed."""
        entry = self.lstat(path)
        if not entry.is_directory:
            self.remove(path)
            return 1
        removed = 0
        for child in self.list(path):
            removed += self.remove_tree(posixpath.join(path, child.name))
        self.rmdir(path)
        return removed + 1

    def rename(self, source: str, target: str) -> None:
        """Move `source` to `target`, refusing (EXISTS) when `target` exists."""
        with self._refusals(source):
            if self.exists(target):
                raise FileRefused(FileRefused.EXISTS, target)
            self._sftp.rename(source, target)

    def chmod(self, path: str, mode: int) -> None:
        """Set permission bits on a file or directory; a symlink is refused (chmod would follow it)."""
        if self.lstat(path).is_symlink:
            raise FileRefused(FileRefused.FAILED, path, "is a symbolic link")
        with self._refusals(path):
            self._sftp.chmod(path, mode)

    def readlink(self, path: str) -> str:
        with self._refusals(path):
            return self._sftp.readlink(path)

    def symlink(self, target: str, path: str) -> None:
        with self._refusals(path):
            self._sftp.symlink(target, path)

    # ---- helper C (archives): a seekable reader for zip, and rename over an existing file ----

    def open_reader(self, path: str) -> "SeekableReader":
        """`path` opened for reading as a seekable binary file (read, seek, tell, close), for formats
        read out of order (zip's central directory is at the end). Close it when done."""
        with self._refusals(path):
            return SeekableReader(path, self._sftp.open(path, "rb"), refusals=self._refusals)

    def replace(self, source: str, target: str) -> None:
        """Move `source` to `target`, replacing a file there (POSIX rename: atomic)."""
        with self._refusals(source):
            self._sftp.posix_rename(source, target)

    # ---- added for streamed downloads (servers/files/transfer.py) ----

    def read_windowed(self, path: str, *, chunk_size: int = CHUNK, window: int = READ_WINDOW):
        """The file's bytes in chunks, read ahead at most `window` bytes: `read` prefetches the whole
        file, and paramiko's prefetch, when the reader catches up with its request thread (a busy CPU),
        ends early and keeps every later answer in memory (measured: a 300 MB download held whole). So
        each window is its own handle (its answers go with it); the file must keep its size and mtime
        from one window to the next (else FileRefused: it changed during the download)."""
        first = self.stat(path)
        position = 0
        while position < first.size:
            end = min(position + window, first.size)
            with self._refusals(path):
                handle = self._sftp.open(path, "rb")
            try:
                with self._refusals(path):
                    now = handle.stat()
                    if (now.st_size, float(now.st_mtime or 0)) != (first.size, first.modified):
                        raise FileRefused(FileRefused.FAILED, path, "the file changed during the download")
                    handle.seek(position)
                    handle.prefetch(end)
                    while position < end:
                        chunk = handle.read(min(chunk_size, end - position))
                        if not chunk:
                            raise FileRefused(FileRefused.FAILED, path, "the file shrank during the download")
                        position += len(chunk)
                        yield chunk
            finally:
                with contextlib.suppress(Exception):
                    handle.close()


class Files:
    """The files half of NodeClient (mixed into it; `self.guard`, `self._api`, `has_image` from the others)."""

    def files_stream(self, helper: FilesHelper, *, timeout: float | None = None) -> ExecStream:
        """A raw SFTP stream to a new sftp-server in the server's helper; FilesHelperDown when there is
        no running helper. `timeout` bounds each read (None: wait as long as it takes, for the gateway)."""
        with self.guard("opening a files session", container=helper.name):
            try:
                exec_id = self._api.exec_create(
                    helper.name, [*_SFTP_ARGV, "-d", helper.mount], stdin=True, user=helper.owner
                )
                attached = self._api.exec_start(exec_id, socket=True, demux=False)
            except docker.errors.NotFound as exc:
                raise FilesHelperDown(helper.name) from exc
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # "container … is not running"
                    raise FilesHelperDown(helper.name) from exc
                raise
        return ExecStream(attached, timeout=timeout)

    def files_session(self, helper: FilesHelper) -> FileSession:
        """An SFTP session to the server's helper (FilesHelperDown when it is not running)."""
        stream = self.files_stream(helper, timeout=settings.NODE_TIMEOUT_SECONDS)
        try:
            with self.guard("opening a files session", container=helper.name):
                return FileSession(self.node.name, stream)
        except BaseException:
            stream.close()
            raise

    def start_files_helper(self, helper: FilesHelper) -> None:
        """(Re)create and start the server's helper. The caller has checked `helper.source` on the node
        (servers.mounts): the engine follows links in a bind mount's source, never inside it."""
        tag = image_tag(helper.owner)
        if not self.has_image(tag):
            with self.guard("importing the files image"):
                repository, version = tag.split(":")
                self._api.import_image_from_data(
                    image_archive(helper.owner),
                    repository=repository,
                    tag=version,
                    changes=[f'LABEL {HELPER_LABEL}.image="1"'],
                )
        self.remove_container(helper.name)
        spec = {
            "image": tag,
            "name": helper.name,
            # The idle main process: sftp-server on a stdin that stays open and never speaks.
            "command": [SFTP_SERVER, "-e", "-l", "ERROR"],
            "entrypoint": [],
            "environment": {},
            "working_dir": helper.mount,
            "user": helper.owner,
            "stdin_open": True,
            "stdin_once": False,
            "labels": {HELPER_LABEL: helper.server_id, "hearth.role": "files"},
            "volumes": {helper.source: {"bind": helper.mount, "mode": "rw"}},
            "mem_limit": 128 * 1024 * 1024,
            "memswap_limit": 128 * 1024 * 1024,
            "nano_cpus": 1_000_000_000,
            "pids_limit": 64,
            "blkio_weight": None,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "init": False,
            "read_only": True,
            "restart_policy": {"Name": "no"},
            "log_config": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
            "network_mode": "none",
        }
        self.create_container(spec)
        self.start_container(helper.name)

    def files_helpers(self) -> list:
        """The helper containers on this node (ContainerStates; the server's uuid in labels[HELPER_LABEL])."""
        return self.list_containers(labels=[HELPER_LABEL])


class SeekableReader:
    """A file open for reading in a FileSession (FileSession.open_reader): its refusals are
    FileRefused and a broken stream NodeUnavailable, as for the session's other operations."""

    def __init__(self, path: str, handle, *, refusals):
        self._path, self._handle, self._refusals = path, handle, refusals  # refusals: the session's

    def read(self, size: int) -> bytes:  # always a size: never the whole file at once
        with self._refusals(self._path):
            return self._handle.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        with self._refusals(self._path):
            self._handle.seek(offset, whence)
            return self._handle.tell()

    def tell(self) -> int:
        return self._handle.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._handle.close()
