"""An egg's `config` section (stop, startup.done, files) translated to a template's fields, and back.

Each `*_from_egg` returns what the template stores plus the warnings for what it cannot represent;
the exporter calls them again to check that what the egg wrote (kept in `Template.egg_as_written`)
still means what the template holds before it writes it back unchanged.
"""

import json

from templates_app import ready
from templates_app.validators import SIGNALS
from templates_app.variables import BUILTINS, PLACEHOLDER_RE, canonical_name

# validate_config_files' parsers: Wings' parsers, `yml` being yaml's other name.
EGG_PARSERS = ("properties", "yaml", "json", "ini", "file", "xml")
# The signals Wings sends for a `^NAME` stop; it kills (SIGKILL) for every other name.
WINGS_SIGNALS = ("SIGABRT", "SIGINT", "SIGTERM")
CTRL_C = ("^C", "^^C")  # `^^C` (42 community eggs) is Ctrl-C written with the caret escaped


def text(value) -> str:
    """An egg's scalar as Hearth stores it: booleans as `true`/`false` (YAML's), CRLF as LF."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("\r\n", "\n")


def decoded(value, where: str, warnings: list[str]) -> dict:
    """config.files/startup/logs: a JSON string inside the egg (Pterodactyl) or a mapping (Pelican)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            warnings.append(f"{where} is not valid JSON and was ignored")
            return {}
    if value == []:  # PHP writes an empty object as []
        return {}
    if not isinstance(value, dict):
        warnings.append(f"{where} is not an object and was ignored")
        return {}
    return value


def canonical(value: str, where: str, names: set[str], warnings: list[str]) -> str:
    """Pterodactyl placeholders to ours; ones that name nothing we have are kept and reported."""

    def replace(match):
        raw = match.group(1)
        name = canonical_name(raw)
        if name is None:
            warnings.append(
                f"{where}: placeholder {{{{{raw}}}}} refers to panel or node configuration, which "
                "Hearth never exposes; it renders as an empty string"
            )
            return match.group(0)
        if name not in names and name not in BUILTINS:
            warnings.append(
                f"{where}: {{{{{raw}}}}} is not a variable of this egg and renders as an empty string"
            )
        return "{{" + name + "}}"

    return PLACEHOLDER_RE.sub(replace, value)


def stop_from_egg(stop) -> tuple[str, str, list[str]]:
    """(stop_command, stop_signal, warnings) from config.stop. `^NAME` is a signal: Wings sends
    SIGABRT, SIGINT or SIGTERM when NAME is one of them and kills (SIGKILL) otherwise, `^C` included;
    Hearth sends the signal the egg names (SIGINT for Ctrl-C), the nearest it has, and says so."""
    stop = text(stop).strip()
    if not stop:
        return "", "SIGTERM", ["config.stop is empty; Hearth stops the server with SIGTERM"]
    if not stop.startswith("^"):
        return stop, "", []
    if stop.upper() in CTRL_C:
        return (
            "",
            "SIGINT",
            [
                f"config.stop '{stop}': Hearth sends SIGINT (what Ctrl-C sends); Wings reads it as an "
                "unknown signal name and kills the server (SIGKILL)"
            ],
        )
    rest = stop[1:].upper()
    name = rest if rest.startswith("SIG") else f"SIG{rest}"
    if name not in SIGNALS:
        return (
            "",
            "SIGKILL",
            [f"config.stop '{stop}' names no signal; Hearth kills the server (SIGKILL), as Wings does"],
        )
    if rest not in WINGS_SIGNALS:
        return "", name, [f"config.stop '{stop}': Hearth sends {name}; Wings would kill the server (SIGKILL)"]
    return "", name, []


def stop_to_egg(stop_command: str, stop_signal: str, as_written) -> str:
    if isinstance(as_written, str) and stop_from_egg(as_written)[:2] == (stop_command, stop_signal):
        return as_written
    if stop_command:
        return stop_command
    return "^C" if stop_signal == "SIGINT" else f"^{stop_signal or 'SIGTERM'}"


