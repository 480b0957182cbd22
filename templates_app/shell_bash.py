"""Bash's own constructs for the startup-command analysis (templates_app.shell_layout): `[[ … ]]`, which
bashlex cannot parse, rewritten as `[ … ]`, and the places bash evaluates arithmetically.

Arithmetic matters because bash evaluates a NAME there as a variable, recursively, and an array
subscript in it runs command substitutions: with `X=Z` and `Z='a[$(id)]'` (every customer value is in
the environment), `$(( X ))`, `$(( ${X} ))`, `[[ "${X}" -eq 1 ]]` and `${A[${X}]}` all run `id`, quoted
or not. A customer value there must be a number."""

import re

from templates_app.shell_render import _ShellScanner

TEST_START_RE = re.compile(r"(?:^|(?<=[\s;&|(!]))\[\[(?=\s)")
TEST_END_RE = re.compile(r"\s\]\](?=$|[\s;&|)])")
TEST_OPERATORS = {"&&": "-a", "||": "-o", "=~": "= ", "==": "= ", "<": "=", ">": "="}
TEST_OPERATOR_RE = re.compile(r"&&|\|\||=~|==|[<>()|&;]")
# `[[ a -eq b ]]`: both operands are arithmetic expressions (quoted or not)
ARITHMETIC_OPERATORS = frozenset(("-eq", "-ne", "-lt", "-le", "-gt", "-ge"))
TEST_WORD_RE = re.compile(r"""(?:'[^']*'|"(?:[^"\\]|\\.)*"|\\.|\S)+""")
# What the rewrite cannot keep in place: a substitution's commands, a comment, another line.
UNREADABLE_IN_TEST = ("$(", "<(", ">(", "`", "\n", "#")


class UnreadableTest(ValueError):
    """A `[[ … ]]` the rewrite cannot vouch for: the layout takes the strict path (unparsed)."""


