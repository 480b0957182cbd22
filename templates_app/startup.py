"""The startup command as the container's shell runs it: variables reach the shell as data, never as code.

Rendering. No value is ever spliced into the shell text. Each `{{NAME}}` becomes a reference to the
environment variable NAME, which the container receives as data: `"${NAME}"` where the placeholder
stood unquoted, `${NAME}` inside "…", `'"${NAME}"'` inside '…' (the quote is closed and reopened).
The shell expands such a reference once, as one word, and never parses what it holds: no command
substitution, no `;`, `|`, `&` or redirection, no glob, no word splitting, whatever the value. The
rendered text depends on the template and the names only, never on a value. Placeholders that name
nothing (`{{config.docker.interface}}`) or a name without a value become an empty word.

Nested interpreters. A reference is data to the shell that expands it, but the program receiving the
word may parse it again: `sh -c "…"`, `bash -lc`, `eval`, `trap`, `ssh host "…"`, `su -c`, `python -c`,
`awk`, a value piped or fed by a here-string into a shell, a value naming the program to run, `read` or
`declare` of a name. The rendered command is parsed with bashlex and every place a customer-editable
value lands is classified:

- `DATA`: an argument, assignment or output file of a program that does not re-read it. Any value.
- `CODE`: a place a nested interpreter re-parses, or the program to run. Refused when the template is
  saved or imported (StartupProblem) and again at render time (UnsafeSubstitution), whatever the value.
- `PLAIN`: a place whose quoting the panel cannot follow for certain (backticks, `${…}` operators,
  `$((…))`, here-documents, `case`, an unquoted `$(…)`, the template's own unquoted `$NAME`). Only
  plain values (letters, digits and `._-+:/@%,=`) are accepted there. In a command bashlex cannot
  parse, a value is CODE when the text runs an interpreter anywhere or the value may stand where a
  command's program goes, PLAIN otherwise.

Names the template itself assigns from a customer value (`A="${X}"`, `for A in "${X}"`) are followed:
`$A` is then a customer value too. Variables the customer cannot edit (and the panel's built-ins) are
trusted: staff wrote them.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bashlex

from templates_app.variables import (
    BUILTINS,
    PLACEHOLDER_RE,
    PLAIN_VALUE_RE,
    UnsafeSubstitution,
    canonical_name,
    declared_names,
)

DATA, PLAIN, CODE = 0, 1, 2

# fmt: off
SHELLS = frozenset((
    "sh", "bash", "rbash", "dash", "ash", "zsh", "ksh", "mksh", "pdksh", "oksh", "hush", "yash", "posh",
    "fish", "csh", "tcsh",
))
# fmt: on
# Interpreters that run a file argument as a program and take code in a flag (python -c, perl -e…).
CODE_FLAGS = {
    "python": re.compile(r"^-[A-Za-z]*c"),
    "pypy": re.compile(r"^-[A-Za-z]*c"),
    "perl": re.compile(r"^-[A-Za-z]*[eE]"),
    "ruby": re.compile(r"^-[A-Za-z]*e"),
    "node": re.compile(r"^(-[A-Za-z]*[ep]|--eval|--print)"),
    "nodejs": re.compile(r"^(-[A-Za-z]*[ep]|--eval|--print)"),
    "bun": re.compile(r"^(-[A-Za-z]*e|--eval|--print)"),
    "deno": re.compile(r"^(eval|-[A-Za-z]*e)"),
    "php": re.compile(r"^-[A-Za-z]*[rRBEF]"),
    "lua": re.compile(r"^-[A-Za-z]*e"),
    "luajit": re.compile(r"^-[A-Za-z]*e"),
    "expect": re.compile(r"^-[A-Za-z]*c"),
    "tclsh": re.compile(r"^-encoding$"),
    "wish": re.compile(r"^-encoding$"),
}
SHELL_CODE_FLAG = re.compile(r"^[-+][A-Za-z]*c[A-Za-z]*$")
# fmt: off
# Builtins that read their arguments as code (or evaluate them as names) when they are the command.
BUILTIN_CODE = frozenset((
    "eval", "trap", "source", ".", "alias", "unalias", "bind", "complete", "compgen", "fc", "let", "read",
    "mapfile", "readarray", "unset", "getopts", "enable",
))
# Of those, the ones that evaluate only the names given as their arguments (stdin stays data).
NAME_BUILTINS = frozenset(("read", "mapfile", "readarray", "unset", "getopts"))
# Programs that read what follows them as code, or hand it to a shell, wherever they stand.
ALWAYS_CODE = frozenset((
    "awk", "gawk", "mawk", "nawk", "sed", "gsed", "make", "gmake", "ssh", "rsh", "slogin", "scp", "su",
    "sudo", "doas", "watch", "script", "flock", "screen", "tmux", "parallel", "at", "batch", "crontab",
    "xterm", "git", "tar", "rsync", "zip", "expect",
))
# fmt: on
# They set a name from each argument: `declare 'a[$(id)]'` runs `id` in bash; `NAME=value` is data.
DECLARES = frozenset(("declare", "typeset", "local", "export", "readonly"))
# `[ -v "$X" ]` and `printf -v "$X"` evaluate an array subscript in X.
NAME_AFTER_FLAG = {"[": ("-v", "-R"), "test": ("-v", "-R"), "printf": ("-v",)}
# Runners: run their remaining words as a command. (options that take a value, positionals before it)
RUNNERS = {
    "exec": ({"-a"}, 0),
    "command": (set(), 0),
    "builtin": (set(), 0),
    "nohup": (set(), 0),
    "setsid": (set(), 0),
    "time": ({"-f", "-o"}, 0),
    "nice": ({"-n"}, 0),
    "ionice": ({"-c", "-n", "-p"}, 0),
    "chrt": (set(), 1),
    "taskset": (set(), 1),
    "timeout": ({"-s", "-k", "--signal", "--kill-after"}, 1),
    "stdbuf": ({"-i", "-o", "-e"}, 0),
    "chroot": (set(), 1),
    "gosu": (set(), 1),
    "su-exec": (set(), 1),
    "s6-setuidgid": (set(), 1),
    "chpst": ({"-u", "-U", "-e", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c", "-r", "-t"}, 0),
    "setpriv": (set(), 0),
    "unshare": (set(), 0),
    "nsenter": ({"-t", "-S", "-G"}, 0),
    "runuser": ({"-u", "-g", "-G"}, 0),
    "tini": (set(), 0),
    "dumb-init": (set(), 0),
    "catatonit": (set(), 0),
    "strace": ({"-e", "-o", "-p", "-s", "-u"}, 0),
    "ltrace": ({"-e", "-o", "-p", "-s", "-u"}, 0),
    "unbuffer": (set(), 0),
    "xargs": ({"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"}, 0),
    "busybox": (set(), 0),
    "toybox": (set(), 0),
    "env": ({"-u", "-C", "--unset", "--chdir"}, 0),
}
FIND_EXEC = frozenset(("-exec", "-execdir", "-ok", "-okdir"))
INPUT_REDIRECTS = frozenset(("<", "<<", "<<-", "<<<", "<&", "<>"))
OUTPUT_REDIRECTS = frozenset((">", ">>", ">|", "&>", "&>>", "<>", ">&"))
ASSIGNMENT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=")
REFERENCE_RE = re.compile(r"\$\{?!?([A-Za-z_][A-Za-z0-9_]*)")
POSITIONAL_RE = re.compile(r"\$\{?!?([0-9@*])")  # a function's or `set --`'s arguments
TOKEN_RE = re.compile(r"[^\s;&|()<>'\"`$=]+")
VERSION_SUFFIX = re.compile(r"[0-9.]+$")

# Names a program or a shell reads as code or as where to load code from: never the customer's.
# fmt: off
CODE_ENV_NAMES = frozenset((
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "PATH", "CDPATH",
    "GLOBIGNORE", "BASH_XTRACEFD", "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME", "PYTHONINSPECT",
    "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "LUA_INIT", "LUA_PATH", "LUA_CPATH",
))
# fmt: on
CODE_ENV_PREFIXES = ("LD_", "BASH_FUNC_", "DYLD_", "GCONV_")


def is_code_env_name(name: str) -> bool:
    return name in CODE_ENV_NAMES or name.startswith(CODE_ENV_PREFIXES)


@dataclass(frozen=True)
class Finding:
    name: str
    level: int
    reason: str


class StartupProblem(ValueError):
    """The template places a customer's value where a nested interpreter would read it as code."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


