"""(2b) Command round trip: `say <mark>` typed into the console over the WebSocket until the game's
answer (`[Server] <mark>`) reaches the same socket, one command in flight at a time; against writing the
same command to an identical container's stdin directly (one attach held open, as the monitor holds
one) and reading the answer from an Engine API log stream."""

import asyncio
import time

from bench.console.readers import EngineStream, WsClient
from bench.harness import Aborted


class Echoes:
    """on_text for a reader: sets the event of each mark whose line has arrived."""

    def __init__(self):
        self.waiting: dict[str, asyncio.Event] = {}

    def expect(self, mark: str) -> asyncio.Event:
        self.waiting[mark] = asyncio.Event()
        return self.waiting[mark]

    def __call__(self, t: float, text: str, frame_bytes: int) -> None:
        for mark, event in list(self.waiting.items()):
            if mark in text:
                event.set()
                del self.waiting[mark]


class Commands:
    """The command scenario (a mixin of bench.console.run.Bench)."""

    async def _round_trips(self, send, echoes: Echoes, prefix: str, reader) -> list[float]:
        times = []
        for i in range(self.args.commands):
            mark = f"{prefix}{i}z"  # z: rt1z is not a prefix of rt10z
            arrived = echoes.expect(mark)
            started = time.perf_counter()
            await send(f"say {mark}")
            try:
                await asyncio.wait_for(arrived.wait(), self.args.timeout)
            except TimeoutError:
                raise Aborted(
                    f"{reader.label}: no answer to command {i} ({reader.errors or 'no error'})"
                ) from None
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.15)  # one at a time, under the console's 10 commands a second
        return times

    async def commands_panel(self, server) -> list[float]:
        sid = str(server.pk)
        ws = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
        ws.on_text = echoes = Echoes()
        await ws.open(self.args.timeout)
        try:
            await ws.subscribe([sid], self.args.timeout)
            return await self._round_trips(lambda text: ws.command(sid, text), echoes, f"rt{self.stamp}p", ws)
        finally:
            await ws.close()

    async def commands_raw(self, name: str) -> list[float]:
        stream = EngineStream("engine-api", self.socket_path, name, time.time() - 0.5)
        stream.on_text = echoes = Echoes()
        await stream.open(self.args.timeout)
        attach = self.api.attach_socket(name, params={"stdin": 1, "stream": 1})
        stdin = getattr(attach, "_sock", attach)

        async def send(text: str) -> None:
            stdin.sendall(f"{text}\n".encode())

        try:
            return await self._round_trips(send, echoes, f"rt{self.stamp}r", stream)
        finally:
            attach.close()
            await stream.close()

    def commands(self, server) -> None:
        print(f"  commands: {self.args.commands} round trips, panel and raw …", flush=True)
        raw_name = self.create_raw()
        try:
            self.results["commands"] = self.guarded(
                "the command round trips",
                lambda attempt: {
                    "panel": asyncio.run(self.commands_panel(server)),
                    "raw": asyncio.run(self.commands_raw(raw_name)),
                },
            )
        finally:
            self.remove_raw(raw_name)
