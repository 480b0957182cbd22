"""Template variables: validating server values, resolving the environment, substituting `{{NAME}}`.

Resolution order (lowest to highest priority), done by `resolve_environment`:

1. the template's variable defaults (`TemplateVariable.default_value`);
2. the server's values, for names the template declares (its variables, `required_variables` and
   `environment` keys); anything else, and every built-in name, is dropped;
3. the built-ins the panel sets, as Wings and Pterodactyl's panel set them: SERVER_MEMORY,
   SERVER_PORT, SERVER_IP, SERVER_UUID, TZ, P_SERVER_UUID, P_SERVER_LOCATION (the node's location),
   P_SERVER_ALLOCATION_LIMIT. Nobody can override them (STARTUP and the panel's HEARTH_* names are set
   by servers.runtime, over everything);
4. the template's `environment` entries, rendered once against 1-3, fill the names still unset.

The result is both the container's environment and the only table placeholders are looked up in.

Placeholders are `{{NAME}}` (spaces inside the braces are allowed). `${NAME}` is left alone: it is
for the container's shell. Substitution is single-pass: a value holding `{{SERVER_UUID}}` stays
literally that. Pterodactyl's forms are mapped to ours: `{{server.build.default.port}}` and
`{{server.allocations.default.port}}` → SERVER_PORT, `{{server.build.default.ip}}` → SERVER_IP,
`{{server.build.memory}}` → SERVER_MEMORY, `{{server.uuid}}` → SERVER_UUID, and `{{env.X}}`,
`{{server.build.env.X}}`, `{{server.environment.X}}` → X from the table above. Every other
placeholder (`{{config.docker.interface}}`, `{{settings.SECRET_KEY}}`…) renders as an empty
string: nothing outside that table (Django settings, the process environment, node configuration,
secrets) is ever reachable from a template.

`render_for_shell` (templates_app.startup) never splices a value into the shell text: each
placeholder becomes a reference to the environment variable holding it (`"${NAME}"`, or one per word
where an unquoted value splits), and the command is parsed to refuse any place where a nested
interpreter would read a customer's value as code. Install scripts are never rendered: they read the values from their environment, as in
Pterodactyl.
"""

import re
from collections.abc import Iterable, Mapping

from config.errors import InvalidInput

BUILTINS = (
    "SERVER_MEMORY",
    "SERVER_PORT",
    "SERVER_IP",
    "SERVER_UUID",
    "TZ",
    "P_SERVER_UUID",
    "P_SERVER_LOCATION",
    "P_SERVER_ALLOCATION_LIMIT",
    "STARTUP",
)
# Pterodactyl's rule is `^\w{1,191}$` (ASCII word characters); a name must also be one the shell can
# reference (`"${name}"`), so it does not start with a digit. Case is kept: `{{name}}` is `name`.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,190}$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-\[\]]+)\s*\}\}")
PLAIN_VALUE_RE = re.compile(r"^[A-Za-z0-9._\-+:/@%,=]*$")
MAX_VALUE_LENGTH = 8192
INTEGER_RE = re.compile(r"[+-]?(0|[1-9][0-9]*)")
PHP_INT_MIN, PHP_INT_MAX = -(2**63), 2**63 - 1

ALIASES = {
    "server.build.default.port": "SERVER_PORT",
    "server.allocations.default.port": "SERVER_PORT",
    "server.build.default.ip": "SERVER_IP",
    "server.allocations.default.ip": "SERVER_IP",
    "server.build.memory": "SERVER_MEMORY",
    "server.build.memory_limit": "SERVER_MEMORY",
    "server.uuid": "SERVER_UUID",
}
ENV_PREFIXES = ("env.", "server.build.env.", "server.build.environment.", "server.environment.")


class UnsafeSubstitution(ValueError):
    """A value with shell metacharacters would land where its quoting cannot be guaranteed."""


def canonical_name(placeholder: str) -> str | None:
    """The variable a placeholder refers to (`server.build.env.X` → `X`), or None if it names none."""
    placeholder = placeholder.strip()
    if placeholder in ALIASES:
        return ALIASES[placeholder]
    for prefix in ENV_PREFIXES:
        if placeholder.startswith(prefix):
            placeholder = placeholder[len(prefix) :]
            break
    return placeholder if NAME_RE.match(placeholder) else None


def placeholders(text: str) -> list[str]:
    """The raw placeholder names in `text`, in order."""
    return [m.group(1) for m in PLACEHOLDER_RE.finditer(text or "")]


def _lookup(placeholder: str, env: Mapping[str, str]) -> str:
    name = canonical_name(placeholder)
    return str(env.get(name, "")) if name else ""


def render(text: str, env: Mapping[str, str]) -> str:
    """Substitute every `{{NAME}}` in one pass; unknown placeholders become empty strings."""
    return PLACEHOLDER_RE.sub(lambda m: _lookup(m.group(1), env), text or "")


# --- declared names, validation and resolution ---------------------------------------------------


def _variables(template) -> list:
    return list(template.variables.all())


def declared_names(template, variables: Iterable | None = None) -> list[str]:
    """Names a server may set: the template's variables, required variables and environment keys."""
    names = [v.env_variable for v in (variables if variables is not None else _variables(template))]
    names += list(template.required_variables or []) + list((template.environment or {}).keys())
    return [n for n in dict.fromkeys(names) if n not in BUILTINS]


def required_names(template, variables: Iterable | None = None) -> list[str]:
    """`required_variables` plus every variable whose rules say required, built-ins excluded."""
    variables = variables if variables is not None else _variables(template)
    names = list(template.required_variables or []) + [
        v.env_variable for v in variables if (v.rules or {}).get("required")
    ]
    return [n for n in dict.fromkeys(names) if n not in BUILTINS]


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError


