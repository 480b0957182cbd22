"""(4) Idle: the monitor's CPU and memory with every server running and silent, then with every server
printing 10 lines/s and nobody watching (the monitor's cost per line, without the web process's)."""

import time

from bench.console.measure import fmt, proc_status


class Idle:
    """The idle scenario (a mixin of bench.console.run.Bench)."""

    def idle(self) -> None:
        time.sleep(5.0)  # the last ticks are out
        print(f"  idle: {len(self.servers)} running servers, {self.args.idle:g} s …", flush=True)

        def measure(attempt):
            meter, before = self.meters().start(), self.counters()
            time.sleep(self.args.idle)
            return meter.stop(), before, self.counters()

        for label, ticking in (("idle", False), ("ticking", True)):
            self.tick(self.servers, ticking)
            time.sleep(2.0)
            cpu, before, after = self.guarded(f"the {label} window", measure)
            status = proc_status(self.processes.pid("monitor"))
            self.results[label] = {
                "cpu": cpu,
                "counters": {k: after[k] - before[k] for k in after},
                "rss_mib": status.get("VmRSS", 0) / 1024,
                "threads": status.get("Threads"),
                "servers": len(self.servers),
            }
            print(
                f"    {label}: monitor {fmt(cpu.get('monitor'))}% CPU, RSS "
                f"{fmt(status.get('VmRSS', 0) / 1024)} MiB, {status.get('Threads')} threads",
                flush=True,
            )
        self.tick(self.servers, False)
