"""The lifecycle benchmark's report: the RESULTS.md section (tables per node, targets, stages, notes)."""

import os
import statistics
from datetime import UTC, datetime

from bench.harness import summary
from bench.lifecycle.common import TARGET_MS, ms


def measured(records, node, series, phase, *, false_ready: bool = False) -> list[dict]:
    """The measured rounds of one series. Panel starts whose `running` came before their own ready
    line are no measurement of readiness: they are left out (and counted in the notes)."""
    return [
        r
        for r in records
        if r["node"] == node
        and r["series"] == series
        and not r["warmup"]
        and "error" not in r
        and phase in r
        and (false_ready or not r[phase].get("stages", {}).get("early"))
    ]


def series_values(records, node, series, phase, key="total") -> list[float]:
    return [r[phase][key] * 1000 for r in measured(records, node, series, phase)]


def stage_values(records, node, series, phase, a, b) -> list[float]:
    """Milliseconds from timestamp `a` to timestamp `b` of each measured round ("t0" is the request);
    stops that ran into the panel's stop timeout are left out (they have no normal path to cut up)."""
    out = []
    for r in measured(records, node, series, phase):
        stages = {**r[phase]["stages"], "t0": r[phase]["t0"]}
        if stages.get("timed_out"):
            continue
        if stages.get(a) is not None and stages.get(b) is not None:
            out.append((stages[b] - stages[a]) * 1000)
    return out


# (label, panel's stage as (from, to), the primary raw baseline's matching stage or None)
START_STAGES = [
    ("request → web committed the transition (console: *Start requested*)", ("t0", "requested"), None),
    (
        "→ worker's first engine call with an event (queue, pickup, DB load, inspect; then `archive-path`, "
        "a few ms into reading the config file)",
        ("requested", "first_engine_call"),
        None,
    ),
    (
        "→ container `start` event (panel: the rest of the config-file read/rewrite, then the start call; "
        "raw: the start call from the request)",
        ("first_engine_call", "start_event"),
        ("t0", "start_event"),
    ),
    (
        "→ ready line reaches the engine (the game boots)",
        ("start_event", "ready_engine"),
        ("start_event", "ready_engine"),
    ),
    (
        "→ status `running` written by the monitor (raw: line read by the client)",
        ("ready_engine", "running_at"),
        ("ready_engine", "seen"),
    ),
    ("→ seen by the benchmark's poll", ("running_at", "seen"), None),
    ("**total**", ("t0", "seen"), ("t0", "seen")),
]
STOP_STAGES = [
    ("request → web committed the transition (console: *Stop requested*)", ("t0", "requested"), None),
    (
        "→ `attach` to the game's stdin for `stop` (by the worker, or the monitor's stdin relay when it opens one; raw: SIGTERM, the `kill` event)",
        ("requested", "attach_event"),
        ("t0", "kill_event"),
    ),
    ("→ container `die` event (the game exits)", ("attach_event", "die_event"), ("kill_event", "die_event")),
    (
        "→ status `stopped` written (raw: `docker stop` returned)",
        ("die_event", "stopped_at"),
        ("die_event", "seen"),
    ),
    ("→ seen by the benchmark's poll", ("stopped_at", "seen"), None),
    ("**total**", ("t0", "seen"), ("t0", "seen")),
]