class BadDone(ValueError):
    pass


def ready_from_egg(startup: dict) -> tuple[str, bool, list[str]]:
    """(pattern, is_regex, warnings) from config.startup; BadDone when `done` cannot be matched."""
    warnings = [
        f"config.startup.{key} is not supported and was ignored"
        for key in sorted(set(startup) - {"done"})
        if startup[key] not in (None, "", [], {}, False)
    ]
    done = startup.get("done")
    if isinstance(done, list):
        done = [text(item) for item in done if item not in (None, "")]
        if len(done) > 1:
            warnings.append(
                f"config.startup.done has {len(done)} strings; Hearth waits for any of them "
                "(stored as one regular expression; the export writes the list back)"
            )
    else:
        done = text(done)
    pattern, is_regex = ready.from_egg(done)
    try:
        ready.validate(pattern, is_regex)
    except ready.BadReadyPattern as exc:
        raise BadDone(str(exc)) from exc
    return pattern, is_regex, warnings


def done_to_egg(pattern: str, is_regex: bool, as_written):
    if isinstance(as_written, str | list):
        try:
            if ready_from_egg({"done": as_written})[:2] == (pattern, is_regex):
                return as_written
        except BadDone:
            pass
    return ready.to_egg(pattern, is_regex)


def _conditional(key: str, value: dict, where: str, names: set[str], warnings: list[str]) -> dict:
    out = {}
    for current, replacement in value.items():
        if str(current).startswith("regex:"):
            warnings.append(
                f"{where}: '{key}' is replaced when its value matches {current!r}; Hearth compares "
                "the value literally (no regular expression)"
            )
        out[text(current)] = canonical(_value_text(replacement), where, names, warnings)
    return out


def _value_text(value) -> str:
    return json.dumps(value) if isinstance(value, bool | int | float) else text(value)


def config_files_from_egg(files: dict, names: set[str], warnings: list[str]) -> list[dict]:
    """Rules in validate_config_files' shape: a value is a string or, Pterodactyl's conditional
    form, a mapping {current value: replacement}; for the `file` parser the key "" is every line."""
    rules = []
    for path, spec in files.items():
        where = f"config.files {path}"
        if not isinstance(spec, dict):
            warnings.append(f"{where} is not an object and was ignored")
            continue
        parser = {"yml": "yaml"}.get(spec.get("parser"), spec.get("parser"))
        if parser not in EGG_PARSERS:
            warnings.append(
                f"{where}: the '{spec.get('parser')}' parser is not supported; the file is not rewritten"
            )
            continue
        replace = {}
        for key, value in (decoded(spec.get("find"), f"{where} find", warnings)).items():
            if key == "" and parser != "file":
                warnings.append(f"{where}: an empty key only means something to the file parser; ignored")
            elif isinstance(value, dict) and value:
                replace[str(key)] = _conditional(str(key), value, where, names, warnings)
            elif isinstance(value, dict | list):
                warnings.append(f"{where}: '{key}' has no replacement value; ignored")
            else:
                replace[str(key)] = canonical(_value_text(value), where, names, warnings)
        if replace:
            rules.append({"path": str(path), "parser": parser, "replace": replace})
    return rules


def _by_path(rules: list[dict]) -> list[dict]:
    return sorted(rules, key=lambda rule: str(rule.get("path")))


def config_files_to_egg(rules: list[dict], as_written, export_placeholders) -> dict:
    """config.files as a mapping; what the egg wrote when it still imports to the same rules."""
    if isinstance(as_written, dict) and _by_path(config_files_from_egg(as_written, set(), [])) == _by_path(
        rules
    ):
        return as_written

    def value(v):
        if isinstance(v, dict):
            return {current: export_placeholders(replacement) for current, replacement in v.items()}
        return export_placeholders(v)

    return {
        rule["path"]: {"parser": rule["parser"], "find": {k: value(v) for k, v in rule["replace"].items()}}
        for rule in rules
    }
