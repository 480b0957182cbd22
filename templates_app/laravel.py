r"""Pterodactyl/Pelican variable rules (Laravel validation strings) to and from Hearth's rules dict.

Mapped: required, nullable, sometimes, present, string, integer, numeric, boolean, in:a,b,
not_in:a,b, regex:/…/flags, min:, max:, between:a,b, gt:, gte:, lt:, lte: (lengths for strings,
ranges for numbers), size:, digits:, digits_between:, starts_with:, ends_with:, alpha, alpha_num,
alpha_dash, url. Several patterns are combined into one (each a look-ahead). What Hearth's rules
cannot check exactly (gt:/lt: on decimals, a rule comparing with another field…) is warned, and
anything else is reported and ignored. Bounds stay exact integers (never through a float).

Laravel's string rules are split on every `|`, even inside a `regex:` (Pterodactyl issue #1960), so
the export writes each pattern as the rule it came from (not_in, starts_with, digits…) or as a
`regex:` without `|`, one rule per combined pattern, and warns when a pattern needs an alternation.
Patterns end with `\Z` (the string's end): `$` also matches before a final newline.
"""

import math
import re

from templates_app.validators import empty_rules

_KNOWN_FLAGS = {"i": "i", "m": "m", "s": "s", "x": "x"}
_IGNORED_FLAGS = set("uD")
_POSIX_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\s",
    "xdigit": "0-9A-Fa-f",
    "word": r"\w",
}
_PATTERNS = {
    "alpha": r"^[a-zA-Z]+\Z",
    "alpha_num": r"^[a-zA-Z0-9]+\Z",
    "alpha_dash": r"^[a-zA-Z0-9_-]+\Z",
    "url": r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+[^\s]*\Z",
}
_CLOSERS = {"(": ")", "{": "}", "[": "]", "<": ">"}
# PCRE escapes Python spells otherwise: `\z` is the end, `\Z` the end or before a final newline.
_PCRE_ESCAPES = {r"\z": r"\Z", r"\Z": r"(?=\n?\Z)", r"\h": r"[ \t]"}


def split_rules(rules) -> list[str]:
    """Laravel's `a|b|regex:/x|y/` string (or a Pelican list) into single rules, regexes kept whole.
    `{}` (an empty PHP array written as JSON) is no rules."""
    if rules is None or rules == {}:
        return []
    if isinstance(rules, list):
        return [str(r).strip() for r in rules if str(r).strip()]
    text, out, i = str(rules), [], 0
    while i < len(text):
        match = re.match(r"(not_)?regex:", text[i:])
        if match and i + match.end() < len(text):
            start = i + match.end()
            delimiter = text[start]
            closer = _CLOSERS.get(delimiter, delimiter)
            j = start + 1
            while j < len(text) and text[j] != closer:
                j += 2 if text[j] == "\\" else 1
            j += 1
            while j < len(text) and text[j].isalpha():
                j += 1
            end = j
        else:
            end = text.find("|", i)
            end = len(text) if end == -1 else end
        if text[i:end].strip():
            out.append(text[i:end].strip())
        i = end + 1
    return out


def php_regex_to_python(expression: str) -> tuple[str | None, str | None]:
    """`/^\\w+$/i` → (`(?i)^\\w+$`, None), or (None, reason) when Python's `re` cannot take it."""
    if len(expression) < 2 or expression[0].isalnum() or expression[0] == "\\":
        return None, "it has no delimiters"
    delimiter = expression[0]
    closer = _CLOSERS.get(delimiter, delimiter)
    end = expression.rfind(closer)
    if end <= 0:
        return None, "it has no closing delimiter"
    body, flags = expression[1:end], expression[end + 1 :]
    if delimiter == closer:
        body = body.replace("\\" + delimiter, delimiter) if delimiter != "/" else body.replace("\\/", "/")
    unknown = [f for f in flags if f not in _KNOWN_FLAGS and f not in _IGNORED_FLAGS]
    if unknown:
        return None, f"the flag(s) {''.join(unknown)} have no Python equivalent"
    body = re.sub(r"\(\?<(?![=!])", "(?P<", body)
    body = re.sub(r"\\.", lambda m: _PCRE_ESCAPES.get(m.group(0), m.group(0)), body, flags=re.S)
    for name, replacement in _POSIX_CLASSES.items():
        body = body.replace(f"[:{name}:]", replacement)
    prefix = "".join(sorted({_KNOWN_FLAGS[f] for f in flags if f in _KNOWN_FLAGS}))
    pattern = f"(?{prefix}){body}" if prefix else body
    try:
        re.compile(pattern)
    except re.error as exc:
        return None, f"Python cannot compile it ({exc})"
    return pattern, None


def _number(text: str):
    """An exact int for whole numbers (however large), a float otherwise, None if not a number."""
    text = text.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _values(argument: str) -> list[str]:
    return [c.strip().strip('"').strip("'") for c in argument.split(",")]