def stage_table(bench, phase: str, stages) -> list[str]:
    header = (
        "| "
        + phase
        + " stage (median ms) | "
        + " | ".join(f"{t.key} panel | {t.key} raw" for t in bench.targets)
    )
    lines = [header + " |", "|---|" + "---:|---:|" * len(bench.targets)]
    for label, panel, raw in stages:
        cells = []
        for t in bench.targets:
            values = stage_values(bench.records, t.key, "panel", phase, *panel)
            cells.append(ms(statistics.median(values)) if values else "-")
            values = stage_values(bench.records, t.key, t.drivers[0].key, phase, *raw) if raw else []
            cells.append(ms(statistics.median(values)) if values else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def table_row(label: str, s: dict | None, bold_p50: bool = False) -> str:
    if not s:
        return f"| {label} | 0 | - | - | - | - |"
    p50 = f"**{ms(s['p50'])}**" if bold_p50 else ms(s["p50"])
    n = s.get("n", "-")
    return f"| {label} | {n} | {p50} | {ms(s['p90'])} | {ms(s['p99'])} | {ms(s['mean'])} |"


def overhead(panel: dict, raw: dict) -> dict:
    return {k: panel[k] - raw[k] for k in ("p50", "p90", "p99", "mean")}


def report(bench) -> str:
    args, records, m = bench.args, bench.records, bench.machine
    when = datetime.now(UTC)
    out = [
        f"## lifecycle — {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', 'bash scripts/run-bench.sh bench/lifecycle/run.py')}`",
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['kernel']}; "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, docker CLI {m['docker_cli']}",
        *[f"- **Engine:** {e}" for e in m["engines"]],
        f"- **Code:** {m['commit']}",
        f"- **Rounds:** {args.rounds} measured per node and per series (+{args.warmup} warm-up, not counted); "
        f"panel and raw cycles interleaved, {args.settle:g} s pause between cycles; status polled every "
        f"{args.poll_ms:g} ms; {len(bench.failures)} failed rounds; took {bench.duration:.0f} s",
        f"- **Load average** (1/5/15 min) before: {' '.join(bench.load_before)}, after: {' '.join(bench.load_after)}; "
        f"other pytest processes running before/after: {bench.tests_before}/{bench.tests_after}",
        "",
        "Milliseconds. Percentiles are nearest-rank (below 100 rounds p99 is the maximum). Overhead = panel - "
        "raw, column by column. The primary raw baseline is docker-py on the engine's own socket; start "
        "ends when the ready line is read, stop when the engine reports the container's `die` (the game has "
        "exited); the `docker stop` rows end when the call returns, after the engine's clean-up.",
        "",
    ]
    verdicts = []
    for t in bench.targets:
        primary = t.drivers[0]
        out += [
            f"### {t.title}",
            "",
            "| series | n | p50 | p90 | p99/max | mean |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        # start
        panel = summary(series_values(records, t.key, "panel", "start"))
        out.append(table_row("**panel: start → `running`**", panel))
        out.append(
            table_row(
                "panel: HTTP answer to POST …/start",
                summary(series_values(records, t.key, "panel", "start", "http")),
            )
        )
        raws = {d.key: summary(series_values(records, t.key, d.key, "start")) for d in t.drivers}
        for d in t.drivers:
            tag = " (primary)" if d is primary else ""
            out.append(table_row(f"raw start → ready line: {d.label}{tag}", raws[d.key]))
        for d in t.drivers:
            if panel and raws[d.key]:
                diff = overhead(panel, raws[d.key])
                tag = " (primary)" if d is primary else ""
                out.append(table_row(f"**overhead start** vs {d.key}{tag}", diff, bold_p50=d is primary))
                if d is primary:
                    verdicts.append((t, "start", diff))
        # stop
        panel = summary(series_values(records, t.key, "panel", "stop"))
        out.append(table_row("**panel: stop → `stopped`**", panel))
        out.append(
            table_row(
                "panel: HTTP answer to POST …/stop",
                summary(series_values(records, t.key, "panel", "stop", "http")),
            )
        )
        delivered = [
            r for r in measured(records, t.key, "panel", "stop") if not r["stop"]["stages"].get("timed_out")
        ]
        if len(delivered) < len(measured(records, t.key, "panel", "stop")):
            out.append(
                table_row(
                    "panel: stop → `stopped`, only stops the game acted on (no stop timeout)",
                    summary([r["stop"]["total"] * 1000 for r in delivered]),
                )
            )
        exited = summary(stage_values(records, t.key, primary.key, "stop", "t0", "die_event"))
        out.append(table_row(f"raw stop → `die` event: {primary.label} (primary)", exited))
        raws = {d.key: summary(series_values(records, t.key, d.key, "stop")) for d in t.drivers}
        for d in t.drivers:
            out.append(table_row(f"raw `docker stop` returned: {d.label}", raws[d.key]))
        if panel and exited:
            diff = overhead(panel, exited)
            out.append(table_row("**overhead stop** vs `die` (primary)", diff, bold_p50=True))
            verdicts.append((t, "stop", diff))
        for d in t.drivers:
            if panel and raws[d.key]:
                out.append(
                    table_row(
                        f"overhead stop vs `docker stop` returned, {d.key}", overhead(panel, raws[d.key])
                    )
                )
        out.append("")
    out += [
        "**Targets** (panel overhead at p50 against the primary baseline; "
        f"local < {TARGET_MS['local']:.0f} ms, SSH < {TARGET_MS['ssh']:.0f} ms):",
        "",
    ]
    for t, phase, diff in verdicts:
        limit = TARGET_MS[t.key]
        rounds = measured(records, t.key, "panel", phase, false_ready=True)
        key = "timed_out" if phase == "stop" else "early"
        broken = sum(1 for r in rounds if r[phase]["stages"].get(key))
        met = diff["p50"] < limit and not broken
        why = ""
        if broken:
            what = (
                "hit the panel's stop timeout"
                if phase == "stop"
                else "reported `running` before the game was ready"
            )
            why = f"; {broken} of {len(rounds)} {phase}s {what}"
        out.append(
            f"- {t.key} {phase}: {ms(diff['p50'])} ms at p50 ({ms(diff['p90'])} at p90) — "
            f"{'**met**' if met else '**NOT met**'} (< {limit:.0f} ms, and every round must reach its state "
            f"properly){why}"
        )
    out += [
        "",
        "**Where the time goes** (median of each stage; timestamps from the request, the panel's console "
        "history in Redis, the engine's events and log timestamps, and the status row's `updated_at`; "
        "medians of stages add up to about the median total; stops that hit the stop timeout are left out):",
        "",
        *stage_table(bench, "start", START_STAGES),
        "",
        *stage_table(bench, "stop", STOP_STAGES),
    ]
    notes = []
    for t in bench.targets:
        rounds = measured(records, t.key, "panel", "start", false_ready=True)
        early_rounds = [r for r in rounds if r["start"]["stages"].get("early")]
        early = len(early_rounds)
        created = sum(1 for r in rounds if "create" in r["start"]["stages"]["engine_calls"])
        written = sum(1 for r in rounds if "extract-to-dir" in r["start"]["stages"]["engine_calls"])
        by = [r["stop"]["stages"]["recorded_by"] for r in measured(records, t.key, "panel", "stop")]
        removed = bench.removed.get(t.key, 0)
        if early:
            ahead = statistics.median(
                (r["start"]["stages"]["ready_engine"] - r["start"]["stages"]["running_at"]) * 1000
                for r in early_rounds
                if r["start"]["stages"].get("ready_engine")
            )
            notes.append(
                f"- **{t.key}: in {early} of {len(rounds)} starts the status became `running` before that start's "
                f"own ready line** (median {ahead:.0f} ms before it): the monitor follows the output from one "
                "to two seconds before the `start` event and took the previous run's `Done (` line. Those "
                "rounds are left out of the start figures above."
            )
        stops = measured(records, t.key, "panel", "stop")
        lost = [r for r in stops if r["stop"]["stages"].get("timed_out")]
        if lost:
            notes.append(
                f"- **{t.key}: in {len(lost)} of {len(stops)} stops the game never got the stop command** (no "
                "effect on stdin): the worker waited for the panel's stop timeout and then killed the container "
                f"(median stop {statistics.median(r['stop']['total'] for r in lost):.1f} s)."
            )
        if created or removed:
            notes.append(
                f"- {t.key}: the panel's container was removed by something else {removed} time(s) during the run "
                f"and recreated by the start in {created} measured round(s) (the test suite's clean-up removes every "
                "`hearth.server` container on both engines: run benchmarks while no tests run)."
            )
        if written:
            notes.append(
                f"- {t.key}: a config file was rewritten (put_archive) in {written} of {len(rounds)} starts."
            )
        if by:
            notes.append(
                f"- {t.key}: `stopped` was written by the monitor (on `die`) in {by.count('monitor')} and by the "
                f"worker (after its wait) in {by.count('worker')} of {len(by)} stops."
            )
    if bench.install_retries:
        notes.append(f"- setup: {bench.install_retries} install(s) failed and were run again.")
    notes += [f"- failed: {f['node']} {f['series']} round {f['round']}: {f['error']}" for f in bench.failures]
    if notes:
        out += ["", *notes]
    out.append("")
    return "\n".join(out)
