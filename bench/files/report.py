"""The files benchmark's report: the RESULTS.md section (the run's conditions, a table per node, the
ratios against the raw baselines and the issue's targets)."""

import os
import statistics
from datetime import UTC, datetime

from bench.files.common import API_TARGET, MB, TARGETS

WHATS = ("big-up", "big-down", "small-up", "small-down")
LABELS = {
    "raw-openssh": "raw: OpenSSH `sftp -b` → node's sshd",
    "raw-paramiko": "raw: paramiko SFTP → node's sshd",
    "api": "API",
    "api-archive": "API, small files as a tar.gz (decompress / compress job)",
    "gateway-paramiko": "gateway: paramiko SFTP",
    "gateway-openssh": "gateway: OpenSSH `sftp -b`",
}
# (numerator, denominator, what it shows, {transfer: target})
RATIOS = [
    ("gateway-paramiko", "raw-paramiko", "the gateway's own cost",
     {"big-up": TARGETS["big"], "big-down": TARGETS["big"], "small-up": TARGETS["small"],
      "small-down": TARGETS["small"]}),
    ("gateway-openssh", "raw-openssh", "the gateway, OpenSSH's client", {}),
    ("api", "raw-openssh", "the API against raw", {"big-up": API_TARGET, "big-down": API_TARGET}),
    ("api", "raw-paramiko", "the API against direct paramiko", {}),
    ("api-archive", "raw-openssh", "the archive path against raw", {}),
]  # fmt: skip


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ok(records, node, method, what):
    return [r for r in records if r.node == node and r.method == method and r.what == what and not r.error]


def median_seconds(records, node, method, what) -> float | None:
    done = _ok(records, node, method, what)
    return statistics.median(r.seconds for r in done) if done else None


def rate(records, node, method, what) -> float | None:
    """Files/s for the small files, MB/s for the big file, from the median time."""
    done = _ok(records, node, method, what)
    seconds = median_seconds(records, node, method, what)
    if not done or not seconds:
        return None
    return (done[0].files if what.startswith("small") else done[0].bytes / MB) / seconds


def _peak(done, name):
    values = [r.peak_rss_kb.get(name) for r in done if r.peak_rss_kb.get(name)]
    return max(values) / 1024 if values else None


def _cpu(done, name):
    values = [r.cpu_seconds.get(name) for r in done if name in r.cpu_seconds]
    return statistics.median(values) if values else None


def _process(method: str) -> str | None:
    """The panel's process a method goes through (the raw baselines go through none)."""
    return "web" if method.startswith("api") else "sftp" if method.startswith("gateway") else None


def _row(bench, t, method, what) -> str | None:
    records = [r for r in bench.records if r.node == t.key and r.method == method and r.what == what]
    if not records:
        return None
    done = [r for r in records if not r.error]
    seconds = median_seconds(bench.records, t.key, method, what)
    rates = rate(bench.records, t.key, method, what) if what != "connect" else None
    mbs = done[0].bytes / MB / seconds if done and seconds and what.startswith("small") else None
    connects = [r.connect_seconds for r in done if r.connect_seconds is not None]
    label = {"connect": "connect + login only"}.get(what, what)
    if done and done[0].detail.get("sample"):
        label += f" (one GET per file, first {done[0].detail['sample']:,} files)"
    if done and done[0].detail.get("requests"):
        label += f" ({done[0].detail['requests']} multipart requests)"
    if len(done) < len(records):
        label += f" — {len(records) - len(done)} failed"
    name = _process(method)
    peak, cpu = (fmt(_peak(done, name)), fmt(_cpu(done, name), 2)) if name else ("-", "-")
    web = bench.web_servers.get(method, bench.web_server)
    shown = {"web": f"web ({web})", "sftp": "gateway"}.get(name, "-")
    return (
        f"| {LABELS[method]} | {label} | {len(done)} | {fmt(seconds, 2)} "
        f"| {fmt(rates if what.startswith('big') else mbs)} | {fmt(rates, 0) if what.startswith('small') else '-'} "
        f"| {shown} | {peak} | {cpu} | {fmt(statistics.median(connects), 3) if connects else '-'} |"
    )


