"""The archive a transfer sends, rebuilt by the panel member by member, and the manifest that proves it.

The source node's `tar` output is parsed, never passed through: every member is checked (a relative,
normal name inside a directory already sent, no name twice, nothing under a symlink, hardlinks only to
files already sent), stripped of owners and setuid bits, counted against the server's disk limit at
its apparent size (a sparse file counts at its full length, because that is what `tar` streams and
what the target writes), and written out afresh. The same walk over the target's copy, read back
through the node client, must give the same manifest: the target's own checksum is never believed.
"""

import hashlib
import io
import posixpath
import tarfile
from collections.abc import Iterable, Iterator

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
CHUNK = 256 * 1024
MB = 1024 * 1024
# A long name or a PAX record set is a few hundred bytes; tarfile reads one whole into memory.
HEADER_PAYLOAD_MAX = 64 * 1024
# What the stream may carry beyond what its members count (their long-name and PAX headers, padding).
HEADER_SLACK = 16 * MB

# What a member is, for comparing two trees: ("dir",), ("file", size, sha256), ("symlink", target).
Entry = tuple
Manifest = dict[str, Entry]


class ArchiveRefused(Exception):
    """The archive holds something a server's directory tree made by `tar -c` never does."""


class ArchiveTooLarge(Exception):
    """The files add up (at apparent size) to more than the server's disk limit."""

    def __init__(self, limit_bytes: int, at: str):
        self.limit_bytes, self.at = limit_bytes, at
        super().__init__(
            f"the server's files exceed its disk limit of {limit_bytes // MB} MB (sparse files count at "
            f"their full size; the limit was passed at '{at}')"
        )


class _BoundedTarInfo(tarfile.TarInfo):
    """A member whose long-name or PAX header is refused past HEADER_PAYLOAD_MAX, before tarfile reads
    the payload whole into memory (a hostile node could otherwise send one of gigabytes)."""

    def _refuse_large_payload(self) -> None:
        if self.size > HEADER_PAYLOAD_MAX:
            raise ArchiveRefused(f"a header of {self.size} bytes; real ones are a few hundred")

    def _proc_gnulong(self, tarfile):
        self._refuse_large_payload()
        return super()._proc_gnulong(tarfile)

    def _proc_pax(self, tarfile):
        self._refuse_large_payload()
        return super()._proc_pax(tarfile)


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks, for tarfile's stream mode, that refuses to read
    more than `max_bytes` in all (junk after the end blocks included)."""

    def __init__(self, chunks: Iterable[bytes], *, max_bytes: int | None = None):
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self._max_bytes, self._read = max_bytes, 0

    def _next(self) -> bytes | None:
        chunk = next(self._chunks, None)
        if chunk is not None:
            self._read += len(chunk)
            if self._max_bytes is not None and self._read > self._max_bytes:
                raise ArchiveTooLarge(self._max_bytes - HEADER_SLACK, "the archive's headers and trailer")
        return chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._next()
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        """Read the source to its end, so that its command's exit status is checked."""
        while self._next() is not None:
            pass


def _relative_name(raw: str) -> str:
    """'./world/region' → 'world/region'; '.' or './' → '' (the root). Anything else odd is refused."""
    name = raw.rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    if name == ".":
        name = ""
    if name.startswith("/") or (name and posixpath.normpath(name) != name):
        raise ArchiveRefused(f"member '{raw}' is not a plain relative path")
    if ".." in name.split("/"):
        raise ArchiveRefused(f"member '{raw}' climbs out of the server's directory")
    return name


