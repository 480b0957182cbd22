"""Run a Python program and report where its CPU goes: `python -m bench.sampled OUT program.py args…`.

At exit it writes to OUT the CPU time of its threads grouped by name (each thread's own utime + stime
from /proc, so time spent waiting counts for nothing), and the stacks most often found on a thread that
had used CPU since the previous look (every 5 ms, or every second with BENCH_SAMPLE_STACKS=0: the
looks cost CPU of their own). Used by `make bench-console ARGS=--sample-monitor`."""

import atexit
import collections
import os
import re
import runpy
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(native_id: int) -> float:
    """Seconds of CPU this thread of ours has used (0 once it ended)."""
    try:
        with open(f"/proc/self/task/{native_id}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def group(name: str) -> str:
    return re.sub(r"[-_][0-9a-f]{8}.*$|-\d+$|[-_]\d+\b.*$", "-*", name)


def main() -> None:
    out, program, *args = sys.argv[1:]
    stacks: collections.Counter = collections.Counter()
    used: dict[int, tuple[str, float]] = {}  # native id → (name, CPU seconds at the last look)
    started = time.monotonic()
    with_stacks = os.environ.get("BENCH_SAMPLE_STACKS", "1") != "0"

    def look():
        me = threading.get_native_id()
        while True:
            time.sleep(0.005 if with_stacks else 1.0)
            frames = sys._current_frames()
            for thread in threading.enumerate():
                if thread.native_id in (None, me):
                    continue
                cpu = thread_cpu(thread.native_id)
                before = used.get(thread.native_id, (thread.name, 0.0))[1]
                used[thread.native_id] = (thread.name, max(cpu, before))
                frame = frames.get(thread.ident)
                if with_stacks and cpu > before and frame is not None:
                    stack, f = [], frame
                    while f is not None and len(stack) < 7:
                        stack.append(f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_code.co_name}")
                        f = f.f_back
                    stacks[(group(thread.name), *stack)] += 1

    def write():
        wall = time.monotonic() - started
        by_group: collections.Counter = collections.Counter()
        counts: collections.Counter = collections.Counter()
        for name, cpu in used.values():
            by_group[group(name)] += cpu
            counts[group(name)] += 1
        total = sum(by_group.values()) or 1e-9
        with open(out, "w") as fh:
            fh.write(f"# CPU by thread over {wall:.0f} s (% of one core; threads seen)\n")
            for name, cpu in by_group.most_common():
                fh.write(f"{100 * cpu / wall:6.2f}%  {name} ({counts[name]})\n")
            fh.write(f"{100 * total / wall:6.2f}%  all threads but the sampler\n\n# busy stacks\n")
            seen = sum(stacks.values()) or 1
            for stack, n in stacks.most_common(50):
                fh.write(f"{100 * n / seen:5.1f}% [{stack[0]}] " + " < ".join(stack[1:]) + "\n")

    threading.Thread(target=look, daemon=True, name="sampler").start()
    atexit.register(write)
    sys.argv = [program, *args]
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
