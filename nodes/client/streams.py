"""Long-lived answers from an engine (events, logs): cut from any thread, and Docker's multiplexed log
frames read straight from the HTTP chunks."""

import contextlib

from nodes.client.sdk import nonblocking_body, shut_down, stop_reading

RECV_BYTES = 256 * 1024  # one read of a live log (a flood's backlog takes a few)
# Docker cuts a log line into entries of 16 KiB; a chunk or frame claiming more than this is not the
# engine's and ends the stream rather than making the panel buffer it.
MAX_FRAME_BYTES = 1024 * 1024


class Stream:
    """A long-lived answer from the engine (events, logs) that another thread can cut at any time."""

    def __init__(self, items, response):
        self.items, self.response = items, response

    def __iter__(self):
        return iter(self.items)

    def close(self) -> None:
        """Unblock the reading thread: shut the connection down (closing the response alone would not)."""
        with contextlib.suppress(Exception):
            shut_down(self.response)
        with contextlib.suppress(Exception):
            self.response.close()


def _demultiplex(response):
    """Docker's multiplexed log stream (8-byte frame headers inside HTTP chunks) → lists of (stream, payload),
    stream 1 being stdout and 2 stderr.

    docker-py's own reader makes two buffered reads per frame; cutting frames out of whole HTTP chunks
    costs a third of that, which is what lets one monitor keep up with a flood.
    """
    buffer = b""
    for chunk in response.raw.read_chunked(decode_content=False):
        buffer += chunk
        frames, start = [], 0
        while len(buffer) - start >= 8:
            end = start + 8 + int.from_bytes(buffer[start + 4 : start + 8], "big")
            if end > len(buffer):
                break
            frames.append((buffer[start], buffer[start + 8 : end]))
            start = end
        buffer = buffer[start:]
        if frames:
            yield frames


class LiveLog:
    """A followed log stream that one thread reads among many without blocking
    (servers/monitor/reader.py): `fileno` for a selector, `read` for the frames that have arrived.
    Another thread may `close` it at any time: the reading thread then finds it `ended`."""

    def __init__(self, response):
        self.response = response
        self.connection, buffered = nonblocking_body(response)
        self.frames = FrameCutter(chunked=response.raw.chunked)
        self.pending = self.frames.feed(buffered)  # read with the headers, handed out by the first read
        self.ended = self.frames.ended  # a run that had ended: its whole log came with the headers
        self.closing = False

    def fileno(self) -> int:
        return self.connection.fileno()

    def read(self) -> list[tuple[int, bytes]]:
        """The whole frames received so far, as lists of (1 or 2, payload); sets `ended` (and raises
        ValueError on what is not Docker's framing) when the stream is over."""
        frames, self.pending = self.pending, []
        for _ in range(4):  # a flood's backlog, up to 1 MiB per call: the other streams get their turn
            if self.ended:
                break
            try:
                data = self.connection.recv(RECV_BYTES)
            except (TimeoutError, BlockingIOError):
                self._drain_stderr()
                break
            except OSError:  # reset, or closed by another thread
                data = b""
            if not data:
                self.ended = True
                break
            try:
                frames += self.frames.feed(data)
            except ValueError:
                self.ended = True
                raise
            if self.frames.ended:
                self.ended = True
                break
            if len(data) < RECV_BYTES:
                break
        return frames

    def _drain_stderr(self) -> None:
        """Over SSH, what `docker system dial-stdio` says on stderr keeps the channel's pipe readable:
        read and dropped, or the selector would wake for it forever."""
        channel = self.connection
        if hasattr(channel, "recv_stderr_ready"):
            while channel.recv_stderr_ready():
                channel.recv_stderr(4096)

    def close(self) -> None:
        """From any thread: reading stops (the reading thread finds the stream ended, and releases it).
        What the selector watches stays open until then: a descriptor closed under a selector is
        silently dropped from it, or reused by the next connection."""
        self.closing = True
        with contextlib.suppress(Exception):
            stop_reading(self.response)

    def release(self) -> None:
        """By the reading thread, once it no longer selects on it."""
        self.closing = True
        with contextlib.suppress(Exception):
            shut_down(self.response)
        with contextlib.suppress(Exception):
            self.response.close()


class FrameCutter:
    """Docker's multiplexed log frames (an 8-byte header: stream, 3 zero bytes, payload length) cut out
    of an HTTP body as it arrives in pieces, chunked (what the engine sends) or not."""

    def __init__(self, *, chunked: bool = True):
        self.chunked, self.ended = chunked, False
        self.chunks = bytearray()  # received, not yet taken out of its chunk framing
        self.body = bytearray()  # the body, not yet cut into whole frames

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.chunked:
            self.chunks += data
            self._unchunk()
        else:
            self.body += data
        return self._cut()

    def _unchunk(self) -> None:
        chunks, at = self.chunks, 0
        while not self.ended:
            size_end = chunks.find(b"\r\n", at, at + 64)
            if size_end < 0:
                if len(chunks) - at > 64:
                    raise ValueError("not a chunked body: no chunk size in 64 bytes")
                break
            try:
                size = int(bytes(chunks[at:size_end]).split(b";")[0], 16)
            except ValueError:
                raise ValueError("not a chunked body: a chunk size that is not a number") from None
            if not 0 <= size <= MAX_FRAME_BYTES:
                raise ValueError(f"a chunk of {size} bytes: more than Docker's log lines take")
            if size == 0:
                self.ended = True
                break
            start = size_end + 2
            if len(chunks) < start + size + 2:
                break
            self.body += chunks[start : start + size]
            at = start + size + 2
        del chunks[:at]

    def _cut(self) -> list[tuple[int, bytes]]:
        body, frames, at = self.body, [], 0
        while len(body) - at >= 8:
            size = int.from_bytes(body[at + 4 : at + 8], "big")
            if size > MAX_FRAME_BYTES:
                raise ValueError(f"a log frame of {size} bytes: more than Docker's log lines take")
            end = at + 8 + size
            if end > len(body):
                break
            frames.append((body[at], bytes(body[at + 8 : end])))
            at = end
        del body[:at]
        return frames