def without_bash_tests(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`[[ … ]]` in command position as `[ … ]` of the same length (operators swapped for `[`'s, quoted
    text kept), so the layout sees one command and its operands at their positions; and the spans of
    the operands bash evaluates arithmetically. A `[[` that is not a command (an argument, a comment,
    quoted text) is left alone. Raises UnreadableTest for a test holding `$(`, `<(`, a backquote, a
    newline or `#`, whose inside the rewrite would misplace."""
    scanner, fed = _ShellScanner(), 0
    out, position, arithmetic = [], 0, []
    for start in TEST_START_RE.finditer(text):
        if start.start() < position:
            continue
        scanner.feed(text[fed : start.start()])
        fed = start.start()
        if not _at_command(scanner):
            continue
        end = _test_end(text, start.end())
        if end is None:
            raise UnreadableTest("a [[ without its ]]")
        inner = text[start.end() : end]
        if any(mark in inner for mark in UNREADABLE_IN_TEST) or LONE_SEPARATOR_RE.search(_unquoted(inner)):
            raise UnreadableTest("a [[ … ]] holding a substitution, a comment, a newline or a separator")
        rewritten = _unquoted_sub(inner)
        arithmetic += _arithmetic_operands(rewritten, start.end())
        out += [text[position : start.start()], "[ ", rewritten, "  ]"]
        position = end + 3
        scanner.feed(text[fed:position])
        fed = position
    return "".join(out) + text[position:], arithmetic


def without_lists_in_substitutions(text: str) -> str:
    """`&&` and `||` inside `$(…)` as `; ` (bashlex cannot parse them there: Valheim's
    `$( [[ … ]] && echo " -crossplay ")`); the same commands at the same positions."""
    out, stack, i = list(text), [], 0
    while i < len(text):
        char, top = text[i], stack[-1] if stack else ""
        if top == "'":
            if char == "'":
                stack.pop()
        elif char == "\\":
            i += 1
        elif text.startswith("$(", i):
            stack.append("$(")
            i += 1
        elif top == '"':
            if char == '"':
                stack.pop()
        elif char in "'\"":
            stack.append(char)
        elif char == "(":
            stack.append("(")
        elif char == ")" and top in ("$(", "("):
            stack.pop()
        elif "$(" in stack and text[i : i + 2] in ("&&", "||"):
            out[i : i + 2] = ";", " "
            i += 1
        i += 1
    return "".join(out)


def _at_command(scanner: _ShellScanner) -> bool:
    """Is the word starting here the first of a command (after `if`, `!`, `&&`…), outside quotes and
    comments?"""
    if scanner.comment or scanner.escaped or not scanner.at_command:
        return False
    words = scanner.commands[-1]
    return not words.words and not words.word and not words.tests


def _test_end(text: str, i: int) -> int | None:
    quote = ""
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif (found := TEST_END_RE.match(text, i)) is not None:
            return found.start()
        i += 1
    return None


# `;`, `|` or `&` alone inside `[[ … ]]` (bash refuses them; the rewrite would hide what follows)
LONE_SEPARATOR_RE = re.compile(r"(?<![|&])[;|&](?![|&])")
QUOTED_RE = re.compile(r"('[^']*'|\"(?:[^\"\\]|\\.)*\")")


def _unquoted(inner: str) -> str:
    return "".join(part for index, part in enumerate(QUOTED_RE.split(inner)) if not index % 2)


def _unquoted_sub(inner: str) -> str:
    parts = re.split(r"('[^']*'|\"(?:[^\"\\]|\\.)*\")", inner)
    return "".join(
        part if index % 2 else TEST_OPERATOR_RE.sub(lambda m: TEST_OPERATORS.get(m.group(), " "), part)
        for index, part in enumerate(parts)
    )


def _arithmetic_operands(rewritten: str, offset: int) -> list[tuple[int, int]]:
    words = list(TEST_WORD_RE.finditer(rewritten))
    spans = []
    for index, word in enumerate(words):
        if word.group() in ARITHMETIC_OPERATORS:
            for operand in words[max(index - 1, 0) : index] + words[index + 1 : index + 2]:
                spans.append((offset + operand.start(), offset + operand.end()))
    return spans


# Where arithmetic starts in the text: `$((`, `((`, `$[`, a subscript `${A[`, an offset `${x:`, an
# indexed assignment `A[…]=`. Each runs to its matching closer.
ARITHMETIC_START_RES = (
    re.compile(r"\$\(\(|(?<!\$)\(\(|\$\[|\$\{[#!]?[A-Za-z_][A-Za-z0-9_]*\["),
    re.compile(r"\$\{[#!]?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*])(?:\[[^\]]*\])?:(?![-=+?])"),
    re.compile(r"(?<![A-Za-z0-9_$])[A-Za-z_][A-Za-z0-9_]*\[(?=[^\]\n]*\]\+?=)"),
)
CLOSERS = {"(": ")", "[": "]", ":": "}"}


def arithmetic_spans(text: str) -> list[tuple[int, int]]:
    """The spans of `text` bash evaluates as arithmetic (outside `[[ … ]]`, see without_bash_tests)."""
    spans = []
    for start in (match for pattern in ARITHMETIC_START_RES for match in pattern.finditer(text)):
        opener = start.group()[-1]
        spans.append((start.end(), _matching(text, start.end(), opener)))
    return spans


def _matching(text: str, i: int, opener: str) -> int:
    """Where the construct opened just before `i` closes (its end when it does not)."""
    opening, closer = ("{" if opener == ":" else opener), CLOSERS[opener]
    depth = 2 if text[i - 2 : i] == "((" else 1
    while i < len(text):
        if text[i] == opening:
            depth += 1
        elif text[i] == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(text)


ARITHMETIC_NAME_RE = re.compile(r"(?<![A-Za-z0-9_${!#])[A-Za-z_][A-Za-z0-9_]*")


def names_in_arithmetic(text: str, spans: list[tuple[int, int]], names: set[str]) -> list[tuple[str, int]]:
    """Bare NAMEs of `names` inside arithmetic (`$(( X + 1 ))`, `[[ X -eq 1 ]]`): bash reads their
    values as arithmetic too. (name, position) each."""
    found = []
    for start, end in spans:
        for match in ARITHMETIC_NAME_RE.finditer(text, start, end):
            if match.group() in names:
                found.append((match.group(), match.start()))
    return found
