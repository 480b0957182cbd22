"""bench/backup: a server's backup and restore through the panel's backup engine against raw tar on
the same data, in the same run, on the local and the SSH node.

    make bench-backup                               # a mixed 1 GB data set
    make bench-backup ARGS="--quick --no-results"   # 100 MB: a development run

The data set is made in each node's server directory (the engines' data dirs are on this machine),
owned by the game's user: `--small-share` (30%) of it in files of 1-16 KB in nested directories,
the rest in `--large` (3) large files; half of every file random bytes, half text (so compression
has work). Per node and round, in turn:

* panel zstd / gzip: backups.storage.store (what the backup job runs): the contained tools container
  on the node, tar with zstd -T0 (or gzip), the archive's sha256 computed as it is written, renamed
  when complete; then backups.storage.restore of it: sha256 checked, extracted into staging, swapped in;
* raw `tar --zstd -cf`, `tar -czf` and `tar -I 'zstd -T0 -3' -cf` on the node's host, as the node's
  user (over the node client's own SSH connection for the SSH node), into a directory beside; and
  their extraction with the same tar into an empty directory.

Throughput = the data set's bytes / wall-clock seconds. The issue's target: the panel at least 90% of
raw tar's throughput (panel zstd against `tar --zstd`, panel gzip against `tar -czf`).
"""

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench import adapter  # noqa: E402
from bench.harness import OUT, env, machine_info, migrate_and_setup_django, run_bench  # noqa: E402

MB = 1024 * 1024
PORTS = {"local": "30900-30901", "ssh": "30910-30911"}
RAW = {
    "zstd": ["tar", "--zstd", "-cf"],
    "gzip": ["tar", "-czf"],
    "zstd-T0": ["tar", "-I", "zstd -T0 -3", "-cf"],
}
UNRAW = {
    "zstd": ["tar", "--zstd", "-xf"],
    "gzip": ["tar", "-xzf"],
    "zstd-T0": ["tar", "-I", "zstd -d", "-xf"],
}
TARGET = 0.90
LIMIT = 1800.0  # seconds for one raw command


