"""The apps' import layering, read from the source (ast), lazy imports inside functions included.

- `nodes` never imports `servers`: servers stand on nodes, not the other way round.
- `config` is the plumbing every app stands on: it imports app code only where it wires routes
  (config/urls.py, config/routing.py, config/asgi.py). Settings name app code in strings; those are
  not imports.
- No import cycle between modules of different apps at module level. A lazy import inside a
  function is not a cycle Python trips on; the only upward ones allowed are of `*.tasks` from
  services (queueing a task), and those are lazy by rule.

Each test lists every offender (module, line, what it imports) so one run shows all of them.
"""

import ast
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_WIRING = {"config.urls", "config.routing", "config.asgi"}


def _packages() -> list[str]:
    """The project's top-level packages, as pyproject.toml lists them for setuptools."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return sorted(pattern.rstrip("*") for pattern in found["include"])


PACKAGES = _packages()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the project module imported (the deepest one that exists)
    line: int
    lazy: bool  # inside a function (or under `if TYPE_CHECKING:`): not run at import time

    def __str__(self) -> str:
        how = "lazy" if self.lazy else "module level"
        return f"{self.source}:{self.line} imports {self.target} ({how})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _existing(dotted: str) -> str | None:
    """The deepest project module `dotted` names (`a.b.c` may be module a.b's attribute c)."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in _modules():
            return name
        parts.pop()
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.depth = 0  # functions (and TYPE_CHECKING blocks) we are inside
        self.found: list[Import] = []

    def _add(self, dotted: str, line: int) -> None:
        target = _existing(dotted)
        if target is not None and target != self.module:
            self.found.append(Import(self.module, target, line, lazy=self.depth > 0))

    def _nested(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            self._nested(node)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:  # relative: from the importing module's package
            package = self.module.split(".")
            package = package if self.is_package else package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            self._add(f"{base}.{alias.name}" if alias.name != "*" else base, node.lineno)


@cache
def imports() -> tuple[Import, ...]:
    found: dict[tuple, Import] = {}
    for module, path in sorted(_modules().items()):
        collector = _Collector(module, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        for i in collector.found:  # `from x import a, b`: one import of x
            found.setdefault((i.source, i.target, i.line), i)
    return tuple(found.values())


def app_of(module: str) -> str:
    """The app a module belongs to; config's route wiring stands above every app, in a layer of its own."""
    return "wiring" if module in CONFIG_WIRING else module.split(".")[0]


def _report(title: str, offenders) -> str:
    return f"{title}:\n  " + "\n  ".join(map(str, offenders))


def test_the_graph_sees_the_project():
    """Guard against a broken collector passing everything: known imports are in the graph."""
    assert any(app_of(i.source) == "servers" and i.target == "nodes.models" for i in imports())
    assert any(i.source == "config.urls" and app_of(i.target) == "nodes" for i in imports())
    assert any(i.lazy for i in imports()), "no lazy import found: the collector misses functions"


def test_nodes_never_import_servers():
    offenders = [i for i in imports() if app_of(i.source) == "nodes" and app_of(i.target) == "servers"]
    assert not offenders, _report("nodes/ imports servers/ (servers stand on nodes, not back)", offenders)


def test_config_imports_app_code_only_where_it_wires_routes():
    offenders = [
        i for i in imports() if app_of(i.source) == "config" and app_of(i.target) not in ("config", "wiring")
    ]
    assert not offenders, _report(
        "config/ imports app code outside urls.py, routing.py and asgi.py", offenders
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively (the graph has hundreds of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
                continue
            if child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def test_no_import_cycle_between_apps_at_module_level():
    graph: dict[str, set[str]] = {module: set() for module in _modules()}
    for i in imports():
        if not i.lazy:
            graph[i.source].add(i.target)
    cycles = [
        component
        for component in _strongly_connected(graph)
        if len({app_of(module) for module in component}) > 1
    ]
    offenders = [
        i
        for component in cycles
        for i in imports()
        if not i.lazy
        and i.source in component
        and i.target in component
        and app_of(i.source) != app_of(i.target)
    ]
    assert not cycles, _report(
        "module-level import cycles across apps: "
        + "; ".join(" <-> ".join(c) for c in cycles)
        + "\nthe imports that cross apps in them",
        offenders,
    )


def _allowed_upward(i: Import) -> bool:
    """Queueing a task: a lazy import of a `*.tasks` module (from a service) may point up the stack."""
    return i.lazy and i.target.rsplit(".", 1)[-1] == "tasks"


def test_no_cycle_between_apps_even_through_lazy_imports():
    """Apps form layers (config, accounts, templates_app, nodes, servers…, webui): two apps that
    import each other, even from inside a function, have no order."""
    crossing = [i for i in imports() if app_of(i.source) != app_of(i.target) and not _allowed_upward(i)]
    graph: dict[str, set[str]] = {package: set() for package in [*PACKAGES, "wiring"]}
    for i in crossing:
        graph[app_of(i.source)].add(app_of(i.target))
    cycles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert not cycles, _report(
        "apps that import each other: "
        + "; ".join(" <-> ".join(c) for c in cycles)
        + "\nthe imports that point the wrong way (the fewer of each pair's two directions)",
        _wrong_way(crossing, cycles),
    )


def _wrong_way(crossing: list[Import], cycles: list[list[str]]) -> list[Import]:
    by_direction: dict[tuple[str, str], list[Import]] = {}
    for i in crossing:
        if any(app_of(i.source) in c and app_of(i.target) in c for c in cycles):
            by_direction.setdefault((app_of(i.source), app_of(i.target)), []).append(i)
    wrong = []
    for (source, target), found in sorted(by_direction.items()):
        back = by_direction.get((target, source))
        if back is None or (len(found), source) < (len(back), target):
            wrong.extend(found)
    return wrong
