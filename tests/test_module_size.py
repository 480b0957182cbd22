"""The standing rule: no module over 450 lines, migrations and tests aside, bench/ included. A module
that grows past it is split by topic (see the README's "Architecture")."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 450
# Not the project's modules: the virtualenv, run-time state and benchmark output.
SKIPPED_DIRS = {".venv", "venv", "var", "out", "node_modules", "__pycache__", "tests", "migrations"}


def project_modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in parts[:-1]):
            continue
        yield path


def line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def test_the_walk_sees_the_apps_and_bench():
    seen = {p.relative_to(ROOT).as_posix() for p in project_modules()}
    assert {"manage.py", "config/settings.py", "servers/models.py", "bench/harness.py"} <= seen
    assert not any(p.startswith(("tests/", ".venv/")) or "/migrations/" in p for p in seen)


def test_no_module_is_over_450_lines():
    offenders = {p.relative_to(ROOT).as_posix(): n for p in project_modules() if (n := line_count(p)) > LIMIT}
    listed = ", ".join(f"{path} ({n})" for path, n in sorted(offenders.items(), key=lambda kv: -kv[1]))
    assert not offenders, f"Modules over {LIMIT} lines (split them by topic): {listed}"
