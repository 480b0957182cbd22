"""Writing an archive (tar.gz or zip) of a server's files, streamed: files are read through one
FileSession in a producer thread, the archive is written through another by FileSession.write
(temporary name, renamed when complete), never whole in memory.

What goes in: the given paths, directories walked without following symlinks. In tar.gz a symlink
is stored as a symlink entry (its target as written); zip has no portable symlink entry, so a zip
skips them (reported). Device files, fifos and sockets are skipped; so are names starting with
`.hearth-` (our temporary files: an archive being written beside its own sources never includes
itself). A file that vanished between the walk and its read is skipped (reported); one that shrank
is padded with zeros, one that grew is cut at the size the walk saw (tar headers state the size
before the bytes).
"""

import gzip
import itertools
import posixpath
import stat
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass

from config.errors import InvalidInput
from nodes.client import FileEntry, FileRefused
from servers.files.archives_extract import OURS
from servers.files.archives_stream import CHUNK, Cancelled, ChunkReader, Pipe
from servers.files.denylist import protects

WRITE_FORMATS = ("tar.gz", "zip")
ZIP_EPOCH = 315532800  # 1980-01-01: zip cannot say earlier


@dataclass
class Source:
    path: str  # the helper's path
    name: str  # the entry's name in the archive
    entry: FileEntry
    link: str = ""


def format_for(name: str, given: str | None) -> str:
    """`format` when given, else from the archive's name (.tar.gz, .tgz, .zip)."""
    if given:
        if given not in WRITE_FORMATS:
            raise InvalidInput({"format": f"format must be one of {', '.join(WRITE_FORMATS)}."})
        return given
    lowered = name.lower()
    if lowered.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if lowered.endswith(".zip"):
        return "zip"
    raise InvalidInput(
        {"archiveName": "archiveName must end with .tar.gz, .tgz or .zip (or give format: tar.gz or zip)."}
    )


def walk(
    files, roots: list[tuple[str, str]], *, fmt: str, max_entries: int
) -> tuple[list[Source], list[str]]:
    """The entries to archive for `roots` ((helper path, name in the archive) pairs), and notes on what
    was skipped. Never follows a symlink."""
    sources: list[Source] = []
    notes: list[str] = []
    denied = protects(files)
    pending = [(path, name, files.lstat(path)) for path, name in reversed(roots)]
    while pending:
        path, name, entry = pending.pop()
        if entry.name.startswith(OURS):
            continue
        if name and denied(path, entry.is_directory):
            notes.append(f"{name} (protected by the server's template: not archived)")
            continue
        if not name:  # the server's root: its children are the archive's top level
            children = sorted(files.list(path), key=lambda child: child.name, reverse=True)
            pending.extend((posixpath.join(path, c.name), c.name, c) for c in children)
            continue
        if entry.is_symlink and fmt == "zip":
            notes.append(f"{name} (a symbolic link: zip archives do not hold them)")
            continue
        if not (entry.is_directory or entry.is_symlink or entry.is_regular):
            notes.append(f"{name} (a device, fifo or socket: not archived)")
            continue
        link = files.readlink(path) if entry.is_symlink else ""
        sources.append(Source(path, name, entry, link))
        if len(sources) > max_entries:
            raise InvalidInput(
                f"These paths hold more than {max_entries} entries (FILES_EXTRACT_MAX_ENTRIES): an archive "
                "that large could not be extracted again. Archive fewer files."
            )
        if entry.is_directory:
            children = sorted(files.list(path), key=lambda child: child.name, reverse=True)
            pending.extend((posixpath.join(path, c.name), f"{name}/{c.name}", c) for c in children)
    return sources, notes


class Packer:
    """Writes `sources` as one archive into a Pipe (run in a producer thread); `done` counts the bytes
    of files read so far (for progress), `notes` what was skipped on the way."""

    def __init__(self, files, sources: list[Source], fmt: str):
        self.files, self.sources, self.fmt = files, sources, fmt
        self.done = 0
        self.notes: list[str] = []

    def run(self, pipe: Pipe) -> None:
        error = None
        try:
            if self.fmt == "zip":
                self._zip(pipe)
            else:
                self._tar_gz(pipe)
        except Cancelled:
            return
        except BaseException as exc:  # the consumer raises it: the archive is never renamed into place
            error = exc
        pipe.finish(error)

    def _tar_gz(self, pipe: Pipe) -> None:
        compressed = gzip.GzipFile(fileobj=pipe, mode="wb", compresslevel=6, mtime=0)
        with tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for source in self.sources:
                info = tarfile.TarInfo(source.name)
                info.mode, info.mtime = source.entry.mode, int(source.entry.modified)
                if source.entry.is_directory:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif source.entry.is_symlink:
                    info.type, info.linkname = tarfile.SYMTYPE, source.link
                    tar.addfile(info)
                elif (chunks := self._opened(source)) is not None:
                    info.size = source.entry.size
                    tar.addfile(info, _Exact(chunks, info.size, self._count))
        compressed.close()

    def _zip(self, pipe: Pipe) -> None:
        with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for source in self.sources:
                when = time.gmtime(max(source.entry.modified, ZIP_EPOCH))[:6]
                if source.entry.is_directory:
                    info = zipfile.ZipInfo(f"{source.name}/", when)
                    info.external_attr = ((stat.S_IFDIR | source.entry.mode) << 16) | 0x10
                    archive.writestr(info, b"")
                elif (chunks := self._opened(source)) is not None:
                    info = zipfile.ZipInfo(source.name, when)
                    info.external_attr = (stat.S_IFREG | source.entry.mode) << 16
                    info.compress_type, info.file_size = zipfile.ZIP_DEFLATED, source.entry.size
                    reader = _Exact(chunks, source.entry.size, self._count)
                    with archive.open(info, "w", force_zip64=source.entry.size >= 2**31) as out:
                        while chunk := reader.read(CHUNK):
                            out.write(chunk)

    def _opened(self, source: Source):
        """The file's chunks, or None (noted) when it vanished since the walk."""
        chunks = self.files.read(source.path)
        try:
            first = next(chunks, b"")
        except FileRefused as exc:
            if exc.reason != FileRefused.MISSING:
                raise
            self.notes.append(f"{source.name} (removed while archiving)")
            return None
        return itertools.chain([first], chunks)

    def _count(self, size: int) -> None:
        self.done += size


class _Exact(ChunkReader):
    """A file's chunks as exactly `size` bytes: cut if it grew, padded with zeros if it shrank."""

    def __init__(self, chunks, size: int, on_read):
        super().__init__(chunks, on_read=on_read)
        self._left = size

    def read(self, size: int = -1) -> bytes:
        size = min(size, self._left)
        data = super().read(size)
        if len(data) < size:
            data += bytes(size - len(data))
        self._left -= len(data)
        return data


def start(packer: Packer, pipe: Pipe) -> threading.Thread:
    thread = threading.Thread(target=packer.run, args=(pipe,), daemon=True, name="archive-packer")
    thread.start()
    return thread