def node_table(bench, t) -> list[str]:
    lines = [
        f"### {t.title}",
        "",
        "| method | transfer | n | seconds (median) | MB/s | files/s | panel process | its peak RSS (MB) "
        "| its CPU (s) | login, not in the time (s) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for method in bench.args.methods:
        lines += [row for what in ("connect", *WHATS) if (row := _row(bench, t, method, what))]
    return [*lines, ""]


def ratio_lines(bench, t, verdicts: list[str]) -> list[str]:
    lines = [
        "| ratio (of MB/s, files/s) | " + " | ".join(WHATS) + " |",
        "|---|" + "---:|" * len(WHATS),
    ]
    for top, bottom, meaning, targets in RATIOS:
        if top not in bench.args.methods or bottom not in bench.args.methods:
            continue
        cells = []
        for what in WHATS:
            a, b = rate(bench.records, t.key, top, what), rate(bench.records, t.key, bottom, what)
            ratio = a / b if a is not None and b else None
            cell = "-" if ratio is None else f"{ratio:.0%}"
            if what in targets:
                met = ratio is not None and ratio >= targets[what]
                verdict = (
                    "not measured (a transfer failed)" if ratio is None else "met" if met else "**NOT met**"
                )
                cell += f" (target ≥ {targets[what]:.0%}: {verdict})"
                verdicts.append(
                    f"- {t.key} {what}, {meaning} ({top} / {bottom}): "
                    f"{cell.split(' (')[0]} — {verdict} (≥ {targets[what]:.0%})"
                )
            cells.append(cell)
        lines.append(f"| {top} / {bottom} ({meaning}) | " + " | ".join(cells) + " |")
    return [*lines, ""] if len(lines) > 2 else []


def header(bench) -> list[str]:
    a, m, d = bench.args, bench.machine, bench.data
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    size = f"{a.big_mb} MB / {a.files:,} files"
    title = f"## files — {when}"
    if not a.full_size:
        title += f" (DEVELOPMENT RUN, smaller than asked: {size} instead of 500 MB / 10,000 files — not the result)"
    small_mb = d.small_bytes / MB
    lines = [
        title,
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', '')}`",
        f"- **Machine:** {m.get('cpu')}, {m.get('cores')} cores (nproc), {m.get('memory_gib')} GiB RAM, "
        f"{m.get('kernel')}; Python {m.get('python')}, PostgreSQL {m.get('postgresql')}, Redis {m.get('redis')}, "
        f"{m.get('openssh')}, paramiko {m.get('paramiko')}, requests {m.get('requests')}",
        *[f"- **Engine:** {engine}" for engine in m.get("engines", [])],
        f"- **Code:** {m.get('commit')}",
        f"- **Data (as used):** one file of {a.big_mb} MB ({d.big_bytes:,} bytes) and a directory of "
        f"{a.files:,} files of {a.min_kb}-{a.max_kb} KB ({small_mb:,.1f} MB, {d.small_bytes:,} bytes), "
        f"random bytes, on the client's {a.tmp or 'temporary directory'}; {a.rounds} round(s) of every "
        f"transfer; API uploads of small files {a.api_batch:,} files per multipart request; the transfers took "
        f"{bench.duration:.0f} s",
        f"- **Load average** (1/5/15 min) before: {' '.join(bench.load_before)}, after: "
        f"{' '.join(bench.load_after)}; other pytest processes running before/after: "
        f"{bench.tests_before}/{bench.tests_after}",
    ]
    idle = bench.idle_rss_kb
    if idle:
        lines.append(
            "- **Idle RSS** before the transfers: "
            + ", ".join(
                f"{ {'web': f'web ({bench.web_server})', 'sftp': 'gateway'}.get(name, name) } {kb / 1024:,.1f} MB"
                for name, kb in idle.items()
            )
        )
    if a.note:
        lines.append(f"- **Note:** {a.note}")
    lines += [f"- **Note:** {note}" for note in bench.notes]
    for method in ("raw-openssh", "gateway-openssh"):
        runs = [r for r in bench.records if r.method == method and "exit_seconds" in r.detail]
        hung = [r for r in runs if r.detail.get("exit_hung")]
        if hung:
            lines.append(
                f"- **Note:** {method}: in {len(hung)} of {len(runs)} runs `sftp` had not exited "
                f"{hung[0].detail['exit_seconds']:.0f} s after its last command was answered (the server "
                "did not close the session) and was killed; its times stop at that last answer."
            )
    failed = [r for r in bench.records if r.error]
    if failed:
        lines.append(
            f"- **Failed transfers:** {len(failed)} — "
            + "; ".join(f"{r.node} {r.method} {r.what}: {r.error[:160]}" for r in failed[:8])
        )
    return [
        *lines,
        "",
        "Seconds from the client's first request to its last byte on its disk (a download is then "
        "checked against the source, an upload's size on the node, untimed). MB = 2^20 bytes. The "
        "paramiko methods' time leaves out the connection and login (their own column); an OpenSSH "
        "`sftp -b` run is one process, its time includes them (the *connect + login only* row is that "
        "cost alone). Peak RSS is VmHWM, reset before each transfer, of the web process and of the "
        "gateway's processes; CPU is their user+system time during the transfer. Each API method starts on a freshly "
        "started web process: the Procfile's `web` server (uvicorn). The API's uploads run with "
        f"`HEARTH_FILES_UPLOAD_MAX_BYTES` = {bench.data.big_bytes + 64 * MB:,} (the default, 100 MB, "
        "would refuse the big file).",
        "",
    ]


def report(bench) -> str:
    lines = header(bench)
    verdicts: list[str] = []
    for t in bench.targets:
        lines += node_table(bench, t)
        lines += ratio_lines(bench, t, verdicts)
    if verdicts:
        lines += ["**Targets** (issue 12):", "", *verdicts, ""]
    return "\n".join(lines).rstrip() + "\n"
