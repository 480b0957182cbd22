"""Reading archives (tar, tar.gz, tar.zst, zip) and extracting them through a FileSession.

Every entry is written through the helper's sftp-server, so containment holds by construction; on
top of that an entry is refused by rule before anything is written:
- an absolute name, a `..` component or a backslash fails the whole extraction, naming the entry
  (an archive like that is hostile or broken; nothing of it is kept);
- symbolic links and hard links are never created, device files and fifos never made: they are
  skipped and reported in the job's log (so no archive can plant a link that a later entry, or a
  later archive, writes through);
- names starting with `.hearth-` (our temporary files) are skipped.
Limits, enforced while streaming (never from the headers' claims alone): bytes written
(FILES_EXTRACT_MAX_BYTES), entries (FILES_EXTRACT_MAX_ENTRIES), bytes written per byte of archive
(FILES_EXTRACT_MAX_RATIO), the disk limit (servers/files/quota.py), and the decompressed stream
itself (a bomb of skipped entries stops too).
"""

import gzip
import io
import posixpath
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field

import zstandard
from django.conf import settings

from config.errors import InvalidInput
from servers.files.archives_stream import CHUNK, ChunkReader, Guarded

MB = 1024 * 1024
FORMATS = ("tar", "tar.gz", "tar.zst", "zip")
MAX_HEADER_READ = 16 * MB  # the most tarfile/zipfile may read at once (a pax header, a central directory)
ZSTD_MAX_WINDOW = 32 * MB  # zstd levels up to 19 use 8 MB; a hostile frame could ask for gigabytes
OURS = ".hearth-"  # temporary files and extraction directories (FileSession.write, archives)


KINDS = ("dir", "file", "symlink", "hardlink", "special")


@dataclass
class Member:
    """One entry of an archive, whatever the format: `open()` gives a reader of a file's bytes."""

    name: str
    kind: str  # one of KINDS
    size: int = 0
    mode: int = 0o644
    open: object = None


@dataclass
class Limits:
    max_bytes: int
    max_entries: int
    max_ratio: int

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            max_bytes=settings.FILES_EXTRACT_MAX_BYTES,
            max_entries=settings.FILES_EXTRACT_MAX_ENTRIES,
            max_ratio=settings.FILES_EXTRACT_MAX_RATIO,
        )


# ---- formats ---------------------------------------------------------------------------------------


def looks_like_tar(block: bytes) -> bool:
    return len(block) >= 512 and (block[257:262] == b"ustar" or block[:512] == bytes(512))


def detect(head: bytes) -> str | None:
    """The archive's format from its first bytes (the extension is not trusted); None: not one we read."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        try:
            inner = zlib.decompressobj(31).decompress(head, 512)
        except zlib.error:
            return None
        return "tar.gz" if looks_like_tar(inner) else None
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        try:
            reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
                io.BytesIO(head)
            )
            inner = reader.read(512)
        except zstandard.ZstdError:
            return None
        return "tar.zst" if looks_like_tar(inner) else None
    return "tar" if looks_like_tar(head) else None


def _stream_cap(limits: Limits, archive_size: int) -> int:
    """How much decompressed stream we read at most: what may be written, plus room for headers."""
    return min(limits.max_bytes, limits.max_ratio * archive_size) + 8 * MB


def tar_members(read_session, path: str, fmt: str, limits: Limits, archive_size: int, on_read):
    """The entries of a tar (.gz, .zst) read as a stream from `path` (its file bytes only as you read)."""
    raw = ChunkReader(read_session.read(path), on_read=on_read)
    if fmt == "tar.gz":
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    elif fmt == "tar.zst":
        raw = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
            raw, read_across_frames=True
        )
    stream = Guarded(
        raw,
        max_total=_stream_cap(limits, archive_size),
        max_read=MAX_HEADER_READ,
        too_much=ratio_message(limits),
    )
    with _damaged("tar"):
        tar = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 - read member by member below
    while True:
        with _damaged("tar"):
            info = tar.next()
        if info is None:
            return
        tar.members.clear()  # we keep no index of what passed (an archive may hold 100,000 entries)
        yield Member(
            name=info.name,
            kind=_tar_kind(info),
            size=info.size,
            mode=info.mode,
            open=lambda info=info: tar.extractfile(info),
        )


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    return "file" if info.isreg() else "special"


def zip_members(read_session, path: str, limits: Limits, archive_size: int, on_read):
    """The entries of a zip, read through a seekable handle (its central directory is at the end)."""
    handle = read_session.open_reader(path)
    try:
        stream = Guarded(
            handle,
            max_total=2 * archive_size + MB,  # overlapping entries re-read the same bytes: a bomb
            max_read=MAX_HEADER_READ,
            too_much=ratio_message(limits),
            length=archive_size,
        )
        with _damaged("zip"):
            archive = zipfile.ZipFile(stream)
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise InvalidInput(entries_message(limits))
        for info in infos:
            if info.flag_bits & 0x1:
                raise InvalidInput(
                    f"The archive's entry {info.filename!r} is encrypted: that is not supported."
                )
            mode = info.external_attr >> 16
            yield Member(
                name=info.filename,
                kind=_zip_kind(info, mode),
                size=info.file_size,
                mode=stat.S_IMODE(mode) or 0o644,
                open=lambda info=info: _counting(archive.open(info), on_read, info.compress_size),
            )
    finally:
        handle.close()


def _zip_kind(info: zipfile.ZipInfo, mode: int) -> str:
    kind = stat.S_IFMT(mode)
    if info.is_dir() or kind == stat.S_IFDIR:
        return "dir"
    if kind == stat.S_IFLNK:
        return "symlink"
    return "file" if kind in (0, stat.S_IFREG) else "special"


def _counting(reader, on_read, compressed: int):
    """A zip entry's reader; progress counts its compressed size once it has been read."""
    on_read(compressed)
    return reader


