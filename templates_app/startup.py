"""The startup command as the container's shell runs it: variables reach the shell as data, never as code.

Rendering. No value is ever spliced into the shell text. Each `{{NAME}}` becomes a reference to the
environment variable NAME, which the container receives as data: `${NAME}` inside "…", `'"${NAME}"'`
inside '…' (the quote is closed and reopened). Where the placeholder stands unquoted the value splits
into words as the shell would split it (on spaces, tabs and newlines), and each word is a quoted
reference to a variable of its own: `"${HEARTH_W_NAME_1}" "${HEARTH_W_NAME_2}"` (a one-word value:
`"${NAME}"`; no word: nothing). Where the shell does not split (an assignment, a redirection's target,
`[[ … ]]`), the value stays one word, and so it does between escaped quotes, `\"{{NAME}}\"`, which eggs
write for images that parse the command twice (Rust's). The shell expands a reference once and never parses what it holds:
no command substitution, no `;`, `|`, `&` or redirection, no glob, whatever the value. The rendered text
depends on the template, the names and the values' word counts only, never on a value's characters.
Placeholders that name nothing (`{{config.docker.interface}}`) or a name without a value become empty.
Names beginning with HEARTH_ are the panel's: a template may neither declare nor reference them.

Launching. The container's STARTUP holds a launcher, `<shell> /.hearth-launch` (a file of one line,
`eval "$HEARTH_STARTUP"`, written into the container before it starts), and HEARTH_STARTUP the rendered
command. However an image's entrypoint evaluates STARTUP (yolks: `eval echo` then `exec env ${PARSED}`;
older: `eval ${MODIFIED_STARTUP}`; `eval "$STARTUP"`; `bash -c "$STARTUP"`; Rust's wrapper, which
parses it twice), the launcher stays two plain words, and the shell runs the rendered command exactly
once, with `exec` before it when it is one program (`launched`), so stop signals reach the game. A
read-only root file system takes no file: there the launcher is `<shell> -c 'eval${IFS}"$HEARTH_STARTUP"'`,
which survives one evaluation, not two (see `launcher`).

Nested interpreters. A reference is data to the shell that expands it, but the program receiving the
word may parse it again: `sh -c "…"`, `bash -lc`, `eval`, `trap`, `ssh host "…"`, `su -c`, `python -c`,
`awk`, a value piped or fed by a here-string into a shell, a value naming the program to run, `read` or
`declare` of a name. The rendered command is parsed with bashlex and every place a customer-editable
value lands is classified:

- `DATA`: an argument, assignment or output file of a program that does not re-read it. Any value.
- `CODE`: a place a nested interpreter re-parses, or the program to run. Refused when the template is
  saved or imported (StartupProblem) and again at render time (UnsafeSubstitution), whatever the value.
- `PLAIN`: a place whose quoting the panel cannot follow for certain (backticks, `${…}` operators,
  here-documents, `case`, an unquoted `$(…)`, the template's own unquoted `$NAME`). Only plain values
  (letters, digits and `._-+:/@%,=`) are accepted there. In a command bashlex cannot parse, a value is
  CODE when the text runs an interpreter anywhere or the value may stand where a command's program
  goes, PLAIN otherwise.
- `NUMBER`: a place bash evaluates as arithmetic: `$((…))`, `((…))`, an array subscript `${A[…]}`, an
  offset `${x:…}`, an operand of `-eq -ne -lt -le -gt -ge` in `[[ … ]]` (quoted or not). There a name
  is a variable, evaluated in turn, and `a[$(id)]` runs `id`; every customer value is in the
  environment, so `X=Z` with `Z='a[$(id)]'` would run. Only whole numbers (`^[-+]?[0-9]+$`, or empty)
  are accepted there, decided on the value when the server is created or changed and at each start;
  the template itself is saved (its rule is then an integer or a boolean).

Namerefs and integer variables (`declare -n`, `local -i`…), `${!NAME}` and names `read` or
`printf -v` set are evaluated by bash: a customer value assigned to one, or a customer-derived name
expanded indirectly, is CODE.

Output piped into sed or awk is that filter's data only when its script is the template's own (written
inline, or a staff-only variable's value) and can neither run nor write anything (no sed `e`, `w`,
`W`, `r`, `R`, no awk `system`, `|`, `getline`, `>`; never `-f`, never after xargs or parallel; see
shell_filters). `2>&1` and `> >(…)` write no file themselves; but wherever a customer value flows (the
command, later members of its pipeline, commands inside its process substitutions, a block or
`exec` redirected to a file), a file written there (a redirection, tee, dd, cp…) makes the value CODE
when the text also runs an interpreter: the file could be run.

Size. A value splits into at most 256 words (each is a variable of the container's environment), and
the rendered command with its words is at most 64 KB (Linux takes 128 KiB per environment string):
beyond, the value is refused with a 400. Following values is linear in their words.

Names the template itself assigns from a customer value (`A="${X}"`, `for A in "${X}"`) are followed:
`$A` is then a customer value too. Variables the customer cannot edit (and the panel's built-ins) are
trusted: staff wrote them.

Modules: the tables of programs and flags are in `shell_words`, the rendering and its quoting scanner in
`shell_render`, the bashlex layout and `analyse` in `shell_layout` (one command in `shell_command`,
bash's `[[ … ]]` and arithmetic in `shell_bash`, sed and awk scripts in `shell_filters`); this module
holds the entry points.
"""