def _alternatives(values: list[str]) -> str:
    return "(?:" + "|".join(re.escape(v) for v in values) + ")"


def _scoped(pattern: str) -> str:
    """`(?i)body` → `(?i:body)`: global flags become a group's, so the pattern can sit inside another."""
    match = re.match(r"\(\?([imsx]+)\)", pattern)
    return f"(?{match.group(1)}:{pattern[match.end() :]})" if match else pattern


def combine_patterns(first: str, second: str) -> str | None:
    """One pattern that `re.search`es true when both do (each a look-ahead from the start), or None."""
    combined = rf"^(?=[\s\S]*?{_scoped(first)})(?=[\s\S]*?{_scoped(second)})"
    try:
        re.compile(combined)
    except re.error:
        return None
    return combined


class _Rules:
    """Our rules dict being filled from one variable's Laravel rules, with the warnings it collects."""

    def __init__(self, variable: str, kind: str):
        self.out, self.warnings, self.variable = empty_rules(), [], variable
        self.out["type"] = kind
        self.numeric = kind in ("integer", "number")

    def warn(self, text: str):
        self.warnings.append(f"Variable {self.variable}: {text}")

    def bound(self, low, high):
        lo_key, hi_key = ("min", "max") if self.numeric else ("min_length", "max_length")
        if low is not None:
            self.out[lo_key] = low if self.numeric else int(low)
        if high is not None:
            self.out[hi_key] = high if self.numeric else int(high)

    def strict_bound(self, name: str, value, rule: str):
        """gt:/gte:/lt:/lte: — exact for integers and lengths, gt:/lt: approximate for decimals."""
        above = name.startswith("gt")
        if self.out["type"] != "number":  # a whole number: a length, or an integer value
            value = {
                "gt": math.floor(value) + 1,
                "gte": math.ceil(value),
                "lt": math.ceil(value) - 1,
                "lte": math.floor(value),
            }[name]
        elif name in ("gt", "lt"):
            self.warn(f"rule '{rule}' is checked as {'at least' if above else 'at most'} {value}")
        if not self.numeric and value < 0:
            self.warn(f"rule '{rule}' allows no value at all and was ignored")
            return
        self.bound(value if above else None, None if above else value)

    def pattern(self, pattern: str, rule: str):
        if self.out["regex"] is None:
            self.out["regex"] = pattern
        elif (combined := combine_patterns(self.out["regex"], pattern)) is not None:
            self.out["regex"] = combined
        else:
            self.warn(f"rule '{rule}' is a second pattern that cannot be combined with the first; ignored")


def _kind(names: list[str]) -> str:
    if "boolean" in names or "bool" in names:
        return "boolean"
    if "integer" in names or "int" in names:
        return "integer"
    return "number" if "numeric" in names else "string"


NO_OPS = ("nullable", "sometimes", "present", "string", "boolean", "bool", "integer", "int", "numeric")


def rules_from_laravel(rules, variable: str) -> tuple[dict, list[str]]:
    """Our rules dict for a Laravel rule string or list, plus warnings for what was not mapped."""
    parts = split_rules(rules)
    names = [p.split(":", 1)[0].strip().lower() for p in parts]
    state = _Rules(variable, _kind(names))
    for part, name in zip(parts, names, strict=True):
        _apply(state, part, name, part.split(":", 1)[1] if ":" in part else "")
    return state.out, state.warnings


def _apply(state: _Rules, part: str, name: str, argument: str) -> None:
    if name == "required":
        state.out["required"] = True
    elif name in NO_OPS:  # `present`: every variable always has a value in Hearth
        pass
    elif name == "in":
        state.out["choices"] = _values(argument)
    elif name == "not_in":
        state.pattern(rf"^(?!{_alternatives(_values(argument))}\Z)", part)
    elif name == "regex":
        pattern, reason = php_regex_to_python(argument)
        if pattern is None:
            state.warn(f"regex '{argument}' cannot be used ({reason}) and was ignored")
        else:
            state.pattern(pattern, part)
    elif name in ("min", "max", "size") and _number(argument) is not None:
        value = _number(argument)
        state.bound(value if name in ("min", "size") else None, value if name in ("max", "size") else None)
    elif name in ("gt", "gte", "lt", "lte") and _number(argument) is not None:
        state.strict_bound(name, _number(argument), part)
    elif (
        name == "between"
        and len(bounds := [_number(a) for a in argument.split(",")]) == 2
        and None not in bounds
    ):
        state.bound(*bounds)
    elif name == "digits" and argument.strip().isdigit():
        state.pattern(rf"^[0-9]{{{int(argument)}}}\Z", part)
    elif name == "digits_between" and re.fullmatch(r"\s*\d+\s*,\s*\d+\s*", argument):
        low, high = (int(a) for a in argument.split(","))
        state.pattern(rf"^[0-9]{{{low},{high}}}\Z", part)
    elif name in ("starts_with", "ends_with") and argument:
        alternatives = _alternatives(_values(argument))
        state.pattern(f"^{alternatives}" if name == "starts_with" else rf"{alternatives}\Z", part)
    elif name in _PATTERNS:
        state.pattern(_PATTERNS[name], part)
    else:
        state.warn(f"rule '{part}' is not supported and was ignored")