class _damaged:
    """tarfile's and zipfile's own errors (and zlib's, zstd's) become a clear 400."""

    def __init__(self, fmt: str):
        self.fmt = fmt

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, InvalidInput):
            return False
        if isinstance(exc, (tarfile.TarError, zipfile.BadZipFile, zlib.error, zstandard.ZstdError, EOFError)):
            raise InvalidInput(f"The archive is damaged or not a {self.fmt} archive ({exc}).") from exc
        if isinstance(exc, (NotImplementedError, gzip.BadGzipFile)):
            raise InvalidInput(f"The archive uses something we cannot read ({exc}).") from exc
        return False


# ---- messages --------------------------------------------------------------------------------------


def ratio_message(limits: Limits) -> str:
    return (
        f"The archive expands to more than {limits.max_ratio} times its size or more than "
        f"{limits.max_bytes // MB} MB (FILES_EXTRACT_MAX_RATIO, FILES_EXTRACT_MAX_BYTES): it looks like a "
        "decompression bomb, so nothing was extracted."
    )


def entries_message(limits: Limits) -> str:
    return (
        f"The archive has more than {limits.max_entries} entries (FILES_EXTRACT_MAX_ENTRIES): "
        "nothing was extracted."
    )


# ---- extraction ------------------------------------------------------------------------------------


def entry_name(name: str) -> str | None:
    """The entry's path relative to the target ("a/b"), None for the archive's root ("./"); refuses
    (InvalidInput naming the entry) what would point outside the target or cannot be a name."""
    if name.startswith("/"):
        raise InvalidInput(f"The archive's entry {name!r} is an absolute path: nothing was extracted.")
    if "\\" in name or "\x00" in name:
        raise InvalidInput(
            f"The archive's entry {name!r} contains a backslash or a NUL byte: nothing was extracted."
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # tarfile keeps undecodable bytes as surrogates
        raise InvalidInput(
            f"The archive's entry {name!r} is not a UTF-8 name: nothing was extracted."
        ) from None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(
            f"The archive's entry {name!r} points outside the target with '..': nothing was extracted."
        )
    if any(len(part.encode()) > 255 for part in parts) or len(name) > 4096:
        raise InvalidInput(f"The archive's entry {name[:80]!r}… has a name too long: nothing was extracted.")
    return "/".join(parts) or None


@dataclass
class Extraction:
    """Writes an archive's entries under `root` (a fresh directory of our own) through `files`."""

    files: object  # FileSession (the writing one)
    root: str
    budget: object  # servers.files.quota.Budget
    limits: Limits
    archive_size: int
    on_written: object = None  # told each chunk's size
    denied: object = None  # (name, is a directory) -> bool: the template's denylist protects it
    written: int = 0
    entries: int = 0
    skipped: list = field(default_factory=list)
    _dirs: set = field(default_factory=set)
    _files: set = field(default_factory=set)

    def run(self, members) -> None:
        for member in members:
            self.entries += 1
            if self.entries > self.limits.max_entries:
                raise InvalidInput(entries_message(self.limits))
            name = entry_name(member.name)
            if name is None:
                continue
            if name.split("/")[0].startswith(OURS):
                self.skipped.append(f"{member.name} (a name Hearth keeps for its temporary files)")
            elif self.denied and self.denied(name, member.kind == "dir"):
                self.skipped.append(f"{member.name} (protected by the server's template: not extracted)")
            elif member.kind == "dir":
                self._directory(name, member.name)
            elif member.kind == "file":
                self._file(name, member)
            else:
                what = {"symlink": "a symbolic link", "hardlink": "a hard link"}.get(
                    member.kind, "a device or fifo"
                )
                self.skipped.append(f"{member.name} ({what}: not extracted)")

    def _directory(self, name: str, shown: str) -> None:
        if name in self._dirs:
            return
        if name in self._files:
            raise InvalidInput(
                f"The archive has {shown!r} as both a file and a directory: nothing was extracted."
            )
        parent = posixpath.dirname(name)
        if parent:
            self._directory(parent, shown)
        self.files.mkdir(posixpath.join(self.root, name), 0o755)
        self._dirs.add(name)

    def _file(self, name: str, member: Member) -> None:
        if name in self._dirs:
            raise InvalidInput(
                f"The archive has {member.name!r} as both a file and a directory: nothing was extracted."
            )
        parent = posixpath.dirname(name)
        if parent:
            self._directory(parent, member.name)
        with _damaged("tar or zip"):
            reader = member.open()
        # A duplicate name: the later entry replaces the earlier one, as tar and unzip do.
        self.files.write(
            posixpath.join(self.root, name), self._chunks(reader), mode=(member.mode & 0o777) | 0o600
        )
        self._files.add(name)

    def _chunks(self, reader):
        with _damaged("tar or zip"):
            while chunk := reader.read(CHUNK):
                self._spend(len(chunk))
                yield chunk

    def _spend(self, size: int) -> None:
        self.written += size
        if self.written > self.limits.max_bytes:
            raise InvalidInput(
                f"The archive expands to more than {self.limits.max_bytes // MB} MB "
                "(FILES_EXTRACT_MAX_BYTES): nothing was extracted."
            )
        if self.written > self.limits.max_ratio * self.archive_size:
            raise InvalidInput(
                f"The archive expands to more than {self.limits.max_ratio} times its size "
                "(FILES_EXTRACT_MAX_RATIO): it looks like a decompression bomb, so nothing was extracted."
            )
        self.budget.spend(size)
        if self.on_written:
            self.on_written(size)