class TreeWalk:
    """Walks one tar stream, enforcing the tree rules and building its manifest as it goes."""

    def __init__(self, *, limit_bytes: int | None = None):
        self.limit_bytes = limit_bytes
        self.manifest: Manifest = {}
        self.apparent_bytes = 0
        self.skipped = 0  # devices and FIFOs: left out, but counted (a million FIFOs take no block)
        self._dirs = {""}

    def _check_place(self, name: str) -> None:
        if name in self.manifest or name == "":
            raise ArchiveRefused(f"member '{name or '.'}' appears twice")
        parent = posixpath.dirname(name)
        if parent not in self._dirs:
            # Covers a name under a symlink or a file too: only directories sent earlier hold members.
            raise ArchiveRefused(f"member '{name}' is not inside a directory sent before it")

    def _count(self, name: str, size: int) -> None:
        self.apparent_bytes += size
        if self.limit_bytes is not None and self.apparent_bytes > self.limit_bytes:
            raise ArchiveTooLarge(self.limit_bytes, name)

    def members(self, chunks: Iterable[bytes]) -> Iterator[tuple[tarfile.TarInfo, Iterator[bytes]]]:
        """Yield (clean member, its data chunks) for each member worth sending; read the data before
        asking for the next member. The digest of a file is recorded once its data has been read."""
        cap = None if self.limit_bytes is None else self.limit_bytes + HEADER_SLACK
        reader = _ChunkReader(chunks, max_bytes=cap)
        with tarfile.open(
            fileobj=io.BufferedReader(reader, CHUNK),
            mode="r|",
            encoding="utf-8",
            errors="surrogateescape",
            tarinfo=_BoundedTarInfo,
        ) as archive:
            for member in archive:
                name = _relative_name(member.name)
                if name == "":
                    if not member.isdir():
                        raise ArchiveRefused("the archive's root is not a directory")
                    continue  # the target directory is the panel's to create, with the panel's mode
                if member.ischr() or member.isblk() or member.isfifo():
                    self._count(name, BLOCK)  # no data to move; a game's FIFO is recreated by the game
                    self.skipped += 1
                    continue
                self._check_place(name)
                # Headers count too, so the stream itself stays within the limit, however many files.
                self._count(name, BLOCK + (member.size if member.isreg() else 0))
                clean = self._clean(member, name)
                yield clean, self._data(archive, member, clean)
        reader.drain()

    def _clean(self, member: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
        clean = tarfile.TarInfo(name)
        clean.mtime = int(member.mtime)
        clean.mode = member.mode & 0o777  # never setuid, setgid or sticky on the target
        if member.isdir():
            clean.type = tarfile.DIRTYPE
            self._dirs.add(name)
            self.manifest[name] = ("dir",)
        elif member.issym():
            clean.type, clean.linkname = tarfile.SYMTYPE, member.linkname
            self.manifest[name] = ("symlink", member.linkname)
        elif member.islnk():
            target = _relative_name(member.linkname)
            entry = self.manifest.get(target)
            if entry is None or entry[0] != "file" or entry[2] is None:
                raise ArchiveRefused(
                    f"hardlink '{name}' points at '{member.linkname}', not a file sent before it"
                )
            clean.type, clean.linkname = tarfile.LNKTYPE, target
            self.manifest[name] = entry  # the same content, wherever tar put the link
        elif member.isreg():
            clean.type, clean.size = tarfile.REGTYPE, member.size
            self.manifest[name] = ("file", member.size, None)  # the digest follows once the data is read
        else:
            raise ArchiveRefused(f"member '{name}' has a type a server's files never have ({member.type!r})")
        return clean

    def _data(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, clean: tarfile.TarInfo
    ) -> Iterator[bytes]:
        if clean.type != tarfile.REGTYPE:
            return
        digest = hashlib.sha256()
        source = archive.extractfile(member)
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            yield chunk
        self.manifest[clean.name] = ("file", clean.size, digest.hexdigest())

    def rebuilt(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The archive to send: each clean member's header and data, padded, then the end blocks."""
        sent = 0
        for clean, data in self.members(chunks):
            header = clean.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
            sent += len(header)
            yield header
            for chunk in data:
                sent += len(chunk)
                yield chunk
            if clean.size % BLOCK:
                padding = BLOCK - clean.size % BLOCK
                sent += padding
                yield bytes(padding)
        end = 2 * BLOCK
        end += -(sent + end) % RECORD
        yield bytes(end)

    def read_all(self, chunks: Iterable[bytes]) -> Manifest:
        """Walk an archive only for its manifest (the target's copy, read back)."""
        for _clean, data in self.members(chunks):
            for _ in data:
                pass
        return self.manifest


def differences(expected: Manifest, found: Manifest, *, limit: int = 3) -> list[str]:
    """What the copy lacks, has extra or has changed, as short phrases (the first `limit` of each)."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(name for name in set(expected) & set(found) if expected[name] != found[name])
    phrases = []
    for label, names in (("missing", missing), ("unexpected", extra), ("different", changed)):
        if names:
            more = f" and {len(names) - limit} more" if len(names) > limit else ""
            phrases.append(f"{label}: {', '.join(names[:limit])}{more}")
    return phrases
