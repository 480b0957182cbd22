"""Config-file rewriting applied before each start: pure text in, text out.

Parsers (Pterodactyl's names): `properties` (key=value, comments and order kept, missing keys
appended), `yaml` and `json` (dotted keys such as `settings.port` into nested mappings, `*`
for every key at a level, `[0]` for a list item; comments in YAML are not kept), `ini`
(`section.key`, a key without a dot lives before the first section; missing keys are added)
`file` (every line starting with the key is replaced by the value, nothing is added; the key
`""` matches every line, as an empty prefix does in Wings) and `xml` (configfiles_xml.py).

A value is a string, written whatever the file held, or a mapping `{"<current>": "<new>"}`
(Pterodactyl's conditional replacement, Wings' `if_value`): the setting is rewritten only when
its current value equals one of the mapping's keys, and a missing setting is never added. The
current value is the setting's text (a properties or ini value, the rest of a `file` line
after the key, an xml element's text; in yaml and json `true`/`false`, a number as written).

Values are data: line breaks cannot start a new key (properties escapes them as `\\n`, ini
and file turn them into spaces) and YAML/JSON values are serialised, never pasted. In YAML and
JSON a value of exactly `true`/`false` becomes a boolean and a whole number an integer, as
Pterodactyl's Wings does.
"""

import json
import re
from collections.abc import Callable

import yaml

from templates_app.configfiles_values import BadConfigFile, Value, choose
from templates_app.configfiles_xml import rewrite_xml

PARSERS = ("properties", "yaml", "json", "ini", "file", "xml")
_INT_RE = re.compile(r"^-?(0|[1-9][0-9]{0,17})$")
__all__ = ["PARSERS", "BadConfigFile", "read_properties", "rendered", "rewrite"]


def rendered(replace: dict, render: Callable[[str], str]) -> dict[str, Value]:
    """A rule's `replace` with every value to write rendered ({{VAR}}); a conditional mapping's keys
    (the values looked for in the file) stay as written."""
    out: dict[str, Value] = {}
    for key, value in (replace or {}).items():
        if isinstance(value, dict):
            out[key] = {str(current): render(str(new)) for current, new in value.items()}
        else:
            out[key] = render(str(value))
    return out


def rewrite(parser: str, original_text: str, replacements: dict[str, Value]) -> str:
    """Apply `replacements` (already rendered values) to a file's text; BadConfigFile when the text
    cannot be read as `parser` says (the file is left as it is)."""
    handlers = {
        "properties": rewrite_properties,
        "yaml": rewrite_yaml,
        "json": rewrite_json,
        "ini": rewrite_ini,
        "file": rewrite_file,
        "xml": rewrite_xml,
    }
    if parser not in handlers:
        raise ValueError(f"Unknown parser '{parser}'")
    try:
        return handlers[parser](original_text or "", replacements)
    except (ValueError, yaml.YAMLError) as exc:  # json's and yaml's errors; ours are ValueErrors too
        if isinstance(exc, BadConfigFile):
            raise
        raise BadConfigFile(f"not valid {parser}: {exc}") from exc
    except (RecursionError, MemoryError) as exc:  # the customer's file: 100,000 `[` in a row
        raise BadConfigFile(f"not usable {parser}: nested too deeply or too large to read") from exc


