"""Where the time goes: the monitor's per-publish and per-line costs, measured in this process with
the panel's own code and settings (through bench/adapter.py)."""

import threading
import time

from bench import adapter
from bench.console.common import SPARES
from bench.console.readers import FLOOD, TICK
from bench.harness import summary


class Costs:
    """The cost measurements (a mixin of bench.console.run.Bench)."""

    def costs(self) -> None:
        """The monitor's per-publish and per-line costs, measured in this process with the same code and
        settings: `config.realtime.publish` (one long-lived loop, as the monitor publishes) against
        async_to_sync(group_send) from a plain thread (a new loop, so a new Redis connection, per call);
        the history write of one line; then each per-line step of a flood."""
        import redis
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
        from django.conf import settings

        console, publish = adapter.console(), adapter.realtime_publish()
        print("  costs of one publish and of one line …", flush=True)
        layer = get_channel_layer()
        r = redis.Redis.from_url(settings.REDIS_URL)
        group = console.group_name("costs")  # nobody subscribed: a publish costs the sender the same
        message = {"type": "server_log", "serverId": "costs", "stream": "stdout", "data": f"{TICK}1.0\n"}
        calls = 300

        def measure(label, call):
            """Wall and process CPU (every thread) per call, new Redis connections per call."""
            walls, cpu = [], 0.0
            conns = r.info("stats")["total_connections_received"]
            for _ in range(calls):
                c0, t0 = time.process_time(), time.perf_counter()
                call()
                walls.append((time.perf_counter() - t0) * 1000)
                cpu += time.process_time() - c0
            conns = r.info("stats")["total_connections_received"] - conns
            self.results["costs"][label] = {
                "wall_ms": summary(walls),
                "cpu_ms": cpu * 1000 / calls,
                "connections": conns / calls,
            }

        def in_a_thread(label, call):
            worker = threading.Thread(target=measure, args=(label, call))
            worker.start()
            worker.join(180)

        def run_all(attempt):
            in_a_thread(
                "publish as the monitor does: config.realtime.publish from a thread",
                lambda: publish(group, message),
            )
            in_a_thread(
                "for comparison: async_to_sync(group_send) from a thread",
                lambda: async_to_sync(layer.group_send)(group, message),
            )
            _, entries = console._entries("stdout", [f"{TICK}1.0\n"])
            measure(
                "history write: console.record (RPUSH+LTRIM pipeline)",
                lambda: console.record("costs", entries),
            )
            for servers in (1, 5, 50):  # 50 servers x 10 lines/s: ~5 lines in each 10 ms flush
                flush = adapter.flush_once(servers)
                measure(
                    f"the monitor's flush of {servers} server(s) x 1 line: lease check, history, cursor "
                    "and publish of each in one script call",
                    lambda flush=flush: flush(f"{TICK}1.0"),
                )
            self.line_costs(console)

        self.guarded("the cost measurements", run_all)
        r.delete(console.history_key("costs"), *(console.history_key(f"costs-{i}") for i in range(50)))
        r.close()

    def line_costs(self, console) -> None:
        """Per flood line, each step the monitor takes (nodes/client.py, servers/monitor/,
        servers/console.py) on the log of a container that flooded, single-threaded."""
        costs = self.results["costs"]

        def step(label, work):
            c0 = time.process_time()
            result, count = work()
            costs[f"per flood line: {label}"] = {"cpu_us": (time.process_time() - c0) * 1e6 / max(count, 1)}
            return result

        per_phase = self.args.rounds + SPARES
        flooded = self.servers[per_phase].container_name if "throughput" in self.args.phases else None
        if flooded:

            def read():
                response = self.api._get(
                    self.api._url("/containers/{0}/logs", flooded),
                    params={"stdout": 1, "stderr": 1},
                    stream=True,
                )
                frames = [frame for batch in adapter.demultiplex(response) for frame in batch]
                return frames, len(frames)

            frames = step("engine log stream cut into frames (nodes.client, the reader thread)", read)
        else:
            frames = [(1, f"{FLOOD}{i} {'x' * 78}\n".encode()) for i in range(40_000)]

        def split():
            partial, out = {1: "", 2: ""}, []
            for kind, payload in frames:
                *complete, partial[kind] = (partial[kind] + payload.decode(errors="replace")).split("\n")
                out.extend(("stdout", text) for text in complete)
            return out, len(out)

        lines = [
            line
            for line in step("decode + split into lines (reader thread)", split)
            if line[1].startswith(FLOOD)
        ]
        throttle, cut = adapter.output_throttle()
        step(
            "Throttle.admit + cut + rstrip (follower)",
            lambda: ([cut(text.rstrip("\r")) for _, text in throttle.admit(lines)[0]], len(lines)),
        )
        batch = [text for _, text in lines[:2000]]
        step(
            "of which: console._entries, the history JSON (write_lines)",
            lambda: (console._entries("stdout", batch), len(batch)),
        )
        step(
            "write_lines of a 2,000-line batch: entries, history write, messages",
            lambda: (console.write_lines("costs", "stdout", batch), len(batch)),
        )
