"""The console benchmark's readers (a WebSocket client as the browser, `docker logs -f`, a raw Engine
API stream) and what they count (flood lines, timestamped ticks)."""

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import time
from urllib.parse import urlencode

from bench.harness import Aborted

TICK = "bench-tick "
FLOOD = "flood line "


# --- readers: the WebSocket client and the raw baselines -----------------------------------------


class Reader:
    """One reader of console output. `on_text(t, text, frame_bytes)` is called with every piece of
    output as it is received (t: time.time() at receipt, before any parsing)."""

    kind = ""

    def __init__(self, label: str):
        self.label = label
        self.on_text = None
        self.errors: list[str] = []

    def deliver(self, t: float, text: str, frame_bytes: int) -> None:
        if self.on_text is not None:
            self.on_text(t, text, frame_bytes)


class WsClient(Reader):
    """A browser's view: /ws?token=<JWT>, subscribe, `server_log` messages (several lines each)."""

    kind = "panel"

    def __init__(self, label: str, url: str, origin: str):
        super().__init__(label)
        self.url, self.origin = url, origin
        self.subscribed: set[str] = set()
        self.extensions = ""
        self.messages = 0

    async def open(self, timeout: float) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.url,
            origin=self.origin,
            max_size=None,
            max_queue=None,
            ping_interval=None,
            open_timeout=timeout,
            close_timeout=2,
        )
        self.extensions = self.ws.response.headers.get("Sec-WebSocket-Extensions", "")
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                t = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "server_log":
                    self.messages += 1
                    self.deliver(t, message.get("data", ""), len(raw))
                elif kind == "subscribed":
                    self.subscribed.add(message.get("serverId"))
                elif kind == "error":
                    self.errors.append(message.get("message", ""))
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code != 1000:
                self.errors.append(f"closed {exc.rcvd.code} {exc.rcvd.reason}")

    async def subscribe(self, server_ids: list[str], timeout: float) -> None:
        for sid in server_ids:
            await self.ws.send(json.dumps({"type": "subscribe", "serverId": sid}))
        deadline = time.monotonic() + timeout
        while not set(server_ids) <= self.subscribed:
            if self.errors or time.monotonic() > deadline:
                raise Aborted(f"{self.label}: not subscribed ({self.errors or 'timeout'})")
            await asyncio.sleep(0.02)

    async def command(self, server_id: str, text: str) -> None:
        await self.ws.send(json.dumps({"type": "console_input", "serverId": server_id, "data": text}))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


class EngineStream(Reader):
    """`GET /containers/{name}/logs?follow=1&stdout=1` on the engine's unix socket (HTTP/1.1, chunked,
    8-byte multiplexing headers): the stream docker-py, the monitor and the CLI all read."""

    kind = "engine-api"

    def __init__(self, label: str, socket_path: str, container: str, since: float):
        super().__init__(label)
        self.socket_path, self.container, self.since = socket_path, container, since

    async def open(self, timeout: float) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.socket_path, limit=1 << 22), timeout
        )
        query = urlencode({"follow": 1, "stdout": 1, "stderr": 0, "since": f"{self.since:.6f}"})
        self.writer.write(
            f"GET /containers/{self.container}/logs?{query} HTTP/1.1\r\nHost: docker\r\n\r\n".encode()
        )
        await self.writer.drain()
        status = await asyncio.wait_for(self.reader.readline(), timeout)
        if b" 200 " not in status:
            raise Aborted(f"{self.label}: engine answered {status!r}")
        self.chunked = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                self.chunked = True
        self.task = asyncio.create_task(self._read())

    async def _chunks(self):
        if not self.chunked:
            while data := await self.reader.read(1 << 16):
                yield data
            return
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return
            data = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            yield data

    async def _read(self) -> None:
        buffer = b""
        try:
            async for data in self._chunks():
                t = time.time()
                buffer += data
                pos, out = 0, []
                while len(buffer) - pos >= 8:
                    size = int.from_bytes(buffer[pos + 4 : pos + 8], "big")
                    if len(buffer) - pos - 8 < size:
                        break
                    if buffer[pos] == 1:  # stdout
                        out.append(buffer[pos + 8 : pos + 8 + size])
                    pos += 8 + size
                buffer = buffer[pos:]
                if out:
                    payload = b"".join(out)
                    self.deliver(t, payload.decode(errors="replace"), len(data))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.errors.append(f"{exc.__class__.__name__}: {exc}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


class CliStream(Reader):
    """`docker -H <engine> logs --follow --since <t> <container>`, its stdout read as it comes."""

    kind = "docker-cli"

    def __init__(self, label: str, host: str, container: str, since: float):
        super().__init__(label)
        self.host, self.container, self.since = host, container, since

    async def open(self, timeout: float) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            shutil.which("docker") or "docker",
            "-H",
            self.host,
            "logs",
            "--follow",
            "--since",
            f"{self.since:.6f}",
            self.container,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while data := await self.proc.stdout.read(1 << 16):
            self.deliver(time.time(), data.decode(errors="replace"), len(data))

    async def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 5)
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


# --- what a reader counts ------------------------------------------------------------------------


class LineSplitter:
    """Pieces of output → complete lines (a piece may end inside a line)."""

    def __init__(self):
        self.rest = ""

    def feed(self, text: str) -> list[str]:
        *complete, self.rest = (self.rest + text).split("\n")
        return complete


class FloodCounter:
    """Lines of one `flood N` as received: count, bytes, first and last receipt, the end."""

    def __init__(self, n: int):
        self.n = n
        self.lines = self.bytes = self.frames = 0
        self.first = self.last = self.done = None
        self.notice = False
        self.batches: list[tuple[float, int]] = []  # (receipt, flood lines) of each piece received
        self.split = LineSplitter()
        self.changed = asyncio.Event()

    def __call__(self, t: float, text: str, frame_bytes: int) -> None:
        count = 0
        for line in self.split.feed(text):
            if line.startswith(FLOOD):
                count += 1
                self.bytes += len(line) + 1
            elif f"Flood of {self.n} lines done" in line:
                self.done = t
            elif "throttling" in line:
                self.notice = True
        if count:
            self.batches.append((t, count))
            self.lines += count
            self.frames += frame_bytes
            self.first = self.first or t
            self.last = t
        self.changed.set()

    async def wait(self, quiet: float, timeout: float) -> str:
        """Until the done line, or `quiet` seconds without a flood line after the first (a throttled
        flood may lose its last lines and the done line), or `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.done is not None and (self.lines >= self.n or time.time() - self.done > quiet):
                return "done"
            if self.last is not None and time.time() - self.last > quiet:
                return "quiet"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.1)
        return "timeout"


class TickCollector:
    """Latency of `bench-tick <unix time>` lines: receipt time - the container's time in the line.
    Only lines written inside [start, end] count (a subscription first replays older history)."""

    def __init__(self, start: float, end: float = math.inf):
        self.start, self.end = start, end
        self.latencies: list[float] = []
        self.texts: list[str] = []  # the time as written (a float does not keep all its digits)
        self.received: list[float] = []
        self.split = LineSplitter()

    def __call__(self, t: float, text: str, frame_bytes: int) -> None:
        for line in self.split.feed(text):
            if line.startswith(TICK):
                with contextlib.suppress(ValueError):
                    written = line[len(TICK) :]
                    stamp = float(written)
                    if self.start <= stamp <= self.end:
                        self.texts.append(written)
                        self.received.append(t)
                        self.latencies.append((t - stamp) * 1000)
