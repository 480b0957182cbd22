"""Rendering the startup command: each `{{NAME}}` becomes a reference to the environment variable, quoted
for the place it stands (templates_app.startup explains why), and the places where references land."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from templates_app.shell_words import (
    ASSIGNMENT_RE,
    CODE,
    DATA,
    PLAIN,
    POSITIONAL_RE,
    REFERENCE_RE,
    WORD_PREFIX,
)
from templates_app.variables import PLACEHOLDER_RE, UnsafeSubstitution, canonical_name

REDIRECT_RE = re.compile(r"^[0-9]*(<<<|<<-?|<>|<&|>&|>>|>\||&>>|&>|<|>)")
KEYWORDS = frozenset(("if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time"))
DECLARATIONS = frozenset(("export", "declare", "typeset", "local", "readonly"))


class _Words:
    """The words of the simple command being read, enough to tell where the shell splits a value."""

    def __init__(self):
        self.words: list[str] = []
        self.word = ""
        self.tests = 0  # inside `[[ … ]]`

    def separate(self, char: str) -> None:
        word, self.word = self.word, ""
        if word == "[[":
            self.tests += 1
        elif word == "]]" and self.tests:
            self.tests -= 1
        elif word in KEYWORDS and not self.words:
            pass  # `then ./srv {{X}}`: the command starts after the keyword
        elif word:
            self.words.append(word)
        if char not in " \t" and not self.tests:  # ; & | newline ( ): a new command
            self.words = []

    def splits(self) -> bool:
        if (
            self.tests
            or REDIRECT_RE.match(self.word)
            or (self.words and REDIRECT_RE.fullmatch(self.words[-1]))
        ):
            return False
        if ASSIGNMENT_RE.match(self.word):
            before = [w for w in self.words if not REDIRECT_RE.match(w)]
            if all(ASSIGNMENT_RE.match(w) for w in before) or before[0] in DECLARATIONS:
                return False
        return True


class _ShellScanner:
    """Follows the quoting state of a POSIX shell command well enough to place a reference in it."""

    def __init__(self):
        self.stack: list[str] = []  # "'", '"', "$(", "(" ; empty means unquoted
        self.comment = False
        self.escaped = False
        self.uncertain = False
        self.previous = "\n"
        self.bare_dollar = False  # the text so far ends with an unquoted, unescaped `$`
        self.commands = [_Words()]  # one per command context: the top level, each `(…)` and `$(…)`

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
            char, rest, start = text[i], text[i:], i
            i += 1
            self.bare_dollar = False
            depth, at_command = len(self.stack), self.at_command
            if at_command and char in " \t\n;&|()" and not self.escaped and not self.comment:
                self.commands[-1].separate(char)
            elif not self.comment:
                self.commands[-1].word += text[start : start + 1]
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
                self.commands[-1].word += "<<"
            elif rest.startswith("${"):
                simple = re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", rest)
                if simple:
                    i += simple.end() - 1
                    self.commands[-1].word += simple.group()[1:]
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
            self._follow_contexts(depth, at_command)

    @property
    def at_command(self) -> bool:
        """Outside quotes, where words are split (the top level, a subshell, a command substitution)."""
        return self.state in ("", "(", "$(")

    def _follow_contexts(self, depth: int, was_at_command: bool) -> None:
        if len(self.stack) > depth and self.state in ("(", "$("):
            self.commands.append(_Words())
        elif len(self.stack) < depth and was_at_command and len(self.commands) > 1:
            self.commands.pop()

    def splits(self) -> bool:
        """Would the shell split an unquoted expansion at this point into words? Not in an assignment, a
        redirection's target, `[[ … ]]`, or where the quoting cannot be followed."""
        if self.comment or self.uncertain or not self.at_command:
            return False
        return self.commands[-1].splits()

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
    why: str = ""  # what makes `quoting` stricter than DATA, when the place alone does not tell
    single: bool = False  # written inside '…': expanded only by a program that re-reads the text


IFS_RE = re.compile(r"[ \t\n]+")  # the shell's default IFS: space, tab, newline
# Words of one value that splits: each is a variable of the container's environment and a reference
# in the command, which Linux caps at 128 KiB (one environment string) and the analysis follows.
MAX_WORDS = 256


def word_name(name: str, index: int) -> str:
    """The environment variable holding the index-th word (from 1) of NAME's value."""
    return f"{WORD_PREFIX}{name}_{index}"


def _split_reference(scanner: _ShellScanner, name: str, value: str, words: dict[str, str]) -> str:
    """NAME's value standing unquoted, as the shell splits it: one quoted reference per word, to a
    variable holding that word (a plain one-word value keeps its own name). Only the word count enters
    the text: `pre{{X}}post` with `a b` is `pre"${HEARTH_W_X_1}" "${HEARTH_W_X_2}"post`."""
    parts = [part for part in IFS_RE.split(value) if part]
    if len(parts) > MAX_WORDS:
        raise UnsafeSubstitution(
            f"{name}: the value splits into more than {MAX_WORDS} words where the start command uses it "
            f"unquoted; use fewer words (at most {MAX_WORDS})."
        )
    if parts == [value]:
        return f'"${{{name}}}"'
    names = [word_name(name, index) for index, _ in enumerate(parts, 1)]
    words.update(zip(names, parts, strict=True))
    text = " ".join(f'"${{{word}}}"' for word in names)
    if value[:1] and value[:1] in " \t\n" and scanner.commands[-1].word:
        text = " " + text  # a leading blank ends the word the template started
    if value[-1:] and value[-1:] in " \t\n" and parts:
        text += " "
    return text or (" " if value else "")


def _with_references(text: str, env: Mapping[str, str]) -> tuple[str, list[_Spot], dict[str, str]]:
    """The rendered text, where each reference landed, and the per-word variables it refers to."""
    scanner = _ShellScanner()
    out: list[str] = []
    spots: list[_Spot] = []
    words: dict[str, str] = {}
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
        # `\"{{X}}\"` (Rust's egg): written for an image that parses the command twice, one word meant
        quoted = literal.endswith('\\"') and text[match.end() : match.end() + 2] == '\\"'
        if name and scanner.splits() and not quoted:
            reference = _split_reference(scanner, name, str(env[name]), words)
        else:
            reference = scanner.reference(name)
        out.append(literal)
        length += len(literal)
        if name and reference:
            doubtful = scanner.uncertain or scanner.in_unquoted_substitution
            for found in re.finditer(r"\$\{", reference):
                spots.append(_Spot(name, length + found.start(), True, PLAIN if doubtful else DATA))
        out.append(reference)
        length += len(reference)
        if reference.strip():
            scanner.previous = "x"  # the reference is part of the current word
            scanner.commands[-1].word += "x"
        if reference.endswith(" "):
            scanner.commands[-1].separate(" ")
        position = match.end()
    out.append((text or "")[position:])
    return "".join(out), spots, words


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
        single = scanner.state == "'"  # `sh -c 'sh -c "$X"'` expands it; `awk '{print $1}'` is awk's
        unquoted = scanner.state in ("", "$(", "(")  # split and globbed there
        doubtful = unquoted or scanner.uncertain or scanner.in_unquoted_substitution
        written = "$" + match.group(1)
        if match.group(0).startswith("${!"):  # bash reads the value as a name, and evaluates its subscript
            why = "is expanded indirectly, as the name of a variable, which bash evaluates"
            spots.append(_Spot(name, match.start(), False, CODE, "${!" + match.group(1) + "}", why))
            continue
        spots.append(_Spot(name, match.start(), False, PLAIN if doubtful else DATA, written, single=single))
    return spots
