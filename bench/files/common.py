"""What the files benchmark's modules share: its constants, a node under test, one measured transfer."""

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import OUT

LEFTOVERS = OUT / "files-leftovers.json"
MB = 1024 * 1024
REMOTE = "bench"  # the directory, in the panel's server and in the raw baselines' directory, transfers use
TARGETS = {"big": 0.70, "small": 0.50}  # the gateway against direct paramiko (issue 12)
API_TARGET = 0.50  # the API against raw OpenSSH sftp, large file


@dataclass
class Target:
    """One node: the panel reaches its engine through `docker_url`; the raw baselines go straight to
    the sshd in front of it (`sshd_port`, as the node's user) and write into `raw_dir`."""

    key: str  # "local" | "ssh"
    title: str
    docker_url: str
    engine_socket: str
    data_dir: str
    sshd_port: int
    host_key: str  # the sshd's pinned host key ("ssh-ed25519 AAAA…")
    node_user: str = ""  # the node's SSH user, the raw baselines' login
    pinned: object = None  # host_key as a paramiko key
    node: object = None
    server: object = None
    raw_dir: str = ""


@dataclass
class Transfer:
    """One timed transfer: `what` is big-up, big-down, small-up or small-down."""

    node: str
    method: str
    what: str
    round: int
    seconds: float = 0.0
    bytes: int = 0
    files: int = 0
    peak_rss_kb: dict = field(default_factory=dict)  # process → VmHWM during the transfer
    start_rss_kb: dict = field(default_factory=dict)
    cpu_seconds: dict = field(default_factory=dict)
    connect_seconds: float | None = None  # login and session setup, not in `seconds` (paramiko)
    error: str = ""
    detail: dict = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float | None:
        return self.bytes / MB / self.seconds if self.seconds and not self.error else None

    @property
    def files_per_s(self) -> float | None:
        return self.files / self.seconds if self.seconds and not self.error else None


def test_runs() -> int:
    """Other pytest processes on the machine (they load it: figures are noisier)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if any(b"pytest" in part for part in argv[:3]) and int(cmdline.parent.name) != os.getpid():
                count += 1
    return count