from collections.abc import Iterable, Mapping

import bashlex

from templates_app.shell_layout import analyse
from templates_app.shell_words import CODE, NUMBER, NUMBER_VALUE_RE, PANEL_PREFIX, PLAIN, REFERENCE_RE
from templates_app.variables import BUILTINS, PLAIN_VALUE_RE, UnsafeSubstitution, declared_names

# The rendered command and its words, at most (Linux takes 128 KiB per environment string).
MAX_RENDERED = 64 * 1024
# Two words: a value that splits lands on every place it can reach (empty values reach none).
PROBE_VALUE = "x x"
# fmt: off
# Builtins and keywords `exec` cannot run: a one-command startup starting with one is left as written.
SHELL_BUILTINS = frozenset((
    ".", ":", "[", "alias", "bg", "bind", "break", "builtin", "caller", "cd", "command", "compgen",
    "complete", "continue", "declare", "dirs", "disown", "echo", "enable", "eval", "exec", "exit",
    "export", "false", "fc", "fg", "getopts", "hash", "help", "history", "jobs", "kill", "let", "local",
    "logout", "mapfile", "popd", "printf", "pushd", "pwd", "read", "readarray", "readonly", "return",
    "set", "shift", "shopt", "source", "suspend", "test", "times", "trap", "true", "type", "typeset",
    "ulimit", "umask", "unalias", "unset", "wait", "if", "for", "while", "until", "case", "time", "!",
    "[[", "{", "function", "select", "coproc", "compopt",
))
# fmt: on


class Rendered(str):
    """The start command for the shell (the string itself), and in `words` the variables holding the
    words of values that split, which the container's environment must also receive."""

    words: dict[str, str]

    def __new__(cls, text: str, words: Mapping[str, str] | None = None):
        rendered = super().__new__(cls, text)
        rendered.words = dict(words or {})
        return rendered

    @property
    def text(self) -> str:
        return str.__str__(self)


# The launcher's file, written into the container before every start (servers.runtime.start).
LAUNCH_FILE = "/.hearth-launch"
LAUNCH_SCRIPT = b'# Hearth runs the start command: it is in HEARTH_STARTUP, each value a reference.\neval "$HEARTH_STARTUP"\n'


def launcher(shell: str, *, file: bool = True) -> str:
    """STARTUP for an image's entrypoint: runs HEARTH_STARTUP with `shell`, whichever way it evaluates.

    `shell LAUNCH_FILE` holds no quote, `$`, blank or glob character: any number of evaluations,
    splittings and globbings leave it as it is (Rust's wrapper parses it twice). Where the file cannot
    be written (a read-only root file system), `shell -c 'eval${IFS}"$HEARTH_STARTUP"'`: after one
    evaluation (quote removal, then field splitting) its words are `shell`, `-c`,
    `eval${IFS}"$HEARTH_STARTUP"`, and that shell splits the unquoted `${IFS}` away and runs `eval` on
    the rendered command, as one word; an entrypoint that parses it once more leaves `eval` alone."""
    if file:
        return f"{shell} {LAUNCH_FILE}"
    return f"{shell} -c 'eval${{IFS}}\"$HEARTH_STARTUP\"'"


