"""bench/files: moving a server's files through the panel — the file manager API and the SFTP
gateway — against raw SFTP straight to the node, in the same run.

    make bench-files                               # one 500 MB file and 10,000 files of 1-8 KB
    make bench-files ARGS="--quick --no-results"   # 50 MB and 1,000 files: a development run

For the local node (engine 1 over unix://) and the SSH node (engine 2 over ssh://127.0.0.1:2202) it
runs the real panel (the Procfile's web server, uvicorn; a Celery worker for the archive jobs; `manage.py sftp`) on its own
database, with one never-installed server per node, and times on each node, for each method, the big
file up and down and the directory of small files up and down:

* raw-openssh / raw-paramiko: OpenSSH's `sftp -b` and a paramiko SFTP session straight to the sshd in
  front of the node (127.0.0.1:2201 / 2202, the test key), as the node's user, into a directory beside
  the servers' (same file system);
* api: POST …/files/upload (multipart, streamed from disk) and GET …/files/download through the web server;
  the small files as multipart requests of `--api-batch` files each, and downloaded one GET per
  file over `--api-get-sample` files; api-archive: the small files as a tar.gz uploaded and unpacked by
  a decompress job, and back as a compress job, the archive downloaded and unpacked on the client;
* gateway-paramiko / gateway-openssh: the same two clients through the panel's SFTP gateway.

The peak RSS (VmHWM) of the web process and the gateway is taken during every transfer. Results are printed,
appended to bench/RESULTS.md and kept in full in bench/out/files-<time>/. See bench/README.md.
"""

import argparse
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench import adapter  # noqa: E402 - once ROOT is on the path
from bench.files import data as dataset  # noqa: E402
from bench.files.common import LEFTOVERS, Transfer, test_runs  # noqa: E402
from bench.files.report import report  # noqa: E402
from bench.files.setup import Setup  # noqa: E402
from bench.files.transfers import METHODS, Transfers  # noqa: E402
from bench.harness import (  # noqa: E402
    OUT,
    Leftovers,
    Processes,
    env,
    machine_info,
    migrate_and_setup_django,
    run_bench,
)
from bench.rawsftp import OpenSshSftp  # noqa: E402

FULL = {"big_mb": 500, "files": 10_000}
QUICK = {"big_mb": 50, "files": 1_000}
SHM = "/dev/shm"  # noqa: S108 - a private mkdtemp inside it


