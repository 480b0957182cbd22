"""Byte plumbing for archives, so that neither a file nor an archive is ever held whole in memory.

- `Pipe`: tarfile and zipfile write an archive into it from a producer thread; FileSession.write
  takes the chunks out in the caller's thread (a bounded queue between the two).
- `ChunkReader`: a file-like `read(n)` over a generator of chunks (FileSession.read), for tarfile,
  gzip and zstandard, which want a file.
- `Guarded`: a forward-only reader in front of tarfile and zipfile when they read an archive: it
  counts the bytes they take (a decompression bomb is stopped while it streams, whatever its headers
  claim) and refuses any single read larger than `max_read` (a hostile pax header or zip central
  directory that claims gigabytes would otherwise be read into memory in one go).
"""

import queue
import threading

from config.errors import InvalidInput

CHUNK = 256 * 1024


class Cancelled(Exception):
    """The consumer gave up (its write failed): the producer stops where it is."""


class _End:
    def __init__(self, error: BaseException | None):
        self.error = error


class Pipe:
    """Written by one thread (the archive's writer), read as chunks by another (FileSession.write)."""

    def __init__(self, depth: int = 8):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._buffer = bytearray()
        self.cancelled = threading.Event()

    # -- the producer's side (a file object for tarfile, gzip and zipfile) --

    def write(self, data) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self, error: BaseException | None = None) -> None:
        """The archive is complete (or failed with `error`): the consumer's generator ends (or raises)."""
        try:
            if self._buffer and error is None:
                self._put(bytes(self._buffer))
            self._put(_End(error))
        except Cancelled:
            pass

    def _put(self, item) -> None:
        while True:
            if self.cancelled.is_set():
                raise Cancelled()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # -- the consumer's side --

    def chunks(self):
        """The archive's bytes as they are produced; the producer's error, if it failed, is raised here."""
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item


class ChunkReader:
    """`read(n)` over an iterator of byte chunks: exactly n bytes unless the chunks end first."""

    def __init__(self, chunks, *, on_read=None):
        self._chunks = iter(chunks)
        self._buffer = b""
        self._on_read = on_read  # told the size of every chunk taken (progress)
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("read() needs a size: archives are never read whole")
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            if self._on_read:
                self._on_read(len(chunk))
            self._buffer += chunk
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        self.position += len(out)
        return out

    def readable(self) -> bool:
        return True


class Guarded:
    """A forward-only view of a (decompressed) archive stream for tarfile's "r:" mode and zipfile:
    reads are counted against `max_total` and each is at most `max_read`; seeking forward reads and
    discards (counted too), seeking back is possible only on a seekable `inner` (zip)."""

    def __init__(self, inner, *, max_total: int, max_read: int, too_much: str, length: int | None = None):
        self._inner, self.length = inner, length  # length: of a seekable `inner` (zip's archive)
        self._max_total, self._max_read, self._too_much = max_total, max_read, too_much
        self._seekable = bool(getattr(inner, "seekable", lambda: False)())
        self.position = 0
        self.total = 0  # bytes taken out of `inner`, however they were used

    def read(self, size: int = -1) -> bytes:
        if (size is None or size < 0) and self.length is not None:
            size = self.length - self.position  # zipfile reads its end record "to the end"
        if size is None or size < 0 or size > self._max_read:
            raise InvalidInput(
                "The archive asks to read a header or directory larger than "
                f"{self._max_read // (1024 * 1024)} MB at once: it is damaged or hostile, so nothing was extracted."
            )
        data = self._inner.read(size)
        self.total += len(data)
        if self.total > self._max_total:
            raise InvalidInput(self._too_much)
        self.position += len(data)
        return data

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return True  # tarfile and zipfile ask; a forward seek on a stream is a read

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self.position
        if self._seekable:
            self.position = self._inner.seek(offset, whence if whence != 1 else 0)
            return self.position
        if whence == 2 or offset < self.position:
            raise InvalidInput(
                "The archive's entries are out of order: it is damaged, so nothing was extracted."
            )
        while self.position < offset:
            if not self.read(min(CHUNK, offset - self.position)):
                break
        return self.position

    def readable(self) -> bool:
        return True