def launched(rendered: str) -> str:
    """HEARTH_STARTUP: the rendered command, with `exec` before it when it is one program with its
    arguments (as `sh -c` would have exec'ed it), so the game, not the shell, receives stop signals."""
    try:
        trees = bashlex.parse(rendered) if rendered.strip() else []
    except Exception:  # bashlex raises many kinds; what it cannot read runs as written
        return rendered
    if len(trees) != 1 or trees[0].kind != "command" or trees[0].parts[0].kind != "word":
        return rendered
    start, end = trees[0].parts[0].pos
    program = rendered[start:end]
    if program in SHELL_BUILTINS or "$" in program or "`" in program or "=" in program:
        return rendered
    return f"{rendered[:start]}exec {rendered[start:]}"  # after a leading comment or blank line


def customer_names(template, variables: Iterable | None = None) -> set[str]:
    """Names whose value a customer sets: every declared name but the variables marked not editable."""
    variables = list(variables if variables is not None else template.variables.all())
    locked = {_field(v, "env_variable", "") for v in variables if not _field(v, "user_editable", True)}
    names = declared_names(template, [_Named(_field(v, "env_variable", "")) for v in variables])
    return set(names) - locked


class _Named:
    def __init__(self, env_variable: str):
        self.env_variable = env_variable


def _field(variable, key: str, default):
    return variable.get(key, default) if isinstance(variable, dict) else getattr(variable, key, default)


def panel_name_problems(text: str, names: Iterable[str]) -> list[str]:
    """HEARTH_* names are the panel's (the words of split values, the start command): a template
    naming one could read a customer's words where the analysis does not follow them."""
    used = sorted(
        {m.group(1) for m in REFERENCE_RE.finditer(text or "") if m.group(1).startswith(PANEL_PREFIX)}
    )
    declared = sorted(n for n in names if n.startswith(PANEL_PREFIX))
    return [
        f"{name}: names beginning with {PANEL_PREFIX} are the panel's own; a template cannot "
        f"{'use' if name in used else 'declare'} them."
        for name in dict.fromkeys([*used, *declared])
    ]


def startup_problems(template, variables: Iterable | None = None) -> list[str]:
    """Why this template's startup command would let a customer's value become code (empty: it cannot)."""
    variables = list(variables if variables is not None else template.variables.all())
    customer = customer_names(template, variables)
    names = {*customer, *BUILTINS, *(_field(v, "env_variable", "") for v in variables)}
    text = template.start_command or ""
    problems = panel_name_problems(text, names)
    # Staff-only values as staff saved them: a filter's script in one is checked as written (shell_command)
    staff = {
        _field(v, "env_variable", ""): str(_field(v, "default_value", "") or "")
        for v in variables
        if _field(v, "env_variable", "") not in customer
    }
    try:
        _, findings, _ = analyse(text, {**dict.fromkeys(names, PROBE_VALUE), **staff}, customer)
    except UnsafeSubstitution as exc:  # a staff value of too many words
        return [*problems, str(exc)]
    problems += [
        f"{f.reason}: a customer can edit {f.name}, so its value would run as code. Move it out of "
        "that place, or make the variable not editable by customers."
        for f in findings
        if f.level == CODE
    ]
    return list(dict.fromkeys(problems))


def render_startup(text: str, env: Mapping[str, str], *, customer: Iterable[str] | None = None) -> Rendered:
    """The startup command for the shell, values left in the environment (see the module docstring).

    `customer` names the values a customer may have set; None means every name but the built-ins.
    Raises UnsafeSubstitution when one of them lands where it could become code.
    """
    if customer is None:
        customer = set(env) - set(BUILTINS)
    for name, value in env.items():
        if "\x00" in str(value):
            raise UnsafeSubstitution(f"{name}: values cannot contain NUL characters.")
    if problems := panel_name_problems(text, env):
        raise UnsafeSubstitution(" ".join(problems))
    rendered, findings, words = analyse(text, env, customer)
    # Where a value may land does not depend on it: an empty value (no word) is refused there too.
    probe = {**env, **dict.fromkeys(set(customer) & set(env), PROBE_VALUE)}
    findings += [f for f in analyse(text, probe, customer)[1] if f.level == CODE]
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
        if finding.level == NUMBER and not NUMBER_VALUE_RE.match(value):
            raise UnsafeSubstitution(
                f"{finding.name}: the start command uses it as a number here ({finding.reason}); "
                "the value must be a whole number (digits, with an optional sign)."
            )
    if len(rendered) + sum(len(k) + len(v) + 2 for k, v in words.items()) > MAX_RENDERED:
        raise UnsafeSubstitution(
            f"the start command with these values is longer than {MAX_RENDERED // 1024} KB; "
            "use shorter values or fewer words."
        )
    return Rendered(rendered, words)
