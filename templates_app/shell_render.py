"""Rendering the startup command: each `{{NAME}}` becomes a reference to the environment variable, quoted
for the place it stands (templates_app.startup explains why), and the places where references land."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from templates_app.shell_words import DATA, PLAIN, POSITIONAL_RE, REFERENCE_RE
from templates_app.variables import PLACEHOLDER_RE, canonical_name


class _ShellScanner:
    """Follows the quoting state of a POSIX shell command well enough to place a reference in it."""

    def __init__(self):
        self.stack: list[str] = []  # "'", '"', "$(", "(" ; empty means unquoted
        self.comment = False
        self.escaped = False
        self.uncertain = False
        self.previous = "\n"
        self.bare_dollar = False  # the text so far ends with an unquoted, unescaped `$`

    @property
    def state(self) -> str:
        return self.stack[-1] if self.stack else ""

    @property
    def in_unquoted_substitution(self) -> bool:
        """Inside a `$(…)` that is itself unquoted: its output is split and globbed."""
        return any(
            item == "$(" and (index == 0 or self.stack[index - 1] in ("$(", "("))
            for index, item in enumerate(self.stack)
        )

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            char, rest = text[i], text[i:]
            i += 1
            self.bare_dollar = False
            if self.escaped:
                self.escaped = False
            elif self.comment:
                self.comment = char != "\n"
            elif self.state == "'":
                if char == "'":
                    self.stack.pop()
            elif char == "\\":
                self.escaped = True
            elif char == "`" or rest.startswith("$((") or (rest.startswith("<<") and rest[2:3] != "<"):
                self.uncertain = True
            elif rest.startswith("<<<"):  # a here-string is one ordinary word
                i += 2
            elif rest.startswith("${"):
                simple = re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", rest)
                if simple:
                    i += simple.end() - 1
                else:
                    self.uncertain = True
            elif rest.startswith("$("):
                self.stack.append("$(")
                i += 1
            elif self.state == '"':
                if char == '"':
                    self.stack.pop()
                elif char == "$":
                    self.bare_dollar = True
            elif char in "'\"":
                self.stack.append(char)
            elif char == "(":
                self.stack.append("(")
            elif char == ")" and self.state in ("$(", "("):
                self.stack.pop()
            elif char == "#" and self.previous in " \t\n;&|()<>":
                self.comment = True
            elif re.match(r"case\s", rest) and self.previous in " \t\n;&|()<>":
                self.uncertain = True
            elif char == "$":
                self.bare_dollar = True
            self.previous = char

    def reference(self, name: str | None) -> str:
        """The text that stands for NAME's value here (an empty word when there is no value)."""
        if self.comment:
            return ""
        if self.uncertain:
            return f"${{{name}}}" if name else ""
        if self.state == "'":
            return f"'\"${{{name}}}\"'" if name else ""
        if self.state == '"':
            return f"${{{name}}}" if name else ""
        return f'"${{{name}}}"' if name else "''"


@dataclass(frozen=True)
class _Spot:
    name: str
    position: int  # of the `$` that expands it
    placeholder: bool  # written as {{NAME}} (else the template wrote $NAME itself)
    quoting: int  # DATA, or PLAIN where the scanner cannot vouch for the quoting
    written: str = ""  # how the template wrote a reference of its own ($A, $1…)


def _with_references(text: str, env: Mapping[str, str]) -> tuple[str, list[_Spot]]:
    scanner = _ShellScanner()
    out: list[str] = []
    spots: list[_Spot] = []
    length = 0
    position = 0
    for match in PLACEHOLDER_RE.finditer(text or ""):
        literal = text[position : match.start()]
        scanner.feed(literal)
        if scanner.escaped:  # a backslash right before a placeholder would escape our quoting
            literal = literal[:-1]
            scanner.escaped = False
        elif scanner.bare_dollar:  # `$"…"` is a translated string in bash and `$${X}` is the pid
            literal = literal[:-1] + ("\\$" if scanner.state == '"' else "'$'")
        name = canonical_name(match.group(1))
        name = name if name and name in env else None
        reference = scanner.reference(name)
        out.append(literal)
        length += len(literal)
        if name and reference:
            doubtful = scanner.uncertain or scanner.in_unquoted_substitution
            spots.append(_Spot(name, length + reference.index("$"), True, PLAIN if doubtful else DATA))
        out.append(reference)
        length += len(reference)
        scanner.previous = "x"  # the reference is part of the current word
        position = match.end()
    out.append((text or "")[position:])
    return "".join(out), spots


def _direct_references(
    rendered: str, names: set[str], ours: set[int], positional_of: str | None = None
) -> list[_Spot]:
    """`$NAME` and `${NAME…}` the template wrote itself, for names that hold a customer's value; with
    `positional_of`, also `$1`, `$@`…, which a function or `set --` may have taken from that value."""
    scanner = _ShellScanner()
    spots, fed = [], 0
    matches = list(REFERENCE_RE.finditer(rendered))
    if positional_of:
        matches = sorted(matches + list(POSITIONAL_RE.finditer(rendered)), key=lambda m: m.start())
    for match in matches:
        name = positional_of if match.re is POSITIONAL_RE else match.group(1)
        if name not in names or match.start() in ours:
            continue
        scanner.feed(rendered[fed : match.start()])
        fed = match.start()
        if scanner.comment or scanner.escaped:
            continue
        unquoted = scanner.state in ("", "$(", "(")  # split and globbed there
        doubtful = unquoted or scanner.uncertain or scanner.in_unquoted_substitution
        written = "$" + match.group(1)
        spots.append(_Spot(name, match.start(), False, PLAIN if doubtful else DATA, written))
    return spots
