"""The panel's processes during one transfer, from /proc: the peak resident memory (VmHWM, reset to the
current RSS before each transfer by writing 5 to /proc/<pid>/clear_refs) and the CPU time, of every
process in each watched process group (uvicorn is one process; a server or gateway that forks is counted whole)."""

import contextlib
import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group `pgid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                found.append(int(stat.parent.name))
    return found


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


class ProcessWatch:
    """`start()` before a transfer, `stop()` after it: per watched name, the group's summed RSS at the
    start, the largest VmHWM of its processes during the transfer, and the CPU seconds it used."""

    def __init__(self, groups: dict[str, int]):
        self.groups = groups  # name → process group id (the Popen's pid: start_new_session)
        self._start_rss: dict[str, int] = {}
        self._start_cpu: dict[str, float] = {}

    def start(self) -> None:
        for name, pgid in self.groups.items():
            pids = group_pids(pgid)
            for pid in pids:
                with contextlib.suppress(OSError):
                    Path(f"/proc/{pid}/clear_refs").write_text("5")
            self._start_rss[name] = sum(_status_kb(pid, "VmRSS") for pid in pids)
            self._start_cpu[name] = sum(_cpu_seconds(pid) for pid in pids)

    def stop(self) -> tuple[dict, dict, dict]:
        """(start RSS kB, peak VmHWM kB, CPU seconds), each by name. A process that started during the
        transfer counts from zero CPU."""
        peak, cpu = {}, {}
        for name, pgid in self.groups.items():
            pids = group_pids(pgid)
            peak[name] = max((_status_kb(pid, "VmHWM") for pid in pids), default=0)
            cpu[name] = round(max(sum(_cpu_seconds(pid) for pid in pids) - self._start_cpu[name], 0.0), 2)
        return dict(self._start_rss), peak, cpu