def _split(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n and \\r only (str.splitlines also breaks on \\f, \\v, \\x1c…)."""
    lines = re.split(r"\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _lines(text: str) -> tuple[list[str], str]:
    newline = "\r\n" if "\r\n" in text else "\n"
    return _split(text), newline


def _join(lines: list[str], newline: str, original: str) -> str:
    if not lines:
        return ""
    return newline.join(lines) + (newline if original.endswith(("\n", "\r")) or not original else "")


def _single_line(value: str) -> str:
    return str(value).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


# --- properties ----------------------------------------------------------------------------------


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _property_key(line: str) -> str | None:
    stripped = line.lstrip()
    if not stripped or stripped[0] in "#!":
        return None
    key, i = [], 0
    while i < len(stripped):
        char = stripped[i]
        if char == "\\" and i + 1 < len(stripped):
            key.append(stripped[i + 1])
            i += 2
            continue
        if char in "=: \t\f":
            break
        key.append(char)
        i += 1
    return "".join(key)


def _escape_property_key(key: str) -> str:
    return re.sub(r"([=: \t\\#!])", r"\\\1", key)


def _escape_property_value(value: str) -> str:
    value = str(value).replace("\r", "\\r").replace("\n", "\\n")
    if value[:1] in (" ", "\t", "\f"):
        value = "\\" + value
    if _continues(value):
        value += "\\"  # a trailing backslash would swallow the next line
    return value


def read_properties(text: str) -> dict[str, str]:
    """Keys to raw values (continuations joined, escapes kept); enough to check a rewrite."""
    out: dict[str, str] = {}
    logical: list[str] = []
    for line in _split(text or ""):
        if logical:
            logical.append(line.lstrip())
        else:
            logical = [line]
        if _continues(line):
            logical[-1] = logical[-1][:-1]
            continue
        joined, logical = "".join(logical), []
        key = _property_key(joined)
        if key is None:
            continue
        match = re.match(r"\s*(?:\\.|[^=:\s\\])*\s*[=:]?\s*", joined)
        out[key] = joined[match.end() :] if match else ""
    return out


_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}


def _unescaped(raw: str) -> str:
    """A raw properties value as the program reading it sees it (enough to compare it)."""
    value = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), raw.rstrip())
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), value)


def rewrite_properties(text: str, replacements: dict[str, Value]) -> str:
    lines, newline = _lines(text)
    current = {key: _unescaped(raw) for key, raw in read_properties(text).items()}
    out: list[str] = []
    done: set[str] = set()
    skipping = False
    for line in lines:
        if skipping:  # continuation lines of a value we replaced
            skipping = _continues(line)
            continue
        key = _property_key(line)
        new = choose(replacements[key], current.get(key)) if key in replacements else None
        if new is not None:
            out.append(f"{_escape_property_key(key)}={_escape_property_value(new)}")
            done.add(key)
            skipping = _continues(line)
            continue
        out.append(line)
        if key is not None:
            done.add(key)  # a conditional that did not apply: the key is there, never appended
    for key, value in replacements.items():
        if key not in done and isinstance(value, str):
            out.append(f"{_escape_property_key(key)}={_escape_property_value(value)}")
    return _join(out, newline, text)


# --- yaml and json -------------------------------------------------------------------------------


def _typed(value: str):
    if value in ("true", "false"):
        return value == "true"
    if _INT_RE.match(value):
        return int(value)
    return value


def _path(key: str) -> list:
    parts: list = []
    for segment in key.split("."):
        match = re.fullmatch(r"(.*?)((?:\[[0-9]+\])*)", segment)
        if match.group(1):
            parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[([0-9]+)\]", match.group(2)))
    return parts


def _set(node, parts: list, value):
    """Set `value` at `parts` inside `node`, creating mappings as needed; returns the new node."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(node, dict):
            for key in node:
                node[key] = _set(node[key], rest, value)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                node[index] = _set(item, rest, value)
        return node
    if isinstance(head, int):
        if not isinstance(node, list):
            node = []
        while len(node) <= head:
            node.append({} if rest else None)
        node[head] = _set(node[head], rest, value)
        return node
    if not isinstance(node, dict):
        node = {}
    node[head] = _set(node.get(head), rest, value)
    return node


def _set_if(node, parts: list, mapping: dict[str, str]):
    """Replace the value at `parts` only where it exists and its text is one of `mapping`'s keys;
    nothing is created. Returns the node."""
    if not parts:
        new = choose(mapping, _text(node))
        return node if new is None else _typed(new)
    head, rest = parts[0], parts[1:]
    if head == "*":
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            node[key] = _set_if(node[key], rest, mapping)
    elif (isinstance(head, int) and isinstance(node, list) and head < len(node)) or (
        isinstance(head, str) and isinstance(node, dict) and head in node
    ):
        node[head] = _set_if(node[head], rest, mapping)
    return node


def _text(value) -> str | None:
    """A yaml/json scalar as the text a conditional compares (None: a mapping or list, never equal)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _apply(data, replacements: dict[str, Value]):
    for key, value in replacements.items():
        if isinstance(value, dict):
            data = _set_if(data, _path(key), value)
        else:
            data = _set(data, _path(key), _typed(str(value)))
    return data


def rewrite_yaml(text: str, replacements: dict[str, Value]) -> str:
    data = yaml.safe_load(text) if text.strip() else {}
    data = _apply(data if data is not None else {}, replacements)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def rewrite_json(text: str, replacements: dict[str, Value]) -> str:
    data = json.loads(text) if text.strip() else {}
    data = _apply(data, replacements)
    indent = re.search(r"\n([ \t]+)\S", text)
    if indent:
        spacing = indent.group(1)
        return (
            json.dumps(data, indent="\t" if spacing.startswith("\t") else len(spacing), ensure_ascii=False)
            + "\n"
        )
    if text.strip():
        return json.dumps(data, ensure_ascii=False)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --- ini -----------------------------------------------------------------------------------------

_SECTION_RE = re.compile(r"^\s*\[([^\]]*)\]\s*$")
_INI_KEY_RE = re.compile(r"^(\s*)([^=:;#\s][^=:]*?)(\s*)([=:])(\s*)(.*)$")


def rewrite_ini(text: str, replacements: dict[str, Value]) -> str:
    wanted: dict[tuple[str, str], str] = {}
    conditional: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in replacements.items():
        section, _, name = key.partition(".") if "." in key else ("", "", key)
        if isinstance(value, dict):
            conditional[(section, name)] = value
        else:
            wanted[(section, name)] = _single_line(value)
    lines, newline = _lines(text)
    out: list[str] = []
    done: set[tuple[str, str]] = set()
    section = ""
    sections_seen = {""}

    def add_missing(for_section: str) -> None:
        for (sec, name), value in wanted.items():
            if sec == for_section and (sec, name) not in done:
                out.append(f"{name}={value}")
                done.add((sec, name))

    for line in lines:
        header = _SECTION_RE.match(line)
        if header:
            add_missing(section)
            section = header.group(1).strip()
            sections_seen.add(section)
            out.append(line)
            continue
        match = _INI_KEY_RE.match(line)
        if match and (section, match.group(2)) in wanted:
            lead, key, before, sep, after, _ = match.groups()
            out.append(f"{lead}{key}{before}{sep}{after}{wanted[(section, key)]}")
            done.add((section, key))
            continue
        new = choose(conditional.get((section, match.group(2))), match.group(6).strip()) if match else None
        if new is not None:
            lead, key, before, sep, after, _ = match.groups()
            out.append(f"{lead}{key}{before}{sep}{after}{_single_line(new)}")
            continue
        out.append(line)
    add_missing(section)
    for sec in dict.fromkeys(sec for sec, _ in wanted):
        if sec not in sections_seen:
            if out and out[-1].strip():
                out.append("")
            out.append(f"[{sec}]")
            add_missing(sec)
    return _join(out, newline, text)


# --- file ----------------------------------------------------------------------------------------


def rewrite_file(text: str, replacements: dict[str, Value]) -> str:
    """Each line is replaced whole by the first rule whose key starts it (and, for a conditional,
    whose mapping has the rest of the line); the key `""` starts every line."""
    lines, newline = _lines(text)
    out = []
    for line in lines:
        for prefix, value in replacements.items():
            new = choose(value, line[len(prefix) :]) if line.startswith(prefix) else None
            if new is not None:
                line = _single_line(new)
                break
        out.append(line)
    return _join(out, newline, text)
