"""Pterodactyl/Pelican variable rules (Laravel validation strings) to and from Hearth's rules dict.

Mapped: required, nullable, sometimes, string, integer, numeric, boolean, in:a,b, regex:/…/flags,
min:, max:, between:a,b (lengths for strings, ranges for numbers), size:, digits:, digits_between:,
alpha, alpha_num, alpha_dash, url. Anything else is reported and ignored.
"""

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
    "alpha": r"^[a-zA-Z]+$",
    "alpha_num": r"^[a-zA-Z0-9]+$",
    "alpha_dash": r"^[a-zA-Z0-9_-]+$",
    "url": r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+[^\s]*$",
}
_CLOSERS = {"(": ")", "{": "}", "[": "]", "<": ">"}


def split_rules(rules) -> list[str]:
    """Laravel's `a|b|regex:/x|y/` string (or a Pelican list) into single rules, regexes kept whole."""
    if rules is None:
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
    body = body.replace(r"\z", r"\Z").replace(r"\h", r"[ \t]")
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
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def rules_from_laravel(rules, variable: str) -> tuple[dict, list[str]]:
    """Our rules dict for a Laravel rule string or list, plus warnings for what was not mapped."""
    out, warnings = empty_rules(), []
    parts = split_rules(rules)
    names = [p.split(":", 1)[0].strip().lower() for p in parts]
    if "boolean" in names or "bool" in names:
        out["type"] = "boolean"
    elif "integer" in names or "int" in names:
        out["type"] = "integer"
    elif "numeric" in names:
        out["type"] = "number"
    numeric = out["type"] in ("integer", "number")

    def bound(low, high):
        lo_key, hi_key = ("min", "max") if numeric else ("min_length", "max_length")
        if low is not None:
            out[lo_key] = low if numeric else int(low)
        if high is not None:
            out[hi_key] = high if numeric else int(high)

    def set_regex(pattern: str, rule: str):
        if out["regex"] is None:
            out["regex"] = pattern
        else:
            warnings.append(f"Variable {variable}: rule '{rule}' is a second pattern and was ignored")

    for part, name in zip(parts, names, strict=True):
        argument = part.split(":", 1)[1] if ":" in part else ""
        if name == "required":
            out["required"] = True
        elif name in ("nullable", "sometimes", "string", "boolean", "bool", "integer", "int", "numeric"):
            pass
        elif name == "in":
            out["choices"] = [c.strip().strip('"').strip("'") for c in argument.split(",")]
        elif name == "regex":
            pattern, reason = php_regex_to_python(argument)
            if pattern is None:
                warnings.append(
                    f"Variable {variable}: regex '{argument}' cannot be used ({reason}) and was ignored"
                )
            else:
                set_regex(pattern, part)
        elif name in ("min", "max", "size") and _number(argument) is not None:
            value = _number(argument)
            bound(value if name in ("min", "size") else None, value if name in ("max", "size") else None)
        elif (
            name == "between"
            and len(bounds := [_number(a) for a in argument.split(",")]) == 2
            and None not in bounds
        ):
            bound(*bounds)
        elif name == "digits" and argument.strip().isdigit():
            set_regex(rf"^[0-9]{{{int(argument)}}}$", part)
        elif name == "digits_between" and re.fullmatch(r"\s*\d+\s*,\s*\d+\s*", argument):
            low, high = (int(a) for a in argument.split(","))
            set_regex(rf"^[0-9]{{{low},{high}}}$", part)
        elif name in _PATTERNS:
            set_regex(_PATTERNS[name], part)
        else:
            warnings.append(f"Variable {variable}: rule '{part}' is not supported and was ignored")
    return out, warnings


def rules_to_laravel(rules: dict) -> str:
    """The Laravel rule string Pterodactyl understands for our rules dict."""
    rules = {**empty_rules(), **(rules or {})}
    parts = ["required" if rules["required"] else "nullable"]
    parts.append(
        {"string": "string", "integer": "integer", "number": "numeric", "boolean": "boolean"}[rules["type"]]
    )
    if rules["choices"]:
        parts.append("in:" + ",".join(rules["choices"]))
    numeric = rules["type"] in ("integer", "number")
    low, high = ("min", "max") if numeric else ("min_length", "max_length")
    if rules["type"] != "boolean":
        for ours, theirs in ((low, "min"), (high, "max")):
            if rules[ours] is not None:
                parts.append(f"{theirs}:{rules[ours]}")
    if rules["regex"]:
        parts.append("regex:/" + re.sub(r"(?<!\\)/", r"\\/", rules["regex"]) + "/")
    return "|".join(parts)