def rules_to_laravel(rules: dict) -> str:
    """The Laravel rule string Pterodactyl understands for our rules dict."""
    return laravel_export(rules)[0]


def laravel_export(rules: dict) -> tuple[str, list[str]]:
    """(the Laravel rule string for our rules dict, why Pterodactyl would not read it as we do)."""
    rules = {**empty_rules(), **(rules or {})}
    parts = ["required" if rules["required"] else "nullable"]
    parts.append(
        {"string": "string", "integer": "integer", "number": "numeric", "boolean": "boolean"}[rules["type"]]
    )
    warnings = []
    if rules["choices"]:
        parts.append("in:" + ",".join(rules["choices"]))
        if any("|" in c or "," in c for c in rules["choices"]):
            warnings.append("a choice holds '|' or ',', which Pterodactyl's rule splits on")
    numeric = rules["type"] in ("integer", "number")
    low, high = ("min", "max") if numeric else ("min_length", "max_length")
    if rules["type"] != "boolean":
        for ours, theirs in ((low, "min"), (high, "max")):
            if rules[ours] is not None:
                parts.append(f"{theirs}:{rules[ours]}")
    for pattern in pattern_parts(rules["regex"]) if rules["regex"] else []:
        rule = pattern_rule(pattern)
        parts.append(rule)
        if "|" in rule:
            warnings.append(
                f"the pattern {pattern!r} needs '|', which Pterodactyl splits rules on (its issue "
                "#1960): it will not read this rule; Hearth reads the exact one from `hearth`"
            )
    return "|".join(parts), warnings


_LOOKAHEAD = "(?=[\\s\\S]*?"


def _group_end(pattern: str, start: int) -> int | None:
    """The index after the group opening at `start` (a `(`), escapes and character classes skipped."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def pattern_parts(pattern: str) -> list[str]:
    """The patterns combine_patterns joined (`^(?=[\\s\\S]*?A)(?=[\\s\\S]*?B)`), flattened; else [pattern]."""
    if not pattern.startswith("^" + _LOOKAHEAD):
        return [pattern]
    parts, i = [], 1
    while i < len(pattern):
        end = _group_end(pattern, i) if pattern.startswith(_LOOKAHEAD, i) else None
        if end is None:
            return [pattern]
        parts.append(pattern[i + len(_LOOKAHEAD) : end - 1])
        i = end
    return [sub for part in parts for sub in pattern_parts(part)]


def _unescaped(alternatives: str) -> list[str] | None:
    """`(?:a|b\\.c)` as _alternatives wrote it → ["a", "b.c"], or None."""
    if not (alternatives.startswith("(?:") and alternatives.endswith(")")):
        return None
    values = [re.sub(r"\\(.)", r"\1", v, flags=re.S) for v in re.split(r"(?<!\\)\|", alternatives[3:-1])]
    ok = _alternatives(values) == alternatives and all("," not in v and "|" not in v for v in values)
    return values if ok else None


_REVERSE_PATTERNS = {pattern: name for name, pattern in _PATTERNS.items()}
_AS_RULES = (
    (re.compile(r"\^\(\?!(.*)\\Z\)", re.S), "not_in"),
    (re.compile(r"\^(\(\?:.*\))", re.S), "starts_with"),
    (re.compile(r"(\(\?:.*\))\\Z", re.S), "ends_with"),
)


def pattern_rule(pattern: str) -> str:
    """One of our patterns as the Laravel rule it translates (not_in, starts_with, digits, alpha…),
    else as `regex:/…/` with slashes escaped, `\\Z` as PCRE's `\\z` and literal `|` as `\\x7c`."""
    if pattern in _REVERSE_PATTERNS:
        return _REVERSE_PATTERNS[pattern]
    if match := re.fullmatch(r"\^\[0-9\]\{(\d+)\}\\Z", pattern):
        return f"digits:{match.group(1)}"
    if match := re.fullmatch(r"\^\[0-9\]\{(\d+),(\d+)\}\\Z", pattern):
        return f"digits_between:{match.group(1)},{match.group(2)}"
    for expression, name in _AS_RULES:
        if (match := expression.fullmatch(pattern)) and (values := _unescaped(match.group(1))):
            return f"{name}:{','.join(values)}"
    return "regex:/" + _pcre_body(pattern) + "/"


def _pcre_body(pattern: str) -> str:
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append({"\\Z": "\\z", "\\|": "\\x7c", "\\/": "\\/"}.get(pair, pair))
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append({"|": "\\x7c", "/": "\\/"}.get(char, char))
        else:
            in_class = char == "["
            out.append("\\/" if char == "/" else char)
        i += 1
    return "".join(out)
