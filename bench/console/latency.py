"""(2) Latency of single lines at 10/s: receipt minus the time the container wrote into the line,
on a WebSocket client and, reading the same lines at once, `docker logs -f` and an Engine API stream."""

import asyncio
import time

from bench import adapter
from bench.console.measure import fmt
from bench.console.readers import TICK, CliStream, EngineStream, TickCollector, WsClient
from bench.harness import summary


class Latency:
    """The latency scenario (a mixin of bench.console.run.Bench)."""

    async def latency_run(self, server) -> dict:
        sid, name = str(server.pk), server.container_name
        start = time.time() + 1.0  # lines written from then on count
        ws = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
        readers = [
            ws,
            CliStream("docker-cli", self.docker_url, name, start - 0.5),
            EngineStream("engine-api", self.socket_path, name, start - 0.5),
        ]
        collectors = {}
        for reader in readers:
            await reader.open(self.args.timeout)
            collectors[reader.label] = reader.on_text = TickCollector(start)
        try:
            await ws.subscribe([sid], self.args.timeout)
            want = self.args.latency_lines
            deadline = time.monotonic() + want / 9 + 30
            while min(len(c.latencies) for c in collectors.values()) < want:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            for reader in readers:
                await reader.close()
        return {
            "start": start,
            "errors": {r.label: r.errors for r in readers if r.errors},
            "collectors": collectors,
        }

    def latency(self, server) -> None:
        print(f"  latency: {self.args.latency_lines} lines at 10/s on 3 readers at once …", flush=True)

        def measure(attempt):
            self.tick([server], True)
            try:
                return asyncio.run(self.latency_run(server))
            finally:
                self.tick([server], False)

        out = self.guarded("the latency run", measure)
        time.sleep(0.5)
        # Where the panel's time goes, line by line: container → engine (its log timestamp) → the monitor
        # made the console entry (history `ts`, just before the Redis write and the publish) → browser.
        engine = self.engine_tick_times(server.container_name, out["start"])
        history = {
            e["data"].rstrip("\n")[len(TICK) :]: e["ts"]
            for e in adapter.console_history(server.pk, limit=5000)
            if e["data"].startswith(TICK)
        }
        panel = out["collectors"]["panel"]
        stages = {"container→engine": [], "engine→monitor": [], "monitor→browser": []}
        for text, received in zip(panel.texts, panel.received, strict=True):
            if text in engine and text in history:
                stages["container→engine"].append((engine[text] - float(text)) * 1000)
                stages["engine→monitor"].append((history[text] - engine[text]) * 1000)
                stages["monitor→browser"].append((received - history[text]) * 1000)
        self.results["latency"] = {
            "readers": {k: c.latencies for k, c in out["collectors"].items()},
            "stages": stages,
            "errors": out["errors"],
        }
        for key, values in self.results["latency"]["readers"].items():
            s = summary(values) or {}
            print(f"    {key:10s} n={s.get('n', 0)} p50={fmt(s.get('p50'))} p99={fmt(s.get('p99'))} ms")
