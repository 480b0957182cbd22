"""Run bench/eggs on a corpus and append its report to bench/RESULTS.md (see bench/eggs/__init__.py)."""

import argparse
import json
import os
import platform
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-eggs-parses-only")  # nothing is signed or stored
os.environ.setdefault("DEBUG", "0")


def is_egg(path: str) -> bool:
    """egg-*.json / .yaml outside hidden directories (.github holds an issue form named egg-request.yml)."""
    parts = Path(path).parts
    return (
        parts[-1].startswith("egg-")
        and path.endswith((".json", ".yaml", ".yml"))
        and not any(p.startswith(".") for p in parts)
    )


def corpus(source: Path) -> tuple[list[tuple[str, bytes]], str]:
    """(name, bytes) of every egg-*.json/yaml in a directory or a bare git directory, and its revision."""
    if (source / "HEAD").is_file() and (source / "objects").is_dir():
        git = ["git", "-C", str(source)]
        names = subprocess.run(
            [*git, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True
        )
        eggs = [n for n in names.stdout.splitlines() if is_egg(n) and n.endswith((".json", ".yaml", ".yml"))]
        revision = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        return [
            (n, subprocess.run([*git, "show", f"HEAD:{n}"], capture_output=True, check=True).stdout)
            for n in eggs
        ], revision
    files = sorted(p for p in source.rglob("egg-*") if is_egg(str(p.relative_to(source))))
    return [(str(p.relative_to(source)), p.read_bytes()) for p in files], "a directory"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    mem = int(
        next(
            line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
        ).split()[1]
    )
    return f"{cpu}, {os.cpu_count()} cores, {mem / 1024 / 1024:.1f} GiB RAM, {platform.system()} {platform.release()}; Python {platform.python_version()}"


def commit() -> str:
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    changed = subprocess.run(
        [
            "git",
            "diff",
            "--name-only",
            "HEAD",
            "--",
            "templates_app",
            "tests/templates_app/egg_rules.py",
            "bench/eggs",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.split()
    return f"git {rev}" + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def counted(title: str, kind: str, counts: list[tuple[str, int]]) -> list[str]:
    """A markdown table of how many eggs have each kind of `kind`."""
    return [title, "", f"| {kind} | eggs |", "|---|---:|", *(f"| {k} | {c} |" for k, c in counts)]


def report(results: list[dict], source: Path, revision: str, seconds: float) -> str:
    from bench.eggs.measure import EGG_FIELDS, FORMATS, PTERODACTYL, kinds

    total, imported = len(results), [r for r in results if r["imported"]]
    refused = [r for r in results if not r["imported"]]
    saved = [r for r in imported if not r["save_problems"]]
    n = len(imported)
    lines = [
        f"## eggs — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Command:** `.venv/bin/python -m bench.eggs {source}`",
        f"- **Machine:** {machine()}",
        f"- **Code:** {commit()}",
        f"- **Corpus:** {source} at {revision}: {total} eggs, measured in {seconds:.1f} s (parse, checks, two exports and re-imports each; no database)",
        "",
        f"**Import:** {len(imported)} of {total} imported ({pct(len(imported), total)}), {len(refused)} refused. "
        f"**Save checks** (the model's and template_save's validation, the start-command analysis; not the name's uniqueness): "
        f"{len(saved)} of {total} pass ({pct(len(saved), total)}).",
        "",
    ]
    if refused:
        lines += ["Refused at import:", ""] + [f"- `{r['name']}`: {r['reason']}" for r in refused] + [""]
    unsaved = [r for r in imported if r["save_problems"]]
    if unsaved:
        lines += counted(
            "Imported but refused by the save checks (reason: eggs):",
            "reason",
            Counter(k for r in unsaved for k in set(kinds(r["save_problems"]))).most_common(12),
        )
        lines += ["", "Eggs: " + ", ".join(f"`{Path(r['name']).name}`" for r in unsaved), ""]
    lines += counted(
        "Import warnings (eggs with at least one of the kind, most common first):",
        "warning",
        Counter(k for r in imported for k in set(kinds(r["warnings"]))).most_common(15),
    )
    lines += ["", "**Round trip** (import → export → import), % of imported eggs equal:", ""]
    template_fields = list(imported[0][PTERODACTYL]["template_fields"]) if imported else []
    lines += ["| template field | " + " | ".join(FORMATS) + " |", "|---|" + "---:|" * len(FORMATS)]
    for field in [*template_fields, "variables (every field)"]:

        def equal(r, form, field=field):
            return (
                r[form]["variables"] if field.startswith("variables") else r[form]["template_fields"][field]
            )

        lines.append(
            f"| {field} | " + " | ".join(pct(sum(equal(r, f) for r in imported), n) for f in FORMATS) + " |"
        )
    lines += [
        "",
        "What the export writes back of what the egg wrote (% of imported eggs equal; config sections compared decoded, CRLF as LF):",
        "",
    ]
    lines += ["| egg field | " + " | ".join(FORMATS) + " |", "|---|" + "---:|" * len(FORMATS)]
    for field in EGG_FIELDS:
        lines.append(
            f"| {field} | "
            + " | ".join(pct(sum(r[f]["egg_fields"][field] for r in imported), n) for f in FORMATS)
            + " |"
        )
    ptero_ok = sum(not r[PTERODACTYL]["pterodactyl"] for r in imported)
    lines += [
        "",
        "**Importer rules** (tests/templates_app/egg_rules.py, the panels' validation translated):",
        "",
        f"- exported PTDL_v2 passing Pterodactyl's: {ptero_ok} of {n} ({pct(ptero_ok, n)}); the originals: "
        f"{sum(not r['original_pterodactyl'] for r in imported)} of {n}",
    ]
    for form in FORMATS:
        ok = sum(not r[form]["pelican"] for r in imported)
        lines.append(f"- exported {form} passing Pelican's: {ok} of {n} ({pct(ok, n)})")
    lines.append(
        f"- the originals passing Pelican's: {sum(not r['original_pelican'] for r in imported)} of {n}"
    )
    renamed = Counter(x for r in imported for x in r[PTERODACTYL]["pelican_renamed"])
    if renamed:
        lines.append(
            "- Pelican renames reserved names on import (its importer, not a refusal): "
            + ", ".join(f"{k} ({c})" for k, c in renamed.most_common())
        )
    problems = kinds(
        p for r in imported for f in FORMATS for p in (r[f]["pelican"] or []) + (r[f]["pterodactyl"] or [])
    )
    if problems:
        lines += ["", "Problems the checkers found in exports:", ""] + [
            f"- {k}: {c}" for k, c in problems.most_common(10)
        ]
    originals = kinds(p for r in imported for p in r["original_pterodactyl"])
    if originals:
        lines += ["", "What Pterodactyl's rules refuse in the originals (for comparison):", ""] + [
            f"- {k}: {c}" for k, c in originals.most_common(8)
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path, help="a directory of eggs, or a bare git directory")
    parser.add_argument(
        "--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md"
    )
    args = parser.parse_args()
    import time

    import django

    django.setup()
    from bench.eggs.measure import measure
    from bench.harness import OUT, publish

    started = time.monotonic()
    eggs, revision = corpus(args.source)
    results = [measure(name, data) for name, data in eggs]
    seconds = time.monotonic() - started
    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / "eggs.json"
    raw.write_text(json.dumps(results, indent=1, default=str))
    publish(report(results, args.source, revision, seconds), append=not args.no_results, raw=raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
