"""One simple command of the startup command as bashlex parsed it (templates_app.shell_layout): its
words, assignments and redirections, the program it runs after runners (exec, env, nohup…), and what a
word at each index is to that program (templates_app.startup explains the levels)."""

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import cached_property

import bashlex

from templates_app.shell_filters import is_safe_filter
from templates_app.shell_words import (
    ALWAYS_CODE,
    ASSIGNMENT_RE,
    BUILTIN_CODE,
    CODE,
    CODE_FLAGS,
    DATA,
    DECLARES,
    FIND_EXEC,
    NAME_AFTER_FLAG,
    NAME_BUILTINS,
    OUTPUT_REDIRECTS,
    RUNNERS,
    SHELL_CODE_FLAG,
    SHELLS,
    STREAM_FILTERS,
    VERSION_SUFFIX,
    WRITERS,
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
    text: str = ""  # as written


class _Command:
    def __init__(self, node, source: str, staff_value=None):
        """`staff_value(name)`: the value of a variable only staff can set (None for a customer's)."""
        self.start, self.end = node.pos
        self.staff_value = staff_value or (lambda name: None)
        self.words: list[_Word] = []
        self.assignments: list[tuple[int, int, str]] = []
        self.redirects: list[tuple[int, int, str]] = []
        self.process_substitutions: list[str] = []
        for part in node.parts:
            if part.kind == "word":
                text = source[part.pos[0] : part.pos[1]]
                self.words.append(_Word(*part.pos, part.word, _is_literal(text), text))
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
        self.starts = [word.start for word in self.words]  # words by position: lookups stay linear
        self.special = [  # the words that may make a later word code
            k
            for k, w in enumerate(self.words)
            if w.literal and (_interpreter_kind(w.value) or w.value in FIND_EXEC)
        ]

    def word_at(self, position: int) -> int | None:
        index = bisect_right(self.starts, position) - 1
        return index if index >= 0 and position < self.words[index].end else None

    def program_name(self) -> str:
        program = self.program_index()
        word = self.words[program] if program < len(self.words) else None
        return _program(word.value) if word and word.literal else ""

    def evaluating_flag(self) -> str | None:
        """`declare -i`, `local -n`…: the flag that makes each assigned value a number or a name."""
        if self.program_name() not in DECLARES:
            return None
        flags = (w.value for w in self.words[self.program_index() + 1 :] if w.literal and w.value[:1] == "-")
        return next((f for f in flags if not f.startswith("--") and ("i" in f or "n" in f)), None)

    @cached_property
    def safe_filter(self) -> bool:
        """sed or awk running an inline script that runs and writes nothing (templates_app.shell_filters),
        not handed its input as arguments by xargs or parallel."""
        program = self.program_index()
        if program >= len(self.words) or _program(self.words[program].value) not in STREAM_FILTERS:
            return False
        if not self.words[program].literal or any(k != program for k in self.special):
            return False
        if any(_program(w.value) in ("xargs", "parallel") for w in self.words[:program]):
            return False  # the stream becomes sed's or awk's arguments: its script
        arguments = [self._literal_value(w) for w in self.words[program + 1 :]]
        return is_safe_filter(_program(self.words[program].value), arguments)

    def _literal_value(self, word: _Word) -> str | None:
        """What the word is: as written, or a staff-only variable's value (`sed -E "{{FILTER}}"` with a
        FILTER customers cannot edit: the script is staff's and is checked as written); None when a
        customer's value or anything else the panel cannot know is in it."""
        if word.literal:
            return word.value
        reference = STAFF_REFERENCE_RE.match(word.text)
        return self.staff_value(reference.group(1)) if reference else None

    def runs_code(self) -> bool:
        """Runs an interpreter that could run what it reads (a safe stream filter does not)."""
        return self.has_interpreter() and not self.safe_filter

    def writes_file(self, source: str) -> bool:
        """Writes what it reads to a file (tee, dd, a redirection to a file; not `2>&1` or `> >(…)`)."""
        return self.program_name() in WRITERS or any(
            kind in OUTPUT_REDIRECTS and not FD_OR_SUBSTITUTION_RE.search(source[start:end])
            for start, end, kind in self.redirects
        )

    def written_names(self, source: str) -> set[str]:
        """Base names of the files it writes, as far as the text tells (`> run.sh`, `tee -a start.sh`)."""
        targets = [
            source[start:end].lstrip("0123456789&>|").strip().strip("'\"")
            for start, end, kind in self.redirects
            if kind in OUTPUT_REDIRECTS and not FD_OR_SUBSTITUTION_RE.search(source[start:end])
        ]
        if self.program_name() in WRITERS:
            after = self.words[self.program_index() + 1 :]
            targets += [w.value.split("=", 1)[-1] for w in after if w.literal and not w.value.startswith("-")]
        return {target.rsplit("/", 1)[-1] for target in targets if target}

    def has_interpreter(self) -> bool:
        """Runs a shell, an interpreter or a builtin that evaluates code (eval, source, trap…)."""
        program = self.program_index()
        if program < len(self.words) and self.words[program].value in BUILTIN_CODE - NAME_BUILTINS:
            return True
        return any(w.literal and _interpreter_kind(w.value) for w in self.words)

    def reads_stream_as_code(self) -> bool:
        """Could what flows into this command (a pipe, a process substitution) run as code? Not when it
        is a stream filter (sed, awk) running the template's own inline script that can neither run nor
        write anything: the stream is its data (a customer's value as the script is CODE where it
        stands)."""
        return self.runs_code()

    def program_index(self) -> int:
        return self._program_index

    @cached_property
    def _program_index(self) -> int:
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
        for k in self.special[: bisect_left(self.special, index)]:
            word = words[k]
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


# A word that is one quoted reference, as the rendering writes it: "${NAME}", or ''"${NAME}"'' in '…'
STAFF_REFERENCE_RE = re.compile(r"""^(?:'')?"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"(?:'')?$""")
# `2>&1`, `>&-`, `> >(sed …)`: a redirection that writes no file a later command could run
FD_OR_SUBSTITUTION_RE = re.compile(r"(&\s*[0-9]*-?|>\s*>\(.*)$", re.S)


def _is_literal(text: str) -> bool:
    """Does the shell expand nothing in this word (no `$` or backquote outside single quotes)?"""
    quote, i = "", 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            i += 1
        elif char in "$`":
            return False
        elif char == '"':
            quote = "" if quote == '"' else '"'
        elif char == "'" and not quote:
            quote = "'"
        i += 1
    return True
