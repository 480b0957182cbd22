"""bench/alerts' section of RESULTS.md."""

import os
import statistics
from datetime import UTC, datetime

from bench.alerts.evaluate import RULES, SERVER_RULES, STATES
from bench.harness import percentile, summary

STATE_TEXT = {
    "none": "nothing holds",
    "open": "{hot} hold for the first time (opened)",
    "repeat": "the same still hold (repeats)",
    "clear": "they clear (resolved)",
}


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def evaluation_lines(results: list[dict], args) -> list[str]:
    lines = [
        f"### 1. Rule evaluation: one `evaluate_rules()` call, {len(RULES)} rules ({SERVER_RULES} on `*` servers, "
        "1 node rule)",
        "",
        f"Median and p95 over {args.rounds} rounds (after a warm-up round) of the whole call, in ms; "
        "statements sent during the call. *Raw read*: one SELECT of every server's points in the window "
        "a server rule reads (all three metrics, rows fetched).",
        "",
        "| size | state | alerts opened / resolved | median ms | p95 ms | statements | ms per server | "
        "x raw read |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        raw_median = statistics.median(x["seconds"] for x in r["raw"])
        label = f"**{r['size']} servers**"
        for state in STATES:
            calls = r["calls"][state]
            secs = [c["seconds"] for c in calls]
            median = statistics.median(secs)
            queries = sorted({c["queries"] for c in calls})
            changed = {
                "open": r["hot"] * SERVER_RULES,
                "clear": r["hot"] * SERVER_RULES,
            }.get(state, 0)
            text = STATE_TEXT[state].format(hot=f"{r['hot']} servers x {SERVER_RULES} rules")
            lines.append(
                f"| {label} | {text} | {changed} | {ms(median)} | {ms(percentile(secs, 95))} | "
                f"{'-'.join(str(q) for q in (queries[0], queries[-1])) if len(queries) > 1 else queries[0]} | "
                f"{median / r['size'] * 1000:.3f} | {median / raw_median:.1f} |"
            )
            label = ""
        raws = [x["seconds"] for x in r["raw"]]
        lines.append(
            f"| | *raw read ({r['rows_read']} rows)* | | {ms(raw_median)} | {ms(percentile(raws, 95))} | 1 | "
            f"{raw_median / r['size'] * 1000:.3f} | 1.0 |"
        )
    lines.append("")
    for r in results:
        lines.append(
            f"- {r['size']} servers x {args.points} points seeded (bulk) in {r['seed_seconds']:.1f} s; an opening "
            f"call created {r.get('deliveries_per_open', 0)} deliveries (each queued to Redis on commit)."
        )
    return lines


def delivery_lines(d: dict) -> list[str]:
    lines = [
        "",
        "### 2. Delivery: the Procfile's worker → webhook receiver stand-in",
        "",
        "Seconds from the alert's `created_at` to the request at the receiver (its body read), and "
        "deliveries per second (first alert created → last request received). *direct urllib3*: the same "
        "bodies signed with the rule's secret and POSTed from one process one after the other (per POST).",
        "",
        "| series | n received | p50 s | p95 s | max s | deliveries/s | attempt ms (p50) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in (("burst", "raised together"), ("paced", "raised at {rate:g}/s")):
        run = d.get(key)
        if not run:
            continue
        recs = run["records"]
        lat = summary([r["received"] - r["created"] for r in recs])
        span = max(r["received"] for r in recs) - min(r["created"] for r in recs) if recs else 0
        attempts = [r["duration_ms"] for r in recs if r["duration_ms"] is not None]
        lines.append(
            f"| panel: {run['count']} alerts {name.format(rate=run['rate'] or 0)} | {len(recs)}/{run['count']} | "
            f"{lat['p50']:.3f} | {percentile([r['received'] - r['created'] for r in recs], 95):.3f} | "
            f"{lat['max']:.3f} | {f'{len(recs) / span:.1f}' if key == 'burst' else '(paced)'} | {statistics.median(attempts) if attempts else '-'} |"
        )
    direct = d.get("direct")
    if direct:
        t = direct["times"]
        lines.append(
            f"| direct urllib3: {direct['count']} POSTs | {direct['received']}/{direct['count']} | "
            f"{percentile(t, 50):.4f} | {percentile(t, 95):.4f} | {max(t):.4f} | "
            f"{direct['count'] / direct['seconds']:.1f} | {percentile(t, 50) * 1000:.1f} |"
        )
    burst = d.get("burst")
    if burst:
        extra = [
            f"raising the {burst['count']} alerts took {burst['raise_seconds']:.2f} s in this process",
            f"delivery statuses: {', '.join(burst['statuses']) or '-'}",
            f"{sum(1 for r in burst['records'] if r['signed'])} requests signed",
            f"attempts per delivery: max {max((r['attempts'] for r in burst['records']), default=0)}",
        ]
        if burst["unmatched"] or burst["received"] < burst["count"]:
            extra.append(f"**{burst['count'] - len(burst['records'])} not received or not matched**")
        lines += ["", "- Burst: " + "; ".join(extra) + "."]
    return lines


def report(bench) -> str:
    a, m = bench.args, bench.machine
    title = "alerts (development run)" if a.development else "alerts"
    sizes = " and ".join(f"{s:,}" for s in a.servers)
    lines = [
        f"## {title} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Command:** `{os.environ.get('BENCH_COMMAND', 'bench/alerts/run.py')}`",
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['kernel']}; Python "
        f"{m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}",
        f"- **Code:** {m['commit']}",
        f"- **Sizes:** evaluation on {sizes} running servers ({a.points} points each, a minute apart; "
        f"{a.hot_percent} % hot), delivery of {a.alerts} alerts raised together"
        + (f" and {a.paced} at {a.rate:g}/s" if a.paced else "")
        + "; the Procfile's worker (`"
        + " ".join(bench.worker_cmd[1:])
        + "`)",
        f"- **Load average** (1/5/15 min) at the start: {' '.join(bench.load[0])}, at the end: "
        f"{' '.join(bench.load[-1])}",
        "",
    ]
    if bench.evaluation:
        lines += evaluation_lines(bench.evaluation, a)
    lines += delivery_lines(bench.delivery)
    return "\n".join(lines) + "\n"
