"""FileSession: the operations on one server's files, as SFTP to the sftp-server in its helper
container (nodes/client/files.py says why a container), with our own answers and errors."""

import contextlib
import errno
import posixpath
import stat
import uuid
from dataclasses import dataclass

import paramiko

from nodes.client.errors import NodeUnavailable
from nodes.client.files_stream import CHUNK, ExecStream

READ_WINDOW = 4 * 1024 * 1024  # read, read_windowed: bytes asked for ahead of the reader, at most


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

    def read(self, path: str, *, offset: int = 0, chunk_size: int = CHUNK, window: int = READ_WINDOW):
        """The file's bytes in chunks from `offset` to its end, read ahead at most `window` bytes (see
        read_windowed: prefetching a whole file holds it whole in memory when the reader is slower than
        the node, as a compressing archive is). A file that grows or shrinks meanwhile is read as it
        is when each window starts."""
        position = offset
        while True:
            got = 0
            for chunk in self._window(path, position, chunk_size, window):
                got += len(chunk)
                yield chunk
            position += got
            if got < window:
                return

    def _window(self, path: str, position: int, chunk_size: int, window: int, *, expect=None):
        """One handle's worth: up to `window` bytes from `position` (fewer at the end of the file). With
        `expect` (a FileEntry), FileRefused when the file's size or mtime is no longer that."""
        with self._refusals(path):
            handle = self._sftp.open(path, "rb")
        try:
            with self._refusals(path):
                now = handle.stat()
                if expect is not None and (now.st_size, float(now.st_mtime or 0)) != (
                    expect.size,
                    expect.modified,
                ):
                    raise FileRefused(FileRefused.FAILED, path, "the file changed during the download")
                end = min(position + window, now.st_size)
                if end <= position:
                    return
                handle.seek(position)
                handle.prefetch(end)
                while position < end:
                    chunk = handle.read(min(chunk_size, end - position))
                    if not chunk:
                        if expect is not None:
                            raise FileRefused(FileRefused.FAILED, path, "the file shrank during the download")
                        return
                    position += len(chunk)
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

    def realpath(self, path: str) -> str:
        """`path` with every symlink resolved by sftp-server (so inside the helper); MISSING when a
        directory on the way does not exist (a missing last name is kept as it is)."""
        with self._refusals(path):
            return self._sftp.normalize(path)

    def readlink(self, path: str) -> str:
        with self._refusals(path):
            return self._sftp.readlink(path)

    def symlink(self, target: str, path: str) -> None:
        with self._refusals(path):
            self._sftp.symlink(target, path)

    # ---- archives: a seekable reader for zip, and rename over an existing file ----

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
        """The file's bytes in chunks, read ahead at most `window` bytes: prefetching the whole file, when
        the reader catches up with paramiko's request thread (a busy CPU), ends early and keeps every
        later answer in memory (measured: a 300 MB download held whole). So each window is its own
        handle (its answers go with it); the file must keep its size and mtime from one window to the
        next (else FileRefused: it changed during the download)."""
        first = self.stat(path)
        for position in range(0, first.size, window):
            yield from self._window(path, position, chunk_size, window, expect=first)


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
