"""Uploads and downloads, streamed: a file's bytes go between the client and the server's helper
(nodes/client/files.py) a chunk at a time, never whole in the panel's memory nor on its disk.

Upload: a multipart/form-data body read incrementally (python-multipart's push parser, turned into a
pull iterator of parts here), each file written through FileSession.write (temporary name, renamed
only once complete: a broken upload leaves nothing). Under ASGI the body comes from
servers/files/upload_asgi.py, which feeds it from the ASGI receive loop with backpressure.
Download: an async iterator (under ASGI Django reads a sync iterator whole before sending it) fed by a
thread that reads the file from the session, through a bounded queue.
"""

import asyncio
import contextlib
import posixpath
import threading
import unicodedata
from collections import deque
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.utils.http import content_disposition_header
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound, TooLarge
from nodes.client import FileRefused
from servers.files import paths, quota
from servers.files.denylist import check_readable
from servers.files.helper import open_session, session
from servers.models import Server

READ_SIZE = 256 * 1024  # bytes read from the request body at a time
FRAMING = 64 * 1024  # what a multipart body adds to its files' bytes, at most, for the up-front checks
MAX_FIELD = 8192  # a form field other than a file (the target path)
MAX_FILES = 100  # file parts in one upload (each is a write on the node and an audit row)
QUEUE_CHUNKS = 8  # download read-ahead: chunks of 256 KB waiting for the client, at most


def refused(exc: FileRefused, mount: str) -> Exception:
    """A helper's refusal in the domain's words, naming the customer's path."""
    where = paths.outside(mount, exc.path)
    if exc.reason == FileRefused.MISSING:
        return NotFound(f"No such file or directory: {where}")
    if exc.reason == FileRefused.EXISTS:
        return IllegalTransition(f"{where} already exists.")
    if exc.reason == FileRefused.DENIED:
        return NotAllowed(f"The server's user may not write {where} (permission denied).")
    return InvalidInput(f"{where}: {exc.detail or 'the operation failed'}.")


# ---- upload -------------------------------------------------------------------------------------


@dataclass
class Part:
    """One part of a multipart body: its form field `name`, `filename` for a file, and its bytes."""

    name: str
    filename: str | None
    _events: object = field(repr=False)
    _done: bool = False

    def chunks(self):
        for kind, data in self._events:
            if kind == "end":
                self._done = True
                return
            yield data

    def text(self, limit: int = MAX_FIELD) -> str:
        value = b""
        for chunk in self.chunks():
            value += chunk
            if len(value) > limit:
                raise InvalidInput({self.name: f"{self.name} is longer than {limit} bytes."})
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput({self.name: f"{self.name} is not UTF-8 text."}) from None

    def drain(self) -> None:
        if not self._done:
            for _ in self.chunks():
                pass


class MultipartReader:
    """The parts of a multipart/form-data body, read from `read(n)` as they are consumed."""

    def __init__(self, content_type: str, read, *, limit: int):
        kind, options = parse_options_header(content_type or "")
        if kind != b"multipart/form-data" or not options.get(b"boundary"):
            raise InvalidInput("Send the files as multipart/form-data (a 'file' part per file, and 'path').")
        self._read, self._queue, self._ended = read, deque(), False
        self._limit, self._total = limit, 0  # every byte of the body, fields and framing too
        self._header, self._headers = [b"", b""], {}
        self._parser = MultipartParser(
            options[b"boundary"],
            callbacks={
                "on_part_begin": self._headers.clear,
                "on_header_field": lambda d, s, e: self._add_header(0, d[s:e]),
                "on_header_value": lambda d, s, e: self._add_header(1, d[s:e]),
                "on_header_end": self._end_header,
                "on_headers_finished": lambda: self._queue.append(("part", dict(self._headers))),
                "on_part_data": lambda d, s, e: self._queue.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._queue.append(("end", None)),
                "on_end": self._end,
            },
        )

    def _add_header(self, index: int, data: bytes) -> None:
        self._header[index] += data

    def _end_header(self) -> None:
        name, value = self._header
        self._headers[name.strip().lower()] = value.strip()
        self._header = [b"", b""]

    def _end(self) -> None:
        self._ended = True

    def _events(self):
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._ended:
                return
            chunk = self._read(READ_SIZE)
            if not chunk:
                raise InvalidInput("The upload ended before its last part: it was cut off.")
            self._total += len(chunk)
            if self._total > self._limit + FRAMING:
                raise too_large(self._limit)
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidInput(f"The multipart body is malformed: {exc}") from exc

    def parts(self):
        events = self._events()
        for kind, headers in events:
            if kind != "part":
                continue
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            filename = options.get(b"filename")
            part = Part(
                name=options.get(b"name", b"").decode("utf-8", errors="replace"),
                filename=None if filename is None else filename.decode("utf-8", errors="replace"),
                _events=events,
            )
            yield part
            part.drain()


class Meter:
    """Counts an upload's file bytes against the upload cap (413, naming it) as they arrive."""

    def __init__(self, cap: int):
        self.cap, self.total = cap, 0

    def count(self, chunks):
        for chunk in chunks:
            self.total += len(chunk)
            if self.total > self.cap:
                raise too_large(self.cap)
            yield chunk


