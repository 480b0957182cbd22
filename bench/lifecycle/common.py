"""What the lifecycle benchmark's modules share: its constants, a failed round, the clock."""

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import OUT

LEFTOVERS = OUT / "lifecycle-leftovers.json"
READY = "Done ("  # the Test Game template's ready pattern
BENCH_LABEL = "hearth.bench"  # on the raw containers only: the monitor and the tests ignore them
TARGET_MS = {"local": 150.0, "ssh": 500.0}


class RoundFailed(Exception):
    """One start or stop did not reach its end state in time (recorded; the run goes on)."""


# --- small helpers ------------------------------------------------------------------------------


def now() -> float:
    return time.time()


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def test_runs() -> int:
    """Other pytest processes on the machine (they load it, and their clean-up removes panel containers)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if any(b"pytest" in part for part in argv[:3]) and int(cmdline.parent.name) != os.getpid():
                count += 1
    return count


@dataclass
class Target:
    key: str  # "local" | "ssh"
    title: str
    docker_url: str  # how the panel reaches the engine
    engine_socket: str  # the same engine's own socket (raw baselines, observation)
    data_dir: str
    ports: str  # allocations for the panel's server
    raw_port: int
    node: object = None
    server: object = None
    raw_name: str = ""
    raw_dir: str = ""
    engine_api: object = None
    drivers: list = field(default_factory=list)
    events: object = None  # observe.EngineEvents
