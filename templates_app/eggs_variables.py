"""An egg's `variables` translated to template variables, with warnings for what does not map."""

import re

from config.errors import InvalidInput
from templates_app.eggs_config import text
from templates_app.laravel import rules_from_laravel
from templates_app.validators import reserved_name
from templates_app.variables import BUILTINS, canonical_name, placeholders

VARIABLE_KEYS = frozenset(
    [
        "name",
        "description",
        "env_variable",
        "default_value",
        "user_viewable",
        "user_editable",
        "rules",
        "field_type",
        "sort",
        "id",
        "egg_id",
        "created_at",
        "updated_at",
    ]
)
# Characters that make a value shell code rather than words when the start command runs it.
SHELL_CODE_RE = re.compile(r"[;&|`$<>()\n]")
NAME_CHARS = 100  # TemplateVariable.name


def _stub(var: dict, env: str) -> bool:
    """A row the export added for a required name that is no variable (eggs_export._variables)."""
    return (
        text(var.get("name")) == env
        and not text(var.get("default_value"))
        and not text(var.get("description"))
    )


def renamed(env: str) -> str:
    """A name Pterodactyl reserves, renamed as Pelican's importer renames the names it reserves."""
    return f"SERVER_{env}"


def _case_warnings(names: list[str]) -> list[str]:
    by_case: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        by_case.setdefault(name.upper(), []).append(name)
    return [
        f"Variables {' and '.join(same)} differ only in case: they are distinct here and in Pterodactyl, "
        "but Pelican on MySQL (case-insensitive names) would take them for one"
        for same in by_case.values()
        if len(same) > 1
    ]


def truthy(value) -> bool:
    return value in (True, 1, "1", "true", "True", "yes")


def rules_as_written(rules) -> str | None:
    """The egg's rules as one Laravel string (Pelican writes a list), for the export to write back."""
    if isinstance(rules, list):
        return "|".join(str(r) for r in rules)
    return rules if isinstance(rules, str) else None


def _order(var, index: int) -> int:
    sort = var.get("sort") if isinstance(var, dict) else None
    return sort if isinstance(sort, int) and not isinstance(sort, bool) else index


def _declared(raw: list) -> list[dict]:
    """The variables in the egg's order (`sort`, then position); a name declared twice keeps its last
    declaration, at the place of the first (as Pelican's importer updates the row it made)."""
    ordered = sorted(enumerate(raw), key=lambda pair: (_order(pair[1], pair[0]), pair[0]))
    kept: dict[str, dict] = {}
    for _, var in ordered:
        if not isinstance(var, dict):
            raise InvalidInput(["Every variable must be an object."])
        kept[text(var.get("env_variable")).strip()] = var
    return list(kept.values())


def variables_from_egg(
    egg: dict, warnings: list[str], skip: set[str], renames: dict[str, str] | None = None
) -> tuple[list[dict], dict]:
    """(variables for template_save, {name: rules as the egg wrote them}). `skip`: names the export
    synthesized (only rows of that stub shape are skipped); `renames` gets the reserved names renamed."""
    renames = {} if renames is None else renames
    raw = egg.get("variables") or []
    if not isinstance(raw, list):
        raise InvalidInput(["variables must be a list."])
    names = [text(v.get("env_variable")).strip() for v in raw if isinstance(v, dict)]
    for name in dict.fromkeys(n for n in names if names.count(n) > 1):
        warnings.append(
            f"Variable {name} is declared {names.count(name)} times; the last declaration is kept"
        )
    warnings.extend(_case_warnings(names))
    out, written = [], {}
    for var in _declared(raw):
        env = text(var.get("env_variable")).strip()
        if env in skip and _stub(var, env):
            continue
        if env in skip:
            warnings.append(f"hearth.synthesized_variables names {env}, which the egg declares; it is kept")
        if env in BUILTINS:
            warnings.append(f"Variable {env} is set by the panel; the egg's variable was ignored")
            continue
        if reserved_name(env):
            renames[env] = renamed(env)
            warnings.append(
                f"Variable {env}: Pterodactyl reserves the name; renamed {renames[env]}, as Pelican's "
                "importer renames the names it reserves, in the start command and config files too"
            )
            env = renames[env]
        if len(text(var.get("name")).strip()) > NAME_CHARS:
            warnings.append(f"Variable {env}: its display name is longer than {NAME_CHARS} characters; cut")
        for key in sorted(set(var) - VARIABLE_KEYS):
            warnings.append(f"Variable {env}: key '{key}' is not supported and was ignored")
        if var.get("field_type") not in (None, "text"):
            warnings.append(f"Variable {env}: field_type '{var['field_type']}' is shown as text")
        rules, rule_warnings = rules_from_laravel(var.get("rules"), env)
        warnings.extend(rule_warnings)
        if (as_written := rules_as_written(var.get("rules"))) is not None:
            written[env] = as_written
        out.append(
            {
                "env_variable": env,
                "name": text(var.get("name")).strip()[:NAME_CHARS] or env,
                "description": text(var.get("description")),
                "default_value": text(var.get("default_value")),
                "user_viewable": truthy(var.get("user_viewable", True)),
                "user_editable": truthy(var.get("user_editable", True)),
                "rules": rules,
            }
        )
    return out, written


def trusted_code_warnings(start_command: str, variables: list[dict]) -> list[str]:
    """Variables customers cannot edit whose default is shell code the start command runs (`trap
    "{{STOP}}" 15` with `kill -2 $!; wait;`): the egg's author wrote that code, and it runs as such."""
    used = {canonical_name(raw) for raw in placeholders(start_command)}
    return [
        f"Variable {v['env_variable']}: its default {v['default_value']!r} is shell code the start "
        "command runs; customers cannot edit it, so it is trusted as the egg author's code "
        "(as in Pterodactyl)"
        for v in variables
        if not v["user_editable"] and v["env_variable"] in used and SHELL_CODE_RE.search(v["default_value"])
    ]