def make_data(root: Path, *, total_mb: int, small_share: float, large: int, owner: str) -> dict:
    """The mixed data set in `root`; its file count and bytes."""
    import random

    rng = random.Random(13)  # noqa: S311 - sizes, not secrets
    words = b"world chunk region player entity level spawn block item server save "
    small_bytes, count, written = int(total_mb * MB * small_share), 0, 0
    while written < small_bytes:
        size = rng.randint(1024, 16 * 1024)
        path = root / f"world/r{count % 50}/c{count % 7}/f{count}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        half = size // 2
        path.write_bytes(os.urandom(half) + (words * (size // len(words) + 1))[: size - half])
        count, written = count + 1, written + size
    big = (total_mb * MB - written) // max(1, large)
    for index in range(large):
        with open(root / f"large-{index}.bin", "wb") as handle:
            for _ in range(big // MB):
                handle.write(os.urandom(MB // 2) + (words * (MB // 2 // len(words) + 1))[: MB // 2])
        written += (big // MB) * MB
        count += 1
    uid, gid = (int(part) for part in owner.split(":"))
    for directory, subdirs, names in os.walk(root):
        for name in [*subdirs, *names]:
            os.lchown(os.path.join(directory, name), uid, gid)
    return {"files": count, "bytes": written}


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir = OUT / f"backup-{self.stamp}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.records: list[dict] = []
        self.targets: list[dict] = []
        self.data: dict = {}

    def seed(self) -> None:
        admin, _, template = adapter.seed_panel()
        location = adapter.location_create("bench")
        for key in self.args.nodes:
            n = 1 if key == "local" else 2
            ssh = key == "ssh"
            node = adapter.node_online(
                ports=PORTS[key],
                ssh_host_key=env("HEARTH_TEST_SSH2_HOSTKEY") if ssh else "",
                name=f"bench-{key}",
                location=location,
                docker_url=env("HEARTH_TEST_SSH2_URL") if ssh else env("HEARTH_TEST_DOCKER1_URL"),
                hostname="127.0.0.1",
                public_address="127.0.0.1",
                data_dir=env(f"HEARTH_TEST_NODE{n}_DATA_DIR"),
                max_memory_mb=4096,
                max_cpu_cores=2,
                ssh_private_key=Path(env("HEARTH_TEST_SSH_KEY")).read_text() if ssh else "",
            )
            server = adapter.server_create(
                actor=admin,
                template=template,
                name=f"bench-backup-{key}",
                node=node,
                allocated_memory_mb=256,
                allocated_cpu_cores=1,
                allocated_disk_mb=4 * self.args.total_mb + 1024,
            )
            raw = f"{node.data_dir.rstrip('/')}/servers/{uuid.uuid4()}"
            self.targets.append({"key": key, "node": node, "server": server, "raw": raw})

    def run(self) -> None:
        migrate_and_setup_django(self.logdir)
        self.seed()
        self.machine = machine_info([env("HEARTH_TEST_DOCKER1_URL"), env("HEARTH_TEST_DOCKER2_URL")])
        a = self.args
        for t in self.targets:
            root = Path(adapter.server_dir(t["server"]))
            root.mkdir(parents=True, exist_ok=True)
            owner = adapter.container_user(t["server"])
            os.chown(root, *(int(p) for p in owner.split(":")))
            started = time.monotonic()
            self.data = make_data(
                root, total_mb=a.total_mb, small_share=a.small_share, large=a.large, owner=owner
            )
            print(f"{t['key']}: data set {self.data} in {time.monotonic() - started:.1f} s", flush=True)
            adapter.node_run(t["node"], ["mkdir", "-p", t["raw"]])
            for round_no in range(a.rounds):
                for compression in a.compressions:
                    self.panel(t, compression, round_no)
                    self.raw(t, compression, round_no)
                if "zstd" in a.compressions:
                    self.raw(t, "zstd-T0", round_no)

    def timed(self, t, method, what, round_no, body, size=None) -> None:
        os.sync()  # untimed: the previous step's dirty pages are not this one's to write
        started = time.monotonic()
        error = ""
        try:
            archive = body()
        except Exception as exc:
            archive, error = 0, f"{exc.__class__.__name__}: {exc}"[:300]
        seconds = time.monotonic() - started
        record = {
            "node": t["key"], "method": method, "what": what, "round": round_no, "seconds": seconds,
            "bytes": self.data["bytes"], "archive_bytes": archive if size is None else size, "error": error,
        }  # fmt: skip
        self.records.append(record)
        rate = self.data["bytes"] / MB / seconds
        print(f"  {t['key']:5} {method:14} {what:7} {seconds:7.2f} s {rate:8.1f} MB/s {error}", flush=True)

    def panel(self, t, compression, round_no) -> None:
        server = t["server"]
        made = {}

        def backup():
            made["backup"] = adapter.backup_store(server, compression)
            return made["backup"].size_bytes

        self.timed(t, f"panel {compression}", "backup", round_no, backup)
        if "backup" in made:
            self.timed(
                t,
                f"panel {compression}",
                "restore",
                round_no,
                lambda: adapter.backup_restore(made["backup"], server),
                size=made["backup"].size_bytes,
            )
            adapter.backup_discard(made["backup"])

    def raw(self, t, compression, round_no) -> None:
        node, root, raw = t["node"], adapter.server_dir(t["server"]), t["raw"]
        archive, into = f"{raw}/archive", f"{raw}/x"

        def backup():
            adapter.node_run(node, [*RAW[compression], archive, "-C", root, "."], timeout=LIMIT)
            return int(adapter.node_output(node, ["stat", "-c", "%s", archive]).strip())

        self.timed(t, f"raw {compression}", "backup", round_no, backup)

        def restore():
            adapter.node_run(node, ["mkdir", into])
            adapter.node_run(node, [*UNRAW[compression], archive, "-C", into], timeout=LIMIT)

        self.timed(t, f"raw {compression}", "restore", round_no, restore)
        adapter.node_run(node, ["rm", "-rf", "--one-file-system", "--", into, archive], timeout=LIMIT)

    def cleanup(self) -> None:
        for t in self.targets:
            with contextlib.suppress(Exception):
                adapter.backup_remove_all(t["server"])
            with contextlib.suppress(Exception):
                adapter.node_run(t["node"], ["rm", "-rf", "--one-file-system", "--", t["raw"]], timeout=LIMIT)
            with contextlib.suppress(Exception):
                shutil.rmtree(adapter.server_dir(t["server"]))
            with contextlib.suppress(Exception):
                adapter.server_destroy(t["server"])


def _median(records, node, method, what):
    done = [
        r
        for r in records
        if r["node"] == node and r["method"] == method and r["what"] == what and not r["error"]
    ]
    if not done:
        return None, None
    seconds = statistics.median(r["seconds"] for r in done)
    return seconds, statistics.median(r["archive_bytes"] for r in done)


def report(bench: Bench) -> str:
    a, m, d = bench.args, bench.machine, bench.data
    label = "" if a.total_mb >= 1024 else " (--quick / reduced size: a development run, not the issue's 1 GB)"
    lines = [
        f"## backup — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{label}",
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', 'bench/backup/run.py')}`",
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['kernel']}; Python {m['python']}",
        f"- **Engines:** {'; '.join(m['engines'])}",
        f"- **Code:** {m['commit']}",
        f"- **Data:** {d['files']:,} files, {d['bytes']:,} bytes ({d['bytes'] / MB:.0f} MB): {a.small_share:.0%} in files of "
        f"1-16 KB, the rest in {a.large} large files; each file half random, half text; {a.rounds} round(s); page cache warm",
        "",
        "Seconds of wall clock (median of the rounds); MB/s = the data set's MB / seconds (MB = 2^20 bytes). "
        "Panel = backups.storage.store / restore (the contained tools container, the sha256 read right behind tar, "
        "checked before restoring, staging and swap); raw = tar on the node's host as the node's user. "
        "Every step starts after a sync (untimed).",
        "",
    ]
    for t in bench.targets:
        node = t["key"]
        lines += [
            f"### {node} node",
            "",
            "| method | backup s | backup MB/s | archive MB | restore s | restore MB/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        methods = [f"panel {c}" for c in a.compressions] + [f"raw {c}" for c in a.compressions]
        if "zstd" in a.compressions:
            methods.append("raw zstd-T0")
        for method in methods:
            b, size = _median(bench.records, node, method, "backup")
            r, _ = _median(bench.records, node, method, "restore")
            cells = [f"{b:.2f}" if b else "-", f"{d['bytes'] / MB / b:.1f}" if b else "-", f"{size / MB:.1f}" if size else "-",
                     f"{r:.2f}" if r else "-", f"{d['bytes'] / MB / r:.1f}" if r else "-"]  # fmt: skip
            raw_name = {
                "raw zstd-T0": "raw: `tar -I 'zstd -T0 -3' -cf`",
                "raw zstd": "raw: `tar --zstd -cf`",
                "raw gzip": "raw: `tar -czf`",
            }
            lines.append(f"| {raw_name.get(method, method)} | " + " | ".join(cells) + " |")
        lines.append("")
        for compression in a.compressions:
            for what in ("backup", "restore"):
                panel, _ = _median(bench.records, node, f"panel {compression}", what)
                raw, _ = _median(bench.records, node, f"raw {compression}", what)
                if panel and raw:
                    ratio = raw / panel
                    verdict = "met" if ratio >= TARGET else "**NOT met**"
                    lines.append(
                        f"- {node} {what} {compression}: panel at {ratio:.0%} of raw tar's throughput — {verdict} (≥ {TARGET:.0%})"
                    )
        lines.append("")
    failures = [r for r in bench.records if r["error"]]
    if failures:
        lines.append(
            "**Failures:** "
            + "; ".join(f"{r['node']} {r['method']} {r['what']}: {r['error']}" for r in failures)
        )
        lines.append("")
    return "\n".join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 MB instead of 1 GB (a development run)")
    parser.add_argument("--total-mb", type=int, help="the data set's size (1024; --quick 100)")
    parser.add_argument("--small-share", type=float, default=0.3, help="share of the bytes in small files")
    parser.add_argument("--large", type=int, default=3, help="number of large files")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--nodes", nargs="+", choices=["local", "ssh"], default=["local", "ssh"])
    parser.add_argument("--compressions", nargs="+", choices=["zstd", "gzip"], default=["zstd", "gzip"])
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    args.total_mb = args.total_mb or (100 if args.quick else 1024)
    if not (10 <= args.total_mb <= 20_000 and 1 <= args.rounds <= 10 and 0 < args.small_share < 1):
        parser.error("--total-mb 10-20000, --rounds 1-10, 0 < --small-share < 1")
    return args


def main() -> int:
    args = parse_args()
    env("DATABASE_URL")
    bench = Bench(args)
    return run_bench(
        bench,
        raw=bench.logdir / "records.json",
        measured=lambda: {"args": vars(args), "records": bench.records},
        report=report,
        append=not args.no_results,
    )


if __name__ == "__main__":
    sys.exit(main())