# --- rendering --------------------------------------------------------------------------------------


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


# --- where a value lands ----------------------------------------------------------------------------


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
            self._read(bashlex.parse(rendered) if rendered.strip() else [])
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
        writes = any(kind in OUTPUT_REDIRECTS for _, _, kind in command.redirects) or (
            command.words and command.words[0].literal and _program(command.words[0].value) in ("tee", "dd")
        )
        if writes and self.interpreter_anywhere:
            return CODE, "is written to a file by a command that also runs an interpreter"
        return DATA, ""

    def _interpreter_within(self, start: int, end: int) -> bool:
        return any(start <= c.start and c.end <= end and c.has_interpreter() for c in self.commands)

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


# --- the public API -----------------------------------------------------------------------------------


def analyse(text: str, env: Mapping[str, str], customer: Iterable[str]) -> tuple[str, list[Finding]]:
    """The rendered command, and where each customer value lands in it (DATA, PLAIN or CODE)."""
    rendered, spots = _with_references(text, env)
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
    return rendered, sorted(findings.values(), key=lambda f: (f.name, f.reason))


def customer_names(template, variables: Iterable | None = None) -> set[str]:
    """Names whose value a customer sets: every declared name but the variables marked not editable."""
    variables = list(variables if variables is not None else template.variables.all())
    locked = {v.env_variable for v in variables if not _field(v, "user_editable", True)}
    names = declared_names(template, [_Named(_field(v, "env_variable", "")) for v in variables])
    return set(names) - locked