def too_large(cap: int) -> TooLarge:
    return TooLarge(
        f"An upload may carry at most {cap // (1024 * 1024)} MB ({cap} bytes) of files "
        "(HEARTH_FILES_UPLOAD_MAX_BYTES): send large files one at a time, or pull them from a URL."
    )


def check_upload_size(content_length) -> None:
    """Refuse at once a body that says it is over the cap (before any byte is read)."""
    cap = settings.FILES_UPLOAD_MAX_BYTES
    try:
        length = int(content_length or 0)
    except ValueError:
        raise InvalidInput("Content-Length is not a number.") from None
    if length > cap + FRAMING:
        raise too_large(cap)


def release_database() -> None:
    """Give this thread's database connection back to the pool before a transfer that lasts as long
    as the client wants: ten slow uploads or downloads would otherwise hold the whole pool (the next
    query takes one again). Not inside a transaction, which needs its connection."""
    if not connection.in_atomic_block:
        connection.close()


def upload_files(*, server: Server, request, read, content_type: str, content_length) -> list[str]:
    """Write each `file` part of the body into the directory named by the `path` part (or the query's
    `path`; the form field must come before the files); the customer's paths written."""
    check_upload_size(content_length)
    cap = settings.FILES_UPLOAD_MAX_BYTES
    reader = MultipartReader(content_type, read, limit=cap)  # no form: refused before the node is asked
    length = int(content_length or 0)
    budget = quota.budget(server, incoming=max(length - FRAMING, 0))
    meter = Meter(cap)
    directory = request.query_params.get("path")
    written: list[str] = []
    mount = server.template.data_path
    with session(server) as files:
        try:
            for part in reader.parts():
                if part.name == "path":
                    if written:
                        raise InvalidInput({"path": "Send the path field before the files."})
                    directory = part.text()
                elif part.name == "file":
                    if len(written) >= MAX_FILES:
                        raise InvalidInput({"file": f"An upload carries at most {MAX_FILES} files."})
                    target = _target(files, mount, directory, part)
                    release_database()
                    size = files.write(
                        paths.inside(mount, target), budget.metered(meter.count(part.chunks()))
                    )
                    written.append(target)
                    audit("file.upload", request=request, resource=server, path=target, size=size)
        except FileRefused as exc:
            raise refused(exc, mount) from exc
    if not written:
        raise InvalidInput({"file": "No file in the upload: send each file as a 'file' part."})
    return written


def _target(files, mount: str, directory, part: Part) -> str:
    """The customer's path for a file part: its filename (one name, no '/') in `directory`."""
    directory = paths.clean("/" if directory in (None, "") else directory)
    if part.filename is None:
        raise InvalidInput({"file": "A 'file' part has no filename."})
    name = paths.name(part.filename, field="filename")
    if not files.stat(paths.inside(mount, directory)).is_directory:
        raise InvalidInput({"path": f"{directory} is not a directory."})
    return posixpath.join(directory, name)


# ---- download -----------------------------------------------------------------------------------


def download_name(path: str) -> str:
    """The file's name for Content-Disposition: control characters (a header break) replaced."""
    name = posixpath.basename(path) or "download"
    return "".join("_" if unicodedata.category(c).startswith("C") else c for c in name)


def attachment(path: str) -> str:
    """Content-Disposition for `path` (RFC 6266, with RFC 5987's filename* for a non-ASCII name)."""
    return content_disposition_header(True, download_name(path))


class Download:
    """A file being sent: an open session, its size (lstat) and an async iterator of its bytes."""

    def __init__(self, files, path: str, size: int):
        self.files, self.path, self.size = files, path, size
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop reading and close the session (the client left, or the response was closed)."""
        self._stop.set()
        self.files.close()

    async def chunks(self):
        """The file's bytes, at most `size` of them; read in a thread, QUEUE_CHUNKS ahead of the client."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        reader = threading.Thread(target=self._read, args=(loop, queue), daemon=True, name="hearth-download")
        reader.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            while not queue.empty():  # unblock a reader waiting for room, so it sees the stop
                queue.get_nowait()
            await asyncio.to_thread(reader.join, 30)
            self.files.close()

    def _read(self, loop, queue) -> None:
        def put(item) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        left = self.size
        try:
            for chunk in self.files.read_windowed(self.path):
                if self._stop.is_set():
                    return
                chunk = chunk[:left]
                put(chunk)
                left -= len(chunk)
                if left <= 0:
                    break
            put(None)
        except BaseException as exc:  # handed to the event loop, which raises it in the response
            if not self._stop.is_set():
                put(exc)


def download_open(server: Server, path: str) -> Download:
    """Open `path` of `server` for a download: a regular file (else 400), present (else 404)."""
    path = paths.clean(path)
    mount = server.template.data_path
    files = open_session(server)
    try:
        try:
            entry = files.lstat(paths.inside(mount, path))
        except FileRefused as exc:
            raise refused(exc, mount) from exc
        if entry.is_directory:
            raise InvalidInput({"path": f"{path} is a directory: compress it, then download the archive."})
        if not entry.is_regular:
            raise InvalidInput({"path": f"{path} is not a regular file (a symbolic link or a device)."})
        check_readable(files, paths.inside(mount, path))  # before the answer's status is sent
        return Download(files, paths.inside(mount, path), entry.size)
    except BaseException:
        files.close()
        raise
