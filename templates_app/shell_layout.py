"""Where a value lands in the rendered startup command: the command parsed with bashlex, each position
classified DATA, PLAIN or CODE (templates_app.startup explains the levels), and `analyse`, which follows
every customer value through it."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bashlex

from templates_app.shell_render import _direct_references, _with_references
from templates_app.shell_words import (
    ALWAYS_CODE,
    ASSIGNMENT_RE,
    BUILTIN_CODE,
    CODE,
    CODE_FLAGS,
    DATA,
    DECLARES,
    FIND_EXEC,
    INPUT_REDIRECTS,
    NAME_AFTER_FLAG,
    NAME_BUILTINS,
    OUTPUT_REDIRECTS,
    PLAIN,
    RUNNERS,
    SHELL_CODE_FLAG,
    SHELLS,
    STREAM_FILTERS,
    TOKEN_RE,
    VERSION_SUFFIX,
    Finding,
)


def _program(word: str) -> str:
    """`/usr/bin/python3.11` → `python`; `bash5` → `bash`."""
    base = word.rsplit("/", 1)[-1]
    trimmed = VERSION_SUFFIX.sub("", base)
    return trimmed or base


def _interpreter_kind(word: str) -> str | None:
    program = _program(word)
    if program in SHELLS or word.rsplit("/", 1)[-1] in SHELLS:
        return "shell"
    if program in CODE_FLAGS:
        return program
    if program in ALWAYS_CODE:
        return "code"
    return None


@dataclass
class _Word:
    start: int
    end: int
    value: str
    literal: bool


class _Command:
    def __init__(self, node, source: str):
        self.start, self.end = node.pos
        self.words: list[_Word] = []
        self.assignments: list[tuple[int, int, str]] = []
        self.redirects: list[tuple[int, int, str]] = []
        self.process_substitutions: list[str] = []
        for part in node.parts:
            if part.kind == "word":
                text = source[part.pos[0] : part.pos[1]]
                self.words.append(_Word(*part.pos, part.word, "$" not in text and "`" not in text))
            elif part.kind == "assignment":
                self.assignments.append((*part.pos, part.word.split("=", 1)[0].split("[", 1)[0]))
            elif part.kind == "redirect":
                self.redirects.append((*part.pos, part.type))
                heredoc = getattr(part, "heredoc", None)
                if heredoc is not None:
                    self.redirects.append((*heredoc.pos, "heredoc"))
        for found in _walk(node):
            if found.kind == "processsubstitution":
                self.process_substitutions.append(found.pos)

    def has_interpreter(self) -> bool:
        """Runs a shell, an interpreter or a builtin that evaluates code (eval, source, trap…)."""
        program = self.program_index()
        if program < len(self.words) and self.words[program].value in BUILTIN_CODE - NAME_BUILTINS:
            return True
        return any(w.literal and _interpreter_kind(w.value) for w in self.words)

    def reads_stream_as_code(self) -> bool:
        """Could what flows into this command (a pipe, a process substitution) run as code? Not when it
        is a stream filter (sed, awk) running the template's own script: the stream is its data, and
        what that script does with it is the template author's (a customer's value as the script is
        CODE where it stands)."""
        if not self.has_interpreter():
            return False
        program = self.program_index()
        if program >= len(self.words) or not self.words[program].literal:
            return True
        others = [
            w for i, w in enumerate(self.words) if i != program and w.literal and _interpreter_kind(w.value)
        ]
        return _program(self.words[program].value) not in STREAM_FILTERS or bool(others)

    def program_index(self) -> int:
        """Index of the word naming the program that runs, after runners such as exec, env, nohup."""
        i = 0
        while i < len(self.words):
            word = self.words[i]
            if not word.literal:
                return i
            runner = RUNNERS.get(_program(word.value))
            if runner is None:
                return i
            takes_value, positionals = runner
            i += 1
            while i < len(self.words) and self.words[i].literal:
                value = self.words[i].value
                if value == "--":
                    i += 1
                    break
                if not (value.startswith("-") or (runner is RUNNERS["env"] and ASSIGNMENT_RE.match(value))):
                    break
                i += 2 if value in takes_value else 1
            i += positionals
        return i

    def verdict_for_word(self, index: int) -> tuple[int, str]:
        words = self.words
        program = self.program_index()
        if index <= program:
            return CODE, "names the program to run"
        if words[program].literal and words[program].value in BUILTIN_CODE:
            return CODE, f"is read as code by {words[program].value}"
        for k in range(index):
            word = words[k]
            if not word.literal:
                continue
            kind = _interpreter_kind(word.value)
            if kind == "code":
                return CODE, f"is read as code by {word.value}"
            if kind is not None:
                verdict = self._interpreter_argument(k, index, kind)
                if verdict:
                    return verdict
            if word.value in FIND_EXEC and index == k + 1:
                return CODE, f"names the program {word.value} runs"
        name = _program(words[program].value) if program < len(words) and words[program].literal else ""
        if name in DECLARES and not ASSIGNMENT_RE.match(words[index].value):
            return CODE, f"is a variable name for {name}, which evaluates it"
        flags = NAME_AFTER_FLAG.get(name, ())
        if index > 0 and words[index - 1].literal and words[index - 1].value in flags:
            return CODE, f"is a variable name for {name} {words[index - 1].value}, which evaluates it"
        return DATA, ""

    def _interpreter_argument(self, k: int, index: int, kind: str) -> tuple[int, str] | None:
        """A word after an interpreter is code when a code flag precedes it, or when it is the script."""
        interpreter = self.words[k].value
        flag = SHELL_CODE_FLAG if kind == "shell" else CODE_FLAGS[kind]
        for j in range(k + 1, index + 1):
            word = self.words[j]
            if not word.literal:
                if j == index:
                    break
                return CODE, f"follows {interpreter} with options the panel cannot read"
            if flag.match(word.value):
                return CODE, f"is read as code by {interpreter} {word.value}"
            if word.value == "--" or not word.value.startswith(("-", "+")):
                if j < index:
                    return None  # the script file came first: later words are its arguments
                break
        return CODE, f"chooses the script or options {interpreter} runs"


def _walk(node):
    yield node
    for value in vars(node).values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, bashlex.ast.node):
                yield from _walk(child)


class _Layout:
    """The parsed command: which program each position of the text belongs to."""

    def __init__(self, rendered: str):
        self.source = rendered
        self.error = None
        self.commands: list[_Command] = []
        self.pipelines: list[list[tuple[int, int]]] = []
        self.for_words: list[tuple[int, int, str]] = []  # (start, end, loop variable)
        try:
            parseable = _without_bash_tests(rendered)
            self._read(bashlex.parse(parseable) if parseable.strip() else [])
        except Exception as exc:  # bashlex raises many kinds; what it cannot read takes the strict path
            self.commands, self.pipelines, self.for_words = [], [], []
            self.error = str(exc) or type(exc).__name__
        self.interpreter_anywhere = self.error is None and (
            any(c.has_interpreter() for c in self.commands)
            # chmod: a file written from a value may be made a program and run
            or any(_program(t) == "chmod" for t in TOKEN_RE.findall(rendered))
        )

    def _read(self, trees) -> None:
        for tree in trees:
            for node in _walk(tree):
                if node.kind == "command":
                    self.commands.append(_Command(node, self.source))
                elif node.kind == "pipeline":
                    self.pipelines.append([p.pos for p in node.parts if p.kind != "pipe"])
                elif node.kind == "for":
                    words = [p for p in node.parts if p.kind == "word"]
                    for word in words[1:]:
                        self.for_words.append((*word.pos, words[0].word))

    def verdict(self, position: int) -> tuple[int, str]:
        """The worst place `position` takes in any command that contains it (substitutions nest)."""
        if self.error is not None:
            return self._unparsed(position)
        worst, reason, placed = DATA, "", False
        for command in self.commands:
            level, why = self._in_command(command, position)
            if level is None:
                continue
            placed = True
            if level > worst:
                worst, reason = level, why
            if level < CODE:
                level, why = self._downstream(command, position)
                if level > worst:
                    worst, reason = level, why
        if not placed and not any(start <= position < end for start, end, _ in self.for_words):
            if self.interpreter_anywhere:  # e.g. `while read l; do sh -c "$l"; done <<< "${X}"`
                return CODE, "sits outside any one command, in a command that runs an interpreter"
            return PLAIN, "sits where the panel cannot tell how the shell reads it"
        return worst, reason

    def _in_command(self, command: _Command, position: int) -> tuple[int | None, str]:
        for index, word in enumerate(command.words):
            if word.start <= position < word.end:
                return command.verdict_for_word(index)
        for start, end, _ in command.assignments:
            if start <= position < end:
                return DATA, ""
        for start, end, kind in command.redirects:
            if start <= position < end:
                if (kind in INPUT_REDIRECTS or kind == "heredoc") and command.has_interpreter():
                    return CODE, "is fed to an interpreter's input"
                bare = command.program_index() >= len(command.words)  # `exec 3<<< "${X}"`: for later
                if (kind in INPUT_REDIRECTS or kind == "heredoc") and bare and self.interpreter_anywhere:
                    return CODE, "is opened as input for later commands, and the command runs an interpreter"
                if kind == "heredoc":
                    return PLAIN, "is inside a here-document"
                if kind in OUTPUT_REDIRECTS and self.interpreter_anywhere:
                    return CODE, "names a file written by a command that also runs an interpreter"
                return DATA, ""
        return None, ""

    def _downstream(self, command: _Command, position: int) -> tuple[int, str]:
        """Output that flows into an interpreter: a later member of the pipeline, a >(…), or a file."""
        for members in self.pipelines:
            for index, (start, end) in enumerate(members):
                later = index + 1 < len(members) and (members[index + 1][0], members[-1][1])
                if start <= position < end and later and self._interpreter_within(*later):
                    return CODE, "is piped into an interpreter"
        if any(self._interpreter_within(start, end) for start, end in command.process_substitutions):
            return CODE, "is passed to an interpreter through a process substitution"
        writes = any(
            kind in OUTPUT_REDIRECTS and not FD_OR_SUBSTITUTION_RE.search(self.source[start:end])
            for start, end, kind in command.redirects
        ) or (
            command.words and command.words[0].literal and _program(command.words[0].value) in ("tee", "dd")
        )
        if writes and self.interpreter_anywhere:
            return CODE, "is written to a file by a command that also runs an interpreter"
        return DATA, ""

    def _interpreter_within(self, start: int, end: int) -> bool:
        return any(start <= c.start and c.end <= end and c.reads_stream_as_code() for c in self.commands)

    def _unparsed(self, position: int) -> tuple[int, str]:
        if _mentions_interpreter(self.source):
            return CODE, f"is in a command the panel cannot parse ({self.error}) that runs an interpreter"
        if _starts_a_command(self.source[:position]):
            return CODE, f"may name the program to run, in a command the panel cannot parse ({self.error})"
        return PLAIN, f"is in a command the panel cannot parse ({self.error})"

    def assigned_from(self, position: int) -> list[str]:
        """Names the template sets from the value at `position` (A="${X}", export A="${X}", for A in)."""
        names = []
        for command in self.commands:
            for start, end, name in command.assignments:
                if start <= position < end:
                    names.append(name)
            for word in command.words:
                match = ASSIGNMENT_RE.match(word.value)
                if match and word.start <= position < word.end:
                    names.append(match.group(1))
        names += [name for start, end, name in self.for_words if start <= position < end]
        return names


# `2>&1`, `>&-`, `> >(sed …)`: a redirection that writes no file a later command could run
FD_OR_SUBSTITUTION_RE = re.compile(r"(&\s*[0-9]*-?|>\s*>\(.*)$", re.S)
TEST_START_RE = re.compile(r"(?:^|(?<=[\s;&|(!]))\[\[(?=\s)")
TEST_END_RE = re.compile(r"\s\]\](?=$|[\s;&|)])")
TEST_OPERATORS = {"&&": "-a", "||": "-o", "=~": "= ", "==": "= ", "<": "=", ">": "="}
TEST_OPERATOR_RE = re.compile(r"&&|\|\||=~|==|[<>()|&;]")


def _without_bash_tests(text: str) -> str:
    """`[[ … ]]`, which bashlex cannot parse, as `[ … ]` of the same length (operators swapped for
    `[`'s, quoted text kept): the layout then sees one command and its operands at their positions."""
    out, position = [], 0
    for start in TEST_START_RE.finditer(text):
        if start.start() < position:
            continue
        end = _test_end(text, start.end())
        if end is None:
            break
        inner = _unquoted_sub(text[start.end() : end])
        out += [text[position : start.start()], "[ ", inner, "  ]"]
        position = end + 3
    return "".join(out) + text[position:]


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


def _unquoted_sub(inner: str) -> str:
    parts = re.split(r"('[^']*'|\"(?:[^\"\\]|\\.)*\")", inner)
    return "".join(
        part if index % 2 else TEST_OPERATOR_RE.sub(lambda m: TEST_OPERATORS.get(m.group(), " "), part)
        for index, part in enumerate(parts)
    )


# Where a new command starts in text bashlex cannot read (`$((` is arithmetic, not a command).
COMMAND_SEPARATOR_RE = re.compile(
    r"[;&|\n`{!]|(?<![$(])\(|\$\((?!\()|\b(?:then|do|else|elif|if|while|until)\b"
    r"|\s-(?:exec|execdir|ok|okdir)\s"
)


def _starts_a_command(before: str) -> bool:
    """For text bashlex cannot read: is the word that follows `before` where a command's program goes?
    True unless a word other than an assignment, a runner or its option comes first in that command."""
    ends = [match.end() for match in COMMAND_SEPARATOR_RE.finditer(before)]
    segment = before[ends[-1] :] if ends else before
    words = segment.split()
    if words and not segment[-1:].isspace():
        words = words[:-1]  # the word the value is part of
    skip, takes_value = 0, set()
    for word in words:
        stripped = word.strip("'\"")
        if skip:
            skip -= 1
        elif stripped in takes_value:
            skip = 1  # nice -n 5
        elif ASSIGNMENT_RE.match(stripped) or stripped.startswith("-"):
            continue
        elif _program(stripped) in RUNNERS:
            takes_value, skip = RUNNERS[_program(stripped)]  # skip: timeout's duration, chroot's directory…
        else:
            return False
    return True


def _mentions_interpreter(text: str) -> bool:
    """For text bashlex cannot parse: does any word of it name an interpreter?"""
    return any(_interpreter_kind(token) or token in BUILTIN_CODE - {"."} for token in TOKEN_RE.findall(text))


def analyse(
    text: str, env: Mapping[str, str], customer: Iterable[str]
) -> tuple[str, list[Finding], dict[str, str]]:
    """The rendered command, where each customer value lands in it (DATA, PLAIN or CODE), and the
    per-word variables of the values that split."""
    rendered, spots, words = _with_references(text, env)
    customer = set(customer)
    layout = _Layout(rendered)
    ours = {spot.position for spot in spots}
    findings: dict[tuple[str, int], Finding] = {}
    tainted = set(customer)
    origin: dict[str, str] = {}  # a name the template sets from a customer's value → that value's name
    pending = [spot for spot in spots if spot.name in tainted]
    first = pending[0].name if pending else None
    pending += _direct_references(rendered, tainted, ours, positional_of=first)
    while pending:
        spot = pending.pop()
        if (spot.name, spot.position) in findings:
            continue
        level, reason = layout.verdict(spot.position)
        if spot.quoting > level:
            level, reason = spot.quoting, reason or "is not inside double quotes the panel can vouch for"
        shown = f"{{{{{spot.name}}}}}" if spot.placeholder else spot.written
        source = origin.get(spot.name, spot.name)
        findings[(spot.name, spot.position)] = Finding(source, level, f"{shown} {reason}".strip())
        new = set(layout.assigned_from(spot.position)) - tainted
        if new:
            tainted |= new
            origin.update(dict.fromkeys(new, source))
            pending += _direct_references(rendered, new, ours)
    return rendered, sorted(findings.values(), key=lambda f: (f.name, f.reason)), words