class _Named:
    def __init__(self, env_variable: str):
        self.env_variable = env_variable


def _field(variable, key: str, default):
    return variable.get(key, default) if isinstance(variable, dict) else getattr(variable, key, default)


def startup_problems(template, variables: Iterable | None = None) -> list[str]:
    """Why this template's startup command would let a customer's value become code (empty: it cannot)."""
    variables = list(variables if variables is not None else template.variables.all())
    customer = customer_names(template, variables)
    names = {*customer, *BUILTINS, *(_field(v, "env_variable", "") for v in variables)}
    _, findings = analyse(template.start_command or "", dict.fromkeys(names, ""), customer)
    problems = [
        f"{f.reason}: a customer can edit {f.name}, so its value would run as code. Move it out of "
        "that place, or make the variable not editable by customers."
        for f in findings
        if f.level == CODE
    ]
    return list(dict.fromkeys(problems))


def render_startup(text: str, env: Mapping[str, str], *, customer: Iterable[str] | None = None) -> str:
    """The startup command for `sh -c`, values left in the environment (see the module docstring).

    `customer` names the values a customer may have set; None means every name but the built-ins.
    Raises UnsafeSubstitution when one of them lands where it could become code.
    """
    if customer is None:
        customer = set(env) - set(BUILTINS)
    for name, value in env.items():
        if "\x00" in str(value):
            raise UnsafeSubstitution(f"{name}: values cannot contain NUL characters.")
    rendered, findings = analyse(text, env, customer)
    for finding in findings:
        value = str(env.get(finding.name, ""))
        if finding.level == CODE:
            raise UnsafeSubstitution(
                f"{finding.name}: the start command places it where it would run as code "
                f"({finding.reason}); the template must change before this value can be used."
            )
        if finding.level == PLAIN and not PLAIN_VALUE_RE.match(value):
            raise UnsafeSubstitution(
                f"{finding.name}: the value holds characters that cannot be quoted safely at this place "
                f"of the command ({finding.reason}); use letters, digits and . _ - + : / @ % , = only."
            )
    return rendered