def _rule_error(rules: dict, value: str) -> str | None:
    """The message for the first rule `value` breaks, or None. Empty values are handled by the caller."""
    kind = rules.get("type") or "string"
    low, high = rules.get("min"), rules.get("max")
    if kind == "integer":  # Laravel's FILTER_VALIDATE_INT: a sign, no leading zero, 64 bits
        ok = INTEGER_RE.fullmatch(value) is not None and PHP_INT_MIN <= int(value) <= PHP_INT_MAX
        ok = ok and (low is None or int(value) >= low) and (high is None or int(value) <= high)
        if not ok:
            return _range_message("an integer", low, high)
    elif kind == "number":
        try:
            number = float(value)
            ok = number == number and (low is None or number >= low) and (high is None or number <= high)
        except ValueError:
            ok = False
        if not ok:
            return _range_message("a number", low, high)
    elif kind == "boolean" and value.lower() not in ("0", "1", "true", "false"):
        return "Must be true or false (1 or 0)."
    if rules.get("choices") and value not in rules["choices"]:
        return f"Must be one of: {', '.join(rules['choices'])}."
    if rules.get("min_length") is not None and len(value) < rules["min_length"]:
        return f"Must be at least {rules['min_length']} characters."
    if rules.get("max_length") is not None and len(value) > rules["max_length"]:
        return f"Must be at most {rules['max_length']} characters."
    if rules.get("regex") and not re.search(rules["regex"], value):
        return "Does not match the required format."
    return None


def _range_message(what: str, low, high) -> str:
    if low is not None and high is not None:
        return f"Must be {what} between {low} and {high}."
    if low is not None:
        return f"Must be {what} of at least {low}."
    if high is not None:
        return f"Must be {what} of at most {high}."
    return f"Must be {what}."


def validate_values(template, values: Mapping, *, editable_only: bool = True) -> dict[str, str]:
    """Check a server's complete set of values against the template; return them as strings.

    Errors are `{"environment": {"NAME": ["message"]}}`. Missing required values (empty after the
    server's value, the variable default and a literal `environment` entry are considered) raise
    exactly "Missing required template variables: A, B", names sorted alphabetically. With
    `editable_only` (a customer's request) variables that are not user-editable are refused.
    """
    variables = {v.env_variable: v for v in _variables(template)}
    declared = set(declared_names(template, variables.values()))
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for name, raw in (values or {}).items():
        name = str(name)
        try:
            value = _as_text(raw)
        except TypeError:
            errors[name] = ["Must be a string, a number or a boolean."]
            continue
        variable = variables.get(name)
        if name in BUILTINS:
            errors[name] = ["Set by the panel; it cannot be changed."]
        elif name not in declared:
            errors[name] = ["Not a variable of this template."]
        elif editable_only and variable is not None and not variable.user_editable:
            errors[name] = ["This variable cannot be changed."]
        elif editable_only and _loads_code(name):
            errors[name] = ["This variable cannot be changed: programs read it as code."]
        elif "\x00" in value:
            errors[name] = ["Must not contain NUL characters."]
        elif len(value) > MAX_VALUE_LENGTH:
            errors[name] = [f"Must be at most {MAX_VALUE_LENGTH} characters."]
        elif value != "" and variable is not None and (message := _rule_error(variable.rules or {}, value)):
            errors[name] = [message]
        else:
            cleaned[name] = value

    missing = []
    for name in required_names(template, variables.values()):
        if name in errors:
            continue
        literal = (template.environment or {}).get(name, "")
        literal = "" if PLACEHOLDER_RE.search(str(literal)) else str(literal)
        default = variables[name].default_value if name in variables else ""
        effective = cleaned.get(name, default or literal)
        if effective == "":
            missing.append(name)

    if missing and not errors:
        raise InvalidInput([missing_message(missing)])
    if errors:
        detail: dict = {"environment": errors}
        if missing:
            detail["non_field_errors"] = [missing_message(missing)]
        raise InvalidInput(detail)
    return cleaned


def _loads_code(name: str) -> bool:
    from templates_app.shell_words import is_code_env_name

    return is_code_env_name(name)


def missing_message(names: Iterable[str]) -> str:
    return f"Missing required template variables: {', '.join(sorted(names))}"


def resolve_environment(template, server_values: Mapping, builtins: Mapping) -> dict[str, str]:
    """The container environment and placeholder table, in the order the module docstring gives."""
    unknown = set(builtins) - set(BUILTINS)
    if unknown:
        raise ValueError(f"Not built-ins: {', '.join(sorted(unknown))}")
    variables = _variables(template)
    declared = set(declared_names(template, variables))
    env = {v.env_variable: v.default_value or "" for v in variables}
    env.update({str(k): _as_text(v) for k, v in (server_values or {}).items() if k in declared})
    env.update({k: _as_text(v) for k, v in builtins.items()})
    for key, value in (template.environment or {}).items():
        if key not in env:
            env[key] = render(str(value), env)
    return env


# --- shell-safe rendering ------------------------------------------------------------------------


def render_for_shell(text: str, env: Mapping[str, str], *, customer: Iterable[str] | None = None):
    """The start command for the shell (a templates_app.startup.Rendered: its text, and the variables
    holding the words of split values), each value a reference to the environment. Raises
    UnsafeSubstitution where a customer's value could become code."""
    from templates_app.startup import render_startup

    return render_startup(text, env, customer=customer)
