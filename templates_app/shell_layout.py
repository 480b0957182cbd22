"""Where a value lands in the rendered startup command: the command parsed with bashlex, each position
classified DATA, PLAIN, NUMBER or CODE (templates_app.startup explains the levels), and `analyse`, which follows
every customer value through it."""

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from functools import cached_property

import bashlex

from templates_app.shell_bash import (
    ARITHMETIC_OPERATORS,
    UnreadableTest,
    arithmetic_spans,
    names_in_arithmetic,
    without_bash_tests,
    without_lists_in_substitutions,
)
from templates_app.shell_command import FD_OR_SUBSTITUTION_RE, _Command, _interpreter_kind, _program, _walk
from templates_app.shell_render import _direct_references, _Spot, _with_references
from templates_app.shell_words import (
    ASSIGNMENT_RE,
    BUILTIN_CODE,
    CODE,
    DATA,
    INPUT_REDIRECTS,
    NUMBER,
    OUTPUT_REDIRECTS,
    PLAIN,
    RUNNERS,
    TOKEN_RE,
    Finding,
)


class _Layout:
    """The parsed command: which program each position of the text belongs to."""

    def __init__(self, rendered: str, staff_value=None):
        self.source = rendered
        self.staff_value = staff_value
        self.error = None
        self.unreadable_test = False
        self.commands: list[_Command] = []
        self.pipelines: list[list[tuple[int, int]]] = []
        self.for_words: list[tuple[int, int, str]] = []  # (start, end, loop variable)
        self.written: list[tuple[int, int]] = []  # `{ …; } > file`, `exec > file`: output that goes to a file
        self.arithmetic = arithmetic_spans(rendered)
        try:
            parseable, tests = without_bash_tests(rendered)
            parseable = without_lists_in_substitutions(parseable)
            self.arithmetic += tests
            self._read(bashlex.parse(parseable) if parseable.strip() else [])
        except Exception as exc:  # bashlex raises many kinds; what it cannot read takes the strict path
            self.commands, self.pipelines, self.for_words = [], [], []
            self.error = str(exc) or type(exc).__name__
            self.unreadable_test = isinstance(exc, UnreadableTest)
        # `exec > file` sends every later command's output there
        if any(c.program_index() >= len(c.words) and c.writes_file(rendered) for c in self.commands):
            self.written.append((0, len(rendered)))
        self.interpreter_anywhere = self.error is None and (
            any(c.runs_code() for c in self.commands)
            # chmod: a file written from a value may be made a program and run
            or any(_program(t) == "chmod" for t in TOKEN_RE.findall(rendered))
        )
        # Names declared -i or -n (declare, local…): a value assigned to one is evaluated, anywhere
        self.evaluated = {
            match.group(1) if (match := ASSIGNMENT_RE.match(w.value)) else w.value
            for c in self.commands
            if c.evaluating_flag()
            for w in c.words[c.program_index() + 1 :]
            if w.literal and w.value[:1] not in "-+"
        }
        self._assigned = self._assignments()

    def _read(self, trees) -> None:
        for tree in trees:
            for node in _walk(tree):
                if node.kind == "command":
                    self.commands.append(_Command(node, self.source, self.staff_value))
                elif node.kind == "compound" and any(
                    r.type in OUTPUT_REDIRECTS
                    and not FD_OR_SUBSTITUTION_RE.search(self.source[slice(*r.pos)])
                    for r in getattr(node, "redirects", [])
                ):
                    self.written.append(node.pos)
                elif node.kind == "pipeline":
                    self.pipelines.append([p.pos for p in node.parts if p.kind != "pipe"])
                elif node.kind == "for":
                    words = [p for p in node.parts if p.kind == "word"]
                    for word in words[1:]:
                        self.for_words.append((*word.pos, words[0].word))

    @cached_property
    def assigns_arithmetic_names(self) -> bool:
        """Does the text assign a name it also uses in arithmetic (`R=…; $(( R ))`)? Where bashlex cannot
        parse the text the panel cannot follow what R is set from."""
        used = {name for start, end in self.arithmetic for name in NAME_RE.findall(self.source, start, end)}
        return any(
            re.search(
                rf"(?<![A-Za-z0-9_]){name}(\[[^\]]*\])?\+?=|\b(for|read|mapfile)\b[^;\n]*\b{name}\b",
                self.source,
            )
            for name in used
        )

    def in_safe_filter(self, position: int) -> bool:
        return any(c.start <= position < c.end and c.safe_filter for c in self.commands)

    def in_arithmetic(self, position: int) -> bool:
        return any(start <= position < end for start, end in self.arithmetic)

    def verdict(self, position: int) -> tuple[int, str]:
        """The worst place `position` takes in any command that contains it (substitutions nest)."""
        if self.error is not None:
            return self._unparsed(position)
        worst, reason, placed = DATA, "", False
        for command in self.commands:
            if not command.start <= position < command.end:
                continue
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
        loop = [name for start, end, name in self.for_words if start <= position < end]
        if any(name in self.evaluated for name in loop):
            return CODE, "is assigned to a variable declared -i or -n, which bash evaluates"
        if not placed and not loop:
            if self.interpreter_anywhere:  # e.g. `while read l; do sh -c "$l"; done <<< "${X}"`
                return CODE, "sits outside any one command, in a command that runs an interpreter"
            return PLAIN, "sits where the panel cannot tell how the shell reads it"
        return worst, reason

    def _in_command(self, command: _Command, position: int) -> tuple[int | None, str]:
        index = command.word_at(position)
        if index is not None:
            match = ASSIGNMENT_RE.match(command.words[index].value)
            if command.evaluating_flag() or (match and match.group(1) in self.evaluated):
                return CODE, "is assigned to a variable declared -i or -n, which bash evaluates"
            if self._sets_evaluated(command):
                return CODE, "is read into a variable declared -i or -n, which bash evaluates"
            return command.verdict_for_word(index)
        for start, end, name in command.assignments:
            if start <= position < end:
                if name in self.evaluated:
                    return CODE, "is assigned to a variable declared -i or -n, which bash evaluates"
                return DATA, ""
        for start, end, kind in command.redirects:
            if start <= position < end:
                if (kind in INPUT_REDIRECTS or kind == "heredoc") and (
                    command.runs_code() or self._sets_evaluated(command)
                ):
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

    def _sets_evaluated(self, command: _Command) -> bool:
        """`read N`, `printf -v N`, `mapfile N` where N is declared -i or -n: what they read is evaluated."""
        return command.program_name() in SETTERS and any(
            w.literal and w.value in self.evaluated for w in command.words
        )

    def _downstream(self, command: _Command, position: int) -> tuple[int, str]:
        """Output that flows into an interpreter (a later member of the pipeline, a >(…)), or into a
        file (written by the command or by any it flows into) while the text runs an interpreter."""
        later = [
            (members[index + 1][0], members[-1][1])
            for members in self.pipelines
            for index, (start, end) in enumerate(members)
            if start <= position < end and index + 1 < len(members)
        ]
        piped = self._commands_within(later)
        substituted = self._commands_within(command.process_substitutions)
        if any(c.reads_stream_as_code() or self._sets_evaluated(c) for c in piped):
            return CODE, "is piped into an interpreter"
        if any(c.reads_stream_as_code() or self._sets_evaluated(c) for c in substituted):
            return CODE, "is passed to an interpreter through a process substitution"
        into_file = any(start <= position < end for start, end in self.written)
        writers = [c for c in [command, *piped, *substituted] if c.writes_file(self.source)]
        if self.interpreter_anywhere and (into_file or writers):
            return CODE, "is written to a file by a command that also runs an interpreter"
        if any(c.written_names(self.source) & self.programs for c in writers):
            return CODE, "is written to a file the command then runs as a program"
        return DATA, ""

    @cached_property
    def programs(self) -> set[str]:
        """Base names of the programs the text runs (`./start.sh` → start.sh)."""
        named = (c.words[c.program_index()] for c in self.commands if c.program_index() < len(c.words))
        return {word.value.rsplit("/", 1)[-1] for word in named if word.literal}

    def _commands_within(self, spans: list[tuple[int, int]]) -> list[_Command]:
        return [c for c in self.commands if any(start <= c.start and c.end <= end for start, end in spans)]

    def _unparsed(self, position: int) -> tuple[int, str]:
        if _mentions_interpreter(self.source):
            return CODE, f"is in a command the panel cannot parse ({self.error}) that runs an interpreter"
        if _starts_a_command(self.source[:position]):
            return CODE, f"may name the program to run, in a command the panel cannot parse ({self.error})"
        if self.unreadable_test and any(op in self.source.split() for op in ARITHMETIC_OPERATORS):
            return NUMBER, f"may be compared as a number in a [[ … ]] the panel cannot parse ({self.error})"
        return PLAIN, f"is in a command the panel cannot parse ({self.error})"

    def _assignments(self) -> tuple[list[int], list[list[str]]]:
        """Every `$` of the text → the names the template sets from it (A="${X}", export A="${X}",
        for A in …): found once, by position, so following values stays linear in their words."""
        dollars = [match.start() for match in re.finditer(r"\$", self.source)]
        names: list[list[str]] = [[] for _ in dollars]
        spans = [(start, end, name) for c in self.commands for start, end, name in c.assignments]
        for command in self.commands:
            for word in command.words:
                if match := ASSIGNMENT_RE.match(word.value):
                    spans.append((word.start, word.end, match.group(1)))
        for command in self.commands:  # read A <<< "${X}", printf -v A '%s' "${X}": A holds X's value
            if command.program_name() in SETTERS:
                spans += [(command.start, command.end, name) for name in _set_names(command)]
        for start, end, name in spans + self.for_words:
            for index in range(bisect_left(dollars, start), bisect_left(dollars, end)):
                names[index].append(name)
        return dollars, names

    def assigned_from(self, position: int) -> list[str]:
        """Names the template sets from the value at `position` (A="${X}", export A="${X}", for A in)."""
        dollars, names = self._assigned
        index = bisect_left(dollars, position)
        return names[index] if index < len(dollars) and dollars[index] == position else []


NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Builtins that set a variable from what they read or format
SETTERS = frozenset(("read", "mapfile", "readarray", "printf"))


# Where a new command starts in text bashlex cannot read (`$((` is arithmetic, not a command).
COMMAND_SEPARATOR_RE = re.compile(
    r"[;&|\n`{!]|(?<![$(])\(|\$\((?!\()|\b(?:then|do|else|elif|if|while|until)\b"
    r"|\s-(?:exec|execdir|ok|okdir)\s"
)


def _set_names(command: _Command) -> list[str]:
    """The names read, mapfile or printf -v may set: every name-shaped word (and REPLY, MAPFILE)."""
    words = [w.value for w in command.words[command.program_index() + 1 :] if w.literal]
    return [*(w for w in words if NAME_RE.fullmatch(w)), "REPLY", "MAPFILE"]


def _starts_a_command(before: str) -> bool:
    """For text bashlex cannot read: is the word that follows `before` where a command's program goes?
    True unless a word other than an assignment, a runner or its option comes first in that command."""
    ends = [match.end() for match in COMMAND_SEPARATOR_RE.finditer(before)]
    segment = before[ends[-1] :] if ends else before
    words = segment.split()
    if words and not segment[-1:].isspace():
        if ASSIGNMENT_RE.match(words[-1].strip("'\"")):
            return False  # the value is part of an assignment: `R="{{X}}"`
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
    layout = _Layout(rendered, lambda name: None if name in customer else env.get(name))
    ours = {spot.position for spot in spots}
    findings: dict[tuple[str, int], Finding] = {}
    tainted = set(customer)
    origin: dict[str, str] = {}  # a name the template sets from a customer's value → that value's name
    pending = [spot for spot in spots if spot.name in tainted]
    first = pending[0].name if pending else None
    pending += _direct_references(rendered, tainted, ours, positional_of=first)
    pending += _arithmetic_names(layout, tainted, ours)
    while pending:
        spot = pending.pop()
        if (spot.name, spot.position) in findings or (spot.single and layout.in_safe_filter(spot.position)):
            continue  # `awk '{print $1}'`: awk's own field, in a filter that runs nothing
        level, reason = layout.verdict(spot.position)
        if layout.in_arithmetic(spot.position) and level < NUMBER:
            level, reason = NUMBER, "is evaluated as arithmetic by bash, where a name runs what it holds"
        elif layout.error is not None and layout.assigns_arithmetic_names and level < NUMBER:
            level, reason = (
                NUMBER,
                "may be copied into a name used in arithmetic, in a command the panel cannot parse",
            )
        if spot.quoting > level:
            level, reason = (
                spot.quoting,
                spot.why or reason or "is not inside double quotes the panel can vouch for",
            )
        shown = f"{{{{{spot.name}}}}}" if spot.placeholder else spot.written
        source = origin.get(spot.name, spot.name)
        findings[(spot.name, spot.position)] = Finding(source, level, f"{shown} {reason}".strip())
        new = set(layout.assigned_from(spot.position)) - tainted
        if new:
            tainted |= new
            origin.update(dict.fromkeys(new, source))
            pending += _direct_references(rendered, new, ours)
            pending += _arithmetic_names(layout, new, ours)
    return rendered, sorted(findings.values(), key=lambda f: (f.name, f.reason)), words


def _arithmetic_names(layout: _Layout, names: set[str], ours: set[int]) -> list[_Spot]:
    """`$(( X + 1 ))`, `[[ X -eq 1 ]]`: a bare name of a customer's value in arithmetic is its value."""
    found = names_in_arithmetic(layout.source, layout.arithmetic, names)
    return [_Spot(name, at, False, NUMBER, name) for name, at in found if at not in ours]
