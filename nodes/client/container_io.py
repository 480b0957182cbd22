"""What goes in and out of containers: stdin, output, events, stats and single files."""

import contextlib
import io
import posixpath
import tarfile
import time

from nodes.client.errors import _TRANSPORT_ERRORS, FileTooLarge, NodeUnavailable, NotARegularFile
from nodes.client.sdk import archive_response, events_response, logs_response, raw_socket
from nodes.client.streams import LiveLog, Stream, _demultiplex
from nodes.client.types import ContainerEvent, ContainerStats

# Go's os.ModeType (dir, symlink, named pipe, socket, device, char device, irregular): the engine's
# path stat gives a Go FileMode, where a regular file has none of these bits.
_GO_MODE_TYPE = (1 << 31) | (1 << 27) | (1 << 25) | (1 << 24) | (1 << 26) | (1 << 21) | (1 << 19)
_TAR_OVERHEAD = 64 * 1024  # headers (long names take a PAX header), padding and the end blocks


class StdinAttach:
    """A container's stdin, attached: `send` writes to the game's console input, `close` detaches."""

    def __init__(self, client, container: str, attached):
        self.client, self.container, self._attached = client, container, attached

    def send(self, data: bytes) -> None:
        """NodeUnavailable when the attach broke (the container restarted, say). Unlike `guard`, the
        node's connection is kept: one stale attach says nothing of the events and logs streams on it."""
        try:
            raw_socket(self._attached).sendall(data)
        except _TRANSPORT_ERRORS as exc:
            reason = str(exc) or exc.__class__.__name__
            raise NodeUnavailable(self.client.node.name, f"sending to the console failed: {reason}") from exc

    def close(self) -> None:
        """Close the wrapper too, or the connection lingers until garbage collection."""
        with contextlib.suppress(Exception):
            self._attached.close()


class ContainerIO:
    """The input/output half of NodeClient (mixed into it; `self.guard` and `self._api` from ClientBase)."""

    def attach_stdin(self, container: str) -> StdinAttach:
        with self.guard("attaching to the console", container=container):
            attached = self._api.attach_socket(container, params={"stdin": 1, "stream": 1})
        return StdinAttach(self, container, attached)

    def follow_events(self, *, labels: list[str], since: float) -> Stream:
        """Container events of containers with all of `labels`, as ContainerEvents, from `since` (unix time)."""
        filters = {"type": "container", "label": labels}
        with self.guard("following events"):
            events = self._api.events(decode=True, filters=filters, since=since)
        items = (ContainerEvent.from_engine(event, now=time.time()) for event in events)
        return Stream(items, events_response(events))

    def follow_logs(
        self, container: str, since: float | str, *, timestamps: bool = False, until: str | None = None
    ) -> Stream:
        """A container's stdout and stderr from `since` on (unix seconds; a string keeps nanoseconds
        exact, as "1764000000.123456789"), as written: lists of (1 or 2, payload); followed while it
        runs, or, with `until`, only what the log holds before that time. With `timestamps`, each
        payload starts with the engine's RFC 3339 time of that output and a space."""
        with self.guard("following the console", container=container):
            response = logs_response(self._api, container, _log_params(since, timestamps, until))
        return Stream(_demultiplex(response), response)

    def live_logs(self, container: str, since: str) -> LiveLog:
        """follow_logs with timestamps, for one thread that reads many containers' output through a
        selector (servers/monitor/reader.py) rather than a thread blocked on each."""
        with self.guard("following the console", container=container):
            response = logs_response(self._api, container, _log_params(since, True, None))
            try:
                return LiveLog(response)
            except Exception:
                response.close()
                raise

    def stats(self, container: str) -> ContainerStats:
        """One sample of the container's resource use."""
        with self.guard("sampling stats", container=container):
            return ContainerStats.from_engine(self._api.stats(container, stream=False, one_shot=True))

    def put_file(self, container: str, path: str, data: bytes, *, owner: str, mode: int = 0o644) -> None:
        """Write a file into a container's filesystem (through the engine: a symlink resolves inside the
        container, never on the host); `owner` is "uid:gid"."""
        uid, gid = (int(part) for part in owner.split(":"))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(posixpath.basename(path))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, int(time.time())
            archive.addfile(info, io.BytesIO(data))
        with self.guard(f"writing {path}", container=container):
            self._api.put_archive(container, posixpath.dirname(path), buffer.getvalue())

    def copy_into(self, container: str, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Copy a file into a created (not yet started) container, making its directories: the archive
        is unpacked at the container's root, so `path` may name directories the image lacks (the engine
        makes them, root's, 0755). Through the engine, as put_file: a link in the image resolves inside
        the container. Root owns the file; `mode` says who else may read it."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(posixpath.normpath(path).lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
        with self.guard(f"copying {path} in", container=container):
            self._api.put_archive(container, "/", buffer.getvalue())

    def read_container_file(self, container: str, path: str, *, limit: int) -> bytes | None:
        """The bytes of a regular file in a container's filesystem (a stopped container too), or None
        when it is missing. The engine's stat of the path comes before the archive's first byte: a file
        over `limit` raises FileTooLarge unread (a sparse 8 GB file would otherwise stream 8 GB of
        zeros), and nothing beyond `limit` is read even if it grew since. A directory, link or device
        raises NotARegularFile (never followed, never read). One request (a HEAD first took another
        15 ms of a start: each call mounts a stopped container's filesystem)."""
        with self.guard(f"reading {path}", container=container):
            found = archive_response(self._api, container, path)
            if found is None:
                return None
            stat, response = found
            try:
                if stat.get("mode", 0) & _GO_MODE_TYPE:
                    raise NotARegularFile(path)
                if stat.get("size", 0) > limit:
                    raise FileTooLarge(path, stat["size"], limit)
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


def _log_params(since: float | str, timestamps: bool, until: str | None) -> dict:
    params = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(until is None),
        "since": since if isinstance(since, str) else f"{since:.6f}",
        "timestamps": int(timestamps),
    }
    if until is not None:
        params["until"] = until
    return params


def _read_at_most(response, size: int) -> bytes | None:
    """The whole body when it is at most `size` bytes; None (and the rest unread) when longer."""
    data = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        data += chunk
        if len(data) > size:
            return None
    return bytes(data)
