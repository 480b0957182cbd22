"""What the console benchmark watches besides its readers: other load on the machine and the CPU of
the panel's processes (from /proc)."""

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cmdlines():
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(cmdline.parent.name)
            if pid != os.getpid():
                yield pid, cmdline.read_bytes().split(b"\0")


def other_load() -> list[str]:
    """What must not run beside a measurement: another benchmark's script or a pytest run."""
    found = []
    for pid, argv in _cmdlines():
        if any(b"bench/lifecycle/run.py" in part for part in argv) or any(b"pytest" in p for p in argv[:3]):
            found.append(f"{pid} {b' '.join(argv).decode(errors='replace')[:80]}")
    return found


class LoadWatch(threading.Thread):
    """Looks once a second for another benchmark or a pytest run; `seen` keeps the first one found since
    the last clear(), so a measurement that something else overlapped can be taken again."""

    def __init__(self):
        super().__init__(daemon=True, name="load-watch")
        self.seen: str | None = None
        self.stopping = threading.Event()

    def clear(self) -> None:
        self.seen = None

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            if self.seen is None and (busy := other_load()):
                self.seen = busy[0]


def find_pid(match) -> int | None:
    return next((pid for pid, argv in _cmdlines() if argv and match(argv)), None)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (every thread), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid: int) -> dict:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


class CpuMeter:
    """CPU% (of one core) of named processes between start() and stop()."""

    def __init__(self, pids: dict[str, int | None]):
        self.pids = {k: v for k, v in pids.items() if v}

    def start(self):
        self.t0 = time.monotonic()
        self.c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}
        return self

    def stop(self) -> dict[str, float | None]:
        elapsed = time.monotonic() - self.t0
        out = {}
        for key, pid in self.pids.items():
            now, before = cpu_seconds(pid), self.c0.get(key)
            out[key] = None if now is None or before is None else 100 * (now - before) / elapsed
        out["seconds"] = elapsed
        return out


class CpuTrace:
    """CPU seconds of named processes sampled every 50 ms in the background (an asyncio task), so the
    CPU% over any part of a measurement (e.g. a flood's first line to its last) can be read afterwards."""

    def __init__(self, pids: dict[str, int | None]):
        self.pids = {k: v for k, v in pids.items() if v}
        self.samples: list[tuple[float, dict]] = []

    def _sample(self) -> None:
        self.samples.append((time.time(), {k: cpu_seconds(p) for k, p in self.pids.items()}))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(0.05)

    def start(self) -> "CpuTrace":
        self.task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        self._sample()

    def percent(self, start: float | None, end: float | None) -> dict[str, float | None]:
        """CPU% of one core between the last sample at or before `start` and the first at or after `end`."""
        if start is None or end is None or len(self.samples) < 2:
            return {}
        before = [s for s in self.samples if s[0] <= start] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= end] or self.samples[-1:]
        (t0, c0), (t1, c1) = before[-1], after[0]
        if t1 <= t0:
            return {}
        return {
            k: None if c0.get(k) is None or c1.get(k) is None else 100 * (c1[k] - c0[k]) / (t1 - t0)
            for k in self.pids
        }


def dockerd_pid(socket_path: str) -> int | None:
    """The engine's dockerd: its --host is the socket (or none given, for the default socket)."""
    target = socket_path.encode()

    def match(argv):
        if not argv[0].endswith(b"dockerd"):
            return False
        hosts = [a for a in argv if b"unix://" in a]
        return any(target in a for a in hosts) or (not hosts and target == b"/var/run/docker.sock")

    return find_pid(match)