class Bench(Setup, Transfers):
    """One run: setup (setup.py), the data set (data.py), then rounds of every method on every node
    (transfers.py); report.py turns the records into the RESULTS.md section."""

    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"files-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = Leftovers(LEFTOVERS)
        self.processes = Processes(self.logdir, self.leftovers)
        self.records: list[Transfer] = []
        self.notes: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-files-", dir=args.tmp))
        self.targets = []
        self.machine: dict = {}
        self.data = None
        self.watch = None
        self.idle_rss_kb: dict = {}
        self.web_server = ""
        self.web_servers: dict[str, str] = {}  # API method → the web server it ran on
        self.duration = 0.0
        self.load_before = self.load_after = []
        self.tests_before = self.tests_after = 0

    def run(self) -> None:
        self.check_environment()
        Leftovers.clean_previous(
            LEFTOVERS,
            data_dirs=[t.data_dir for t in self.targets],
            sockets=[t.engine_socket for t in self.targets],
            raw_label="hearth.bench.files",  # no raw containers: only what the leftovers file names
        )
        self.record_raw_dirs()
        print(f"Logs and raw data: {self.logdir.relative_to(ROOT)}/", flush=True)
        migrate_and_setup_django(self.logdir)
        self.machine = machine_info([t.engine_socket for t in self.targets], **self.describe_versions())
        started = time.monotonic()
        a = self.args
        self.data = dataset.make(
            self.tmp / "data", big_mb=a.big_mb, files=a.files, min_kb=a.min_kb, max_kb=a.max_kb
        )
        print(f"Data set: {a.big_mb} MB and {a.files} files ({time.monotonic() - started:.1f} s)", flush=True)
        self.seed()
        self.start_processes()
        self.login()
        self.load_before = Path("/proc/loadavg").read_text().split()[:3]
        self.tests_before = test_runs()
        self.watch.start()
        self.idle_rss_kb = self.watch.stop()[0]
        started = time.monotonic()
        for round_no in range(a.rounds):
            print(f"round {round_no + 1}/{a.rounds} …", flush=True)
            methods = a.methods[round_no % len(a.methods) :] + a.methods[: round_no % len(a.methods)]
            for t in self.targets:
                self.connect_times(t, round_no)
                for method in methods:
                    self.run_method(t, method, round_no)
        self.duration = time.monotonic() - started
        self.load_after = Path("/proc/loadavg").read_text().split()[:3]
        self.tests_after = test_runs()

    def connect_times(self, t, round_no: int) -> None:
        """What one OpenSSH `sftp -b` process costs before any transfer (connection, key exchange,
        login), to the node's sshd and to the gateway: its transfers' times include it."""
        for method in ("raw-openssh", "gateway-openssh"):
            if method in self.args.methods:

                def body(m=method):
                    client = self.sftp_client(t, m)
                    assert isinstance(client, OpenSshSftp)
                    detail = {"seconds": client.connect_only()}
                    self.note_exit(client, detail)
                    return 0, 0, detail

                self.measure(t, method, "connect", round_no, body)

    def cleanup(self) -> None:
        """Stop the processes; remove the servers (their helper, container and directory, the
        panel's own way), the raw baselines' directories and the local data set."""
        self.processes.stop()
        for t in self.targets:
            if t.server is not None:
                for remove in (adapter.files_helper_remove, adapter.server_destroy):
                    with contextlib.suppress(Exception):
                        remove(t.server)
            if t.node is not None:
                with contextlib.suppress(Exception):
                    adapter.node_remove_tree(t.node, t.raw_dir)
        shutil.rmtree(self.tmp, ignore_errors=True)
        left = self.left_behind()
        if left:
            print(f"Not removed (see {LEFTOVERS.relative_to(ROOT)}): {', '.join(left)}", file=sys.stderr)
        else:
            self.leftovers.done()

    def left_behind(self) -> list[str]:
        """What the clean-up should have removed and is still there (directories on this machine's nodes)."""
        dirs = [t.raw_dir for t in self.targets] + [
            adapter.server_dir(t.server) for t in self.targets if t.server is not None
        ]
        return [d for d in dirs if d and Path(d).exists()]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 MB and 1,000 files (a development run)")
    parser.add_argument("--big-mb", type=int, help="size of the big file (500; --quick 50)")
    parser.add_argument("--files", type=int, help="number of small files (10000; --quick 1000)")
    parser.add_argument("--min-kb", type=int, default=1)
    parser.add_argument("--max-kb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="every transfer this many times (1-10)")
    parser.add_argument("--nodes", nargs="+", choices=["local", "ssh"], default=["local", "ssh"])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--api-batch",
        type=int,
        default=100,
        help="small files per multipart upload (the panel takes 100 at most)",
    )
    parser.add_argument("--api-get-sample", type=int, default=200, help="small files downloaded one GET each")
    parser.add_argument("--timeout", type=float, default=900.0, help="limit for each transfer, seconds")
    parser.add_argument(
        "--tmp",
        default=SHM if Path(SHM).is_dir() else None,
        help="where the client's files are (a tmpfs keeps the client's disk out of the figures)",
    )
    parser.add_argument("--note", default="", help="a note for the results (e.g. the machine's load)")
    parser.add_argument("--worker-loglevel", default="WARNING")
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    args.big_mb = args.big_mb or sizes["big_mb"]
    args.files = args.files or sizes["files"]
    args.full_size = args.big_mb >= FULL["big_mb"] and args.files >= FULL["files"]
    if not (1 <= args.big_mb <= 10_000 and 1 <= args.files <= 100_000 and 1 <= args.rounds <= 10):
        parser.error("--big-mb 1-10000, --files 1-100000, --rounds 1-10")
    if not (1 <= args.min_kb <= args.max_kb <= 1024 and args.api_batch >= 1 and args.api_get_sample >= 1):
        parser.error("1 <= --min-kb <= --max-kb <= 1024; --api-batch and --api-get-sample at least 1")
    return args


def main() -> int:
    args = parse_args()
    env("DATABASE_URL")
    bench = Bench(args)

    def measured() -> dict:
        records = [{**dataclasses.asdict(r), "mb_per_s": r.mb_per_s} for r in bench.records]
        made = {
            t.key: {"server": str(t.server.pk) if t.server else None, "raw_dir": t.raw_dir}
            for t in bench.targets
        }
        return {"args": vars(args), "machine": bench.machine, "made": made, "records": records}

    return run_bench(
        bench,
        raw=bench.logdir / "transfers.json",
        measured=measured,
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
