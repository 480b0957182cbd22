"""(1) Throughput: `flood N` typed into a server's console, read by a WebSocket client, against the
same flood read by `docker logs -f` and by a raw Engine API stream on an identical raw container."""

import asyncio
import time

from bench import adapter
from bench.console.measure import CpuTrace, fmt
from bench.console.readers import FLOOD, CliStream, EngineStream, FloodCounter, WsClient
from bench.harness import Aborted


class Throughput:
    """The throughput scenario (a mixin of bench.console.run.Bench)."""

    async def flood_panel(self, server, n: int) -> dict:
        sid = str(server.pk)
        client = WsClient("panel", f"{self.ws_url}?token={self.token}", self.base_url)
        await client.open(self.args.timeout)
        try:
            await client.subscribe([sid], self.args.timeout)
            await asyncio.sleep(1.0)  # the history replay
            counter = FloodCounter(n)
            client.on_text = counter
            trace = CpuTrace(self.pids()).start()
            t0 = time.time()
            await client.command(sid, f"flood {n}")
            end = await counter.wait(2.0, self.args.timeout)
            await trace.stop()
        finally:
            await client.close()
        return {
            "t0": t0,
            "end": end,
            "errors": client.errors,
            "extensions": client.extensions,
            "trace": trace,
            **vars_of(counter),
        }

    async def flood_raw(self, reader_cls, name: str, n: int) -> dict:
        since = time.time()
        host = self.docker_url if reader_cls is CliStream else self.socket_path
        reader = reader_cls(reader_cls.kind, host, name, since)
        await reader.open(self.args.timeout)
        try:
            await asyncio.sleep(0.5)  # connected before the first line
            counter = FloodCounter(n)
            reader.on_text = counter
            cli = {"docker CLI": reader.proc.pid} if isinstance(reader, CliStream) else {}
            trace = CpuTrace({**self.pids(), **cli}).start()
            t0 = time.time()
            await asyncio.to_thread(self.raw_command, name, f"flood {n}")
            end = await counter.wait(2.0, self.args.timeout)
            await trace.stop()
        finally:
            await reader.close()
        return {"t0": t0, "end": end, "errors": reader.errors, "trace": trace, **vars_of(counter)}

    def throughput(self, phase: str, servers: list) -> None:
        """`--rounds` rounds; each round floods a fresh panel server (its own log and history) and two
        fresh raw containers, in a rotating order. `servers` has spares for measurements taken again."""
        n = self.args.flood_lines
        pool = iter(servers)
        for i in range(self.args.rounds):
            print(f"  {phase} round {i + 1}/{self.args.rounds}: flood {n} …", flush=True)
            series = [("panel", None), ("docker-cli", CliStream), ("engine-api", EngineStream)]
            for key, cls in series[i % 3 :] + series[: i % 3]:  # rotate the order between rounds

                def measure(attempt, key=key, cls=cls):
                    server = next(pool, None) if cls is None else None  # raw readers make their own container
                    if cls is None and server is None:
                        raise Aborted(
                            f"No fresh server left for the {phase} floods: too many were taken again."
                        )
                    return self.flood(key, cls, server, n)

                record = self.guarded(f"{phase} flood {i + 1} ({key})", measure)
                record.update({"phase": phase, "round": i, "throttle": self.throttle})
                self.results["throughput"].append(record)
                print(
                    f"    {key:10s} {record['lines']:>7} lines  {fmt(record.get('rate_lines'), 0):>8} lines/s  "
                    f"(producer {fmt(record.get('producer_rate'), 0)} lines/s, end: {record['end']}; CPU "
                    + " ".join(f"{k} {fmt(v, 0)}%" for k, v in record["cpu"].items())
                    + ")",
                    flush=True,
                )
                time.sleep(1.0)

    def flood(self, key: str, cls, server, n: int) -> dict:
        """One flood read by one reader: the panel (on `server`) or a raw reader (on a new raw container)."""
        if cls is None:
            record = asyncio.run(self.flood_panel(server, n))
            name = server.container_name
        else:
            name = self.create_raw()
            try:
                record = asyncio.run(self.flood_raw(cls, name, n))
                first, last = self.engine_flood_times(name, record["t0"])
            finally:
                self.remove_raw(name)
        if cls is None:
            first, last = self.engine_flood_times(name, record["t0"])
            # when the monitor made the last flood line into a console entry (history `ts`, before publishing)
            record["monitor_last"] = max(
                (
                    e["ts"]
                    for e in adapter.console_history(server.pk, limit=1000)
                    if e["data"].startswith(FLOOD)
                ),
                default=None,
            )
        record.update({"series": key, "n": n, "engine_first": first, "engine_last": last})
        record["cpu"] = record.pop("trace").percent(
            first, record["last"]
        )  # first line at the engine → last receipt
        derive_throughput(record)
        return record


def vars_of(counter: FloodCounter) -> dict:
    keys = ("lines", "bytes", "frames", "first", "last", "done", "notice", "batches")
    return {k: getattr(counter, k) for k in keys}


def derive_throughput(r: dict) -> None:
    """Rates over the time from the flood's first line at the engine to its last line at the reader
    (the same clock), so a reader that starts late or lags behind pays for it."""
    if r["engine_first"] and r["last"]:
        span = r["last"] - r["engine_first"]
        r["span"] = span
        r["rate_lines"] = r["lines"] / span if span > 0 else None
        r["rate_mb"] = r["bytes"] / span / 1e6 if span > 0 else None
    if r["engine_first"] and r["engine_last"] and r["engine_last"] > r["engine_first"]:
        r["producer_rate"] = r["n"] / (r["engine_last"] - r["engine_first"])
    if r["engine_last"] and r["last"]:
        r["tail_ms"] = (r["last"] - r["engine_last"]) * 1000
    if r["engine_first"] and r["first"]:
        r["first_ms"] = (r["first"] - r["engine_first"]) * 1000
    if r.get("monitor_last") and r["engine_last"]:
        r["monitor_tail_ms"] = (r["monitor_last"] - r["engine_last"]) * 1000
