"""Checks on a template's JSON fields and a variable's rules; each raises django's ValidationError."""

import re
import signal

from django.core.exceptions import ValidationError

from templates_app import ready
from templates_app.configfiles import PARSERS
from templates_app.registries import registry_problem
from templates_app.variables import BUILTINS, NAME_RE

RULE_TYPES = ("string", "integer", "number", "boolean")
RULE_KEYS = ("required", "type", "regex", "min", "max", "min_length", "max_length", "choices")
SIGNALS = tuple(sorted(s.name for s in signal.Signals if s.name.startswith("SIG") and "_" not in s.name))
IMAGE_RE = re.compile(r"^[A-Za-z0-9[][A-Za-z0-9._\-/:@+\[\]]{0,254}$")  # the grammar decides (registries)
ENTRYPOINT_RE = re.compile(r"^[A-Za-z0-9_./\-]{1,100}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DATA_PATH_RE = re.compile(r"^/[A-Za-z0-9._\-/]*$")
FORBIDDEN_DATA_PATHS = ("/", "/proc", "/sys", "/dev", "/etc", "/bin", "/sbin", "/usr", "/lib", "/run")


def empty_rules() -> dict:
    return {
        "required": False,
        "type": "string",
        "regex": None,
        "min": None,
        "max": None,
        "min_length": None,
        "max_length": None,
        "choices": None,
    }


def normalize_rules(rules) -> dict:
    """A rules dict with every key present and checked; raises ValidationError listing the problems."""
    if rules in (None, ""):
        rules = {}
    if not isinstance(rules, dict):
        raise ValidationError("Rules must be an object.")
    problems = [f"Unknown rule '{key}'." for key in rules if key not in RULE_KEYS]
    out = empty_rules()
    out.update({k: v for k, v in rules.items() if k in RULE_KEYS})
    out["required"] = bool(out["required"])
    if out["type"] in (None, ""):
        out["type"] = "string"
    if out["type"] not in RULE_TYPES:
        problems.append(f"type must be one of: {', '.join(RULE_TYPES)}.")
    for key in ("min", "max"):
        value = out[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{key} must be a number.")
        elif isinstance(value, float) and value.is_integer():
            out[key] = int(value)
    for key in ("min_length", "max_length"):
        value = out[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"{key} must be a whole number of 0 or more.")
    if not problems:
        for low, high in (("min", "max"), ("min_length", "max_length")):
            if out[low] is not None and out[high] is not None and out[low] > out[high]:
                problems.append(f"{low} must not be greater than {high}.")
    if out["regex"] in ("",):
        out["regex"] = None
    if out["regex"] is not None:
        if not isinstance(out["regex"], str) or len(out["regex"]) > 500:
            problems.append("regex must be a string of at most 500 characters.")
        else:
            try:
                re.compile(out["regex"])
            except re.error as exc:
                problems.append(f"regex does not compile: {exc}.")
    if out["choices"] is not None:
        choices = out["choices"]
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            problems.append("choices must be a non-empty list of strings.")
    if problems:
        raise ValidationError(problems)
    return out


# Set by the container's start-up (the yolks' entrypoint reads STARTUP), as Pterodactyl reserves them.
PANEL_SET_NAMES = ("STARTUP",)
# Names Pterodactyl refuses beyond BUILTINS (EggVariable::RESERVED_ENV_NAMES, compared as written):
# an export naming one would be refused there, so an egg's variable of such a name is renamed
# SERVER_<NAME> on import, as Pelican's importer renames its own longer list (HOSTNAME, TERM, LANG…:
# those Pterodactyl accepts and Pelican renames itself, so Hearth keeps them as written).
RESERVED_NAMES = ("ENV", "HOME", "USER", "UUID")


def reserved_name(name: str) -> bool:
    return name in RESERVED_NAMES


def validate_env_name(name: str) -> None:
    """Pterodactyl's `^\\w{1,191}$` (case kept: `{{name}}` is `name`), not starting with a digit so the
    shell can reference it; the panel's own names are refused."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            f"'{name}' is not a valid variable name: use letters, digits and underscores, at most 191, "
            "not starting with a digit (^[A-Za-z_][A-Za-z0-9_]*$)."
        )
    if name in BUILTINS or name in PANEL_SET_NAMES:
        raise ValidationError(f"{name} is set by the panel and cannot be a template variable.")
    if reserved_name(name):
        raise ValidationError(
            f"{name} is a name Pterodactyl reserves (the container or the panel sets it); "
            f"use another name, such as SERVER_{name}."
        )


def validate_ports(ports) -> None:
    if not isinstance(ports, list):
        raise ValidationError("Ports must be a list of {internal, external?, protocol}.")
    problems = []
    for index, port in enumerate(ports):
        where = f"Port {index + 1}"
        if not isinstance(port, dict):
            problems.append(f"{where} must be an object.")
            continue
        if unknown := sorted(set(port) - {"internal", "external", "protocol"}):
            problems.append(f"{where} has unknown keys: {', '.join(unknown)}.")
        for key in ("internal", "external"):
            value = port.get(key)
            if value is None and key == "external":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                problems.append(f"{where}: {key} must be a whole number from 1 to 65535.")
        if port.get("protocol", "tcp") not in ("tcp", "udp"):
            problems.append(f"{where}: protocol must be tcp or udp.")
    if problems:
        raise ValidationError(problems)


def validate_environment(environment) -> None:
    if not isinstance(environment, dict):
        raise ValidationError("Environment must be an object of NAME: value.")
    problems = []
    for key, value in environment.items():
        if not ENV_KEY_RE.match(str(key)):
            problems.append(f"'{key}' is not a valid environment variable name.")
        elif key in BUILTINS:
            problems.append(f"{key} is set by the panel.")
        if not isinstance(value, str | int | float | bool) or "\x00" in str(value):
            problems.append(f"{key}: values must be strings.")
    if problems:
        raise ValidationError(problems)


def validate_required_variables(names) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValidationError("Required variables must be a list of names.")
    if bad := [n for n in names if not NAME_RE.match(n)]:
        raise ValidationError(f"Not valid variable names: {', '.join(bad)}.")


def _image_problem(image) -> str | None:
    if not isinstance(image, str) or not IMAGE_RE.match(image):
        return f"'{image}' is not a valid image reference."
    return registry_problem(image)


def validate_docker_images(images) -> None:
    if not isinstance(images, dict):
        raise ValidationError("Docker images must be an object of label: image.")
    problems = [problem for image in images.values() if (problem := _image_problem(image))]
    problems += [f"Label '{label}' is too long." for label in images if len(str(label)) > 100]
    if problems:
        raise ValidationError(problems)


def validate_image(image: str) -> None:
    """A well-formed reference whose registry is not on the node's own network (templates_app.registries)."""
    if image and (problem := _image_problem(image)):
        raise ValidationError(problem)


def validate_entrypoint(entrypoint: str) -> None:
    if entrypoint and not ENTRYPOINT_RE.match(entrypoint):
        raise ValidationError("The entrypoint is a program name or path, such as bash, ash or /bin/sh.")


def validate_data_path(path: str) -> None:
    if not DATA_PATH_RE.match(path or "") or ".." in path.split("/") or "//" in path:
        raise ValidationError("The data path must be an absolute path such as /home/container, without '..'.")
    trimmed = path.rstrip("/") or "/"
    if any(trimmed == bad or (bad != "/" and trimmed.startswith(bad + "/")) for bad in FORBIDDEN_DATA_PATHS):
        raise ValidationError(f"{path} is a system directory; choose a path such as /home/container.")


def validate_signal(name: str) -> None:
    if name and name not in SIGNALS:
        raise ValidationError(
            f"Unknown signal '{name}'. Use one of: SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGKILL…"
        )


def validate_config_files(rules) -> None:
    """Check a template's config-file rules; raise ValidationError listing every problem.

    The shape (B imports eggs into exactly this; configfiles.py applies it before each start)::

        [{"path": "server.properties", "parser": "properties",
          "replace": {"server-port": "{{SERVER_PORT}}",
                      "online-mode": {"true": "false", "yes": "no"}}}, ...]

    - `path`: a file inside the server's directory, relative, no `..`; one rule per path.
    - `parser`: one of `properties`, `yaml`, `json`, `ini`, `file`, `xml`.
    - `replace`: a non-empty mapping of key to value. A key is the parser's address of a
      setting (`settings.port` in yaml/json/xml, `section.key` in ini, a line prefix in
      `file`). For parser `file` the empty key `""` means every line (Wings matches an empty
      prefix on every line); other parsers need a non-empty key.
    - A value is either a string, rendered with `{{VAR}}` from the server's environment and
      written unconditionally, or a non-empty mapping `{"<current value>": "<replacement>"}`
      of strings: the setting is replaced only when its current value in the file equals one
      of the mapping's keys, with that key's replacement (Pterodactyl's `find: {key:
      {ifvalue: replacewith}}`, which the panel hands to Wings as `if_value`). Keys are
      compared literally against the value the file held before the rule ran.
    """
    if not isinstance(rules, list):
        raise ValidationError("Config file rules must be a list of {path, parser, replace}.")
    problems = []
    paths: set[str] = set()
    for index, rule in enumerate(rules):
        where = f"Rule {index + 1}"
        if not isinstance(rule, dict):
            problems.append(f"{where} must be an object.")
            continue
        if unknown := sorted(set(rule) - {"path", "parser", "replace"}):
            problems.append(f"{where} has unknown keys: {', '.join(unknown)}.")
        path = rule.get("path")
        if not isinstance(path, str) or not path.strip("/") or "\x00" in path or ".." in path.split("/"):
            problems.append(f"{where}: path must be a file path inside the server's directory, without '..'.")
        elif path.strip("/") in paths:
            problems.append(f"{where}: {path} already has a rule; put all its keys in one.")
        else:
            paths.add(path.strip("/"))
        parser = rule.get("parser")
        if parser not in PARSERS:
            problems.append(f"{where}: parser must be one of: {', '.join(PARSERS)}.")
        replace = rule.get("replace")
        if not isinstance(replace, dict) or not replace:
            problems.append(f"{where}: replace must be a non-empty object of key: value.")
        else:
            problems += [f"{where}: {p}" for p in dict.fromkeys(_replacement_problems(parser, replace))]
    if problems:
        raise ValidationError(problems)


_XML_STEP_RE = re.compile(r"^(\*|[A-Za-z_][\w\-:]*)$")


def _replacement_problems(parser, replace: dict) -> list[str]:
    problems = []
    for key, value in replace.items():
        if not isinstance(key, str):
            problems.append("every key in the replacements must be a string.")
            continue
        if not key and parser != "file":
            problems.append("a key may be empty only for the file parser (where it means every line).")
        if parser == "xml" and key:
            steps = key.split(".")
            if not all(_XML_STEP_RE.match(step) for step in steps) or steps[0] == "*":
                problems.append(
                    f"'{key}' is not an xml key: element names from the root separated by dots "
                    "(root.child.leaf), `*` for every child element, the root named."
                )
        if isinstance(value, dict):
            if not value or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                problems.append(
                    f"'{key}': a conditional replacement must be a non-empty object of "
                    '"current value": "replacement", both strings.'
                )
        elif not isinstance(value, str):
            problems.append(
                f'\'{key}\': a value must be a string, or an object of "current value": "replacement".'
            )
    return problems


def validate_file_denylist(patterns) -> None:
    """A list of gitignore-style patterns (servers/files/denylist.py), as an egg's `file_denylist`."""
    import pathspec  # here: only saving a template needs it

    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValidationError("The file denylist must be a list of patterns such as server.jar or config/.")
    problems = []
    for pattern in patterns:
        if "\x00" in pattern or "\n" in pattern or len(pattern) > 4096:
            problems.append(f"{pattern[:40]!r} is not a pattern: one line, no NUL, at most 4096 characters.")
            continue
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as exc:  # pathspec's pattern errors are ValueErrors
            problems.append(f"{pattern!r} is not a gitignore pattern: {exc}.")
    if problems:
        raise ValidationError(problems)


def validate_ready_pattern(pattern: str, is_regex: bool, *, called: str = "ready pattern") -> None:
    try:
        ready.validate(pattern or "", is_regex)
    except ready.BadReadyPattern as exc:
        what = "a valid regular expression" if is_regex else "usable"
        raise ValidationError(f"The {called} is not {what}: {exc}.") from exc


def validate_backup_done_pattern(pattern: str, is_regex: bool) -> None:
    """The line that says a save before a backup is done: matched as the ready pattern is."""
    validate_ready_pattern(pattern, is_regex, called="backup done pattern")
