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

Modules: the tables of programs and flags are in `shell_words`, the rendering and its quoting scanner in
`shell_render`, the bashlex layout and `analyse` in `shell_layout`; this module holds the entry points.
"""

from collections.abc import Iterable, Mapping

from templates_app.shell_layout import analyse
from templates_app.shell_words import CODE, PLAIN
from templates_app.variables import BUILTINS, PLAIN_VALUE_RE, UnsafeSubstitution, declared_names


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
