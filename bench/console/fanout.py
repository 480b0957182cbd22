"""(3) Fan-out: many WebSocket clients on one ticking server, then a few on each of many; latency
over every client, lines lost, and the CPU of the monitor, the web process, Redis and dockerd. Baseline: as
many Engine API log streams on the same containers."""

import asyncio
import time

from bench import adapter
from bench.console.measure import fmt
from bench.console.readers import TICK, EngineStream, Reader, TickCollector, WsClient
from bench.harness import summary


class Fanout:
    """The fan-out scenario (a mixin of bench.console.run.Bench)."""

    async def fanout_run(self, layout: list[tuple], reader_kind: str) -> dict:
        """layout: (server id, container name, clients). Readers connect, then a window is measured."""
        readers: list[tuple[str, Reader]] = []
        for sid, name, count in layout:
            for _ in range(count):
                if reader_kind == "panel":
                    reader = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
                else:
                    reader = EngineStream("engine-api", self.socket_path, name, time.time())
                readers.append((sid, reader))
        try:
            for batch in range(0, len(readers), 20):
                await asyncio.gather(*(r.open(self.args.timeout) for _, r in readers[batch : batch + 20]))
            if reader_kind == "panel":
                await asyncio.gather(*(r.subscribe([sid], self.args.timeout) for sid, r in readers))
            await asyncio.sleep(2.0)  # history replays and connection set-up settle
            start = time.time()
            collectors = []
            for sid, reader in readers:
                reader.on_text = TickCollector(start, start + self.args.window)
                collectors.append((sid, reader.on_text))
            meter, before = self.meters().start(), await asyncio.to_thread(self.counters)
            await asyncio.sleep(self.args.window)
            cpu, after = meter.stop(), await asyncio.to_thread(self.counters)
            await asyncio.sleep(1.0)  # lines written at the window's end arrive
        finally:
            await asyncio.gather(*(r.close() for _, r in readers), return_exceptions=True)
        return {
            "start": start,
            "end": start + self.args.window,
            "cpu": cpu,
            "counters": {k: after[k] - before[k] for k in after},
            "collectors": collectors,
            "errors": sorted({e for _, r in readers for e in r.errors})[:5],
        }

    def fanout(self, label: str, servers: list, per_server: int) -> None:
        layout = [(str(s.pk), s.container_name, per_server) for s in servers]
        self.tick(servers, True)
        try:
            time.sleep(1.0)
            for kind in ("panel", "engine-api"):
                print(f"  fan-out {label}, {kind}: {self.args.window:g} s window …", flush=True)
                out = self.guarded(
                    f"fan-out {label} ({kind})",
                    lambda attempt, kind=kind: asyncio.run(self.fanout_run(layout, kind)),
                )
                latencies, lost, expected_total, lossy = [], 0, 0, []
                expected = {sid: self.engine_ticks(name, out["start"], out["end"]) for sid, name, _ in layout}
                for sid, collector in out["collectors"]:
                    latencies += collector.latencies
                    missing = max(0, expected[sid] - len(collector.latencies))
                    lost += missing
                    expected_total += expected[sid]
                    if missing:
                        lossy.append({"server": sid, "lost": missing, "received": len(collector.latencies)})
                record = {
                    "scenario": label,
                    "reader": kind,
                    "clients": len(out["collectors"]),
                    "servers": len(servers),
                    "expected": expected_total,
                    "lost": lost,
                    "latency": summary(latencies),
                    "cpu": out["cpu"],
                    "counters": out["counters"],
                    "lines_written": sum(expected.values()),
                    "errors": out["errors"],
                    "lossy_clients": lossy,
                    "window": self.args.window,
                }
                if kind == "panel":  # stage split from the history's `ts` (the monitor's publish time)
                    monitor_lag, delivery = [], []
                    for s in servers:
                        engine = self.engine_tick_times(s.container_name, out["start"])
                        history = {
                            e["data"].rstrip("\n")[len(TICK) :]: e["ts"]
                            for e in adapter.console_history(s.pk, limit=5000)
                            if e["data"].startswith(TICK)
                        }
                        for sid, collector in out["collectors"]:
                            if sid != str(s.pk):
                                continue
                            for text, received in zip(collector.texts, collector.received, strict=True):
                                if text in engine and text in history:
                                    monitor_lag.append((history[text] - engine[text]) * 1000)
                                    delivery.append((received - history[text]) * 1000)
                    record["stages"] = {
                        "engine→monitor": summary(monitor_lag),
                        "monitor→browser": summary(delivery),
                    }
                self.results["fanout"].append(record)
                s = record["latency"] or {}
                print(
                    f"    n={s.get('n', 0)} lost={lost}/{expected_total} p50={fmt(s.get('p50'))} "
                    f"p99={fmt(s.get('p99'))} ms; CPU monitor {fmt(out['cpu'].get('monitor'))}% "
                    f"web {fmt(out['cpu'].get('web'))}% dockerd {fmt(out['cpu'].get('dockerd'))}%",
                    flush=True,
                )
                time.sleep(2.0)
        finally:
            self.tick(servers, False)
