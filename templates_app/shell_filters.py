"""Stream filters (sed, awk) whose input is data: only when the template's own script, written inline,
can neither run a program nor touch a file (templates_app.shell_layout exempts them from "piped into an
interpreter"). sed's `e` command and flag run the pattern space as a shell command, `w`/`W`/`r`/`R` and
the `w` flag write or read files; awk's `system()`, `|`, `getline` and `>` do the same. Anything else
(a script from a file, a script the panel cannot read, options it does not know) is an interpreter."""

import re

SED_OPTIONS_WITH_VALUE = frozenset(("-l", "--line-length"))
SED_FLAGS = re.compile(
    r"^-(?:[nrEsuz]+|-(?:quiet|silent|regexp-extended|separate|unbuffered|null-data|posix|debug|sandbox))$"
)
AWK_OPTIONS_WITH_VALUE = frozenset(("-F", "-v", "--field-separator", "--assign"))
AWK_FLAGS = re.compile(
    r"^-(?:[bcCNnOPrSt]+|-(?:characters-as-bytes|traditional|posix|re-interval|sandbox|lint))$"
)
AWK_CODE_RE = re.compile(r"system|getline|[|>@]")


def is_safe_filter(program: str, arguments: list[str | None]) -> bool:
    """`program` (sed or awk) with these arguments (None for a word that is not literal) runs only its
    inline script on its input: nothing it reads can run or be written where a program could run it."""
    sed = program in ("sed", "gsed")
    scripts = _scripts(arguments, sed)
    if not scripts:
        return False
    if sed:
        return all(_sed_is_safe(script) for script in scripts)
    return all(not AWK_CODE_RE.search(script) for script in scripts)


def _scripts(arguments: list[str | None], sed: bool) -> list[str] | None:
    """The inline scripts (`-e S`, `--expression=S`, or the first operand), None when the panel cannot
    tell them (a script file, a non-literal word, an option it does not know)."""
    with_value = SED_OPTIONS_WITH_VALUE if sed else AWK_OPTIONS_WITH_VALUE
    flags = SED_FLAGS if sed else AWK_FLAGS
    scripts: list[str] = []
    i = 0
    while i < len(arguments):
        word = arguments[i]
        if word is None:
            return None
        if word in ("-e", "--expression") + (("--source",) if not sed else ()):
            if i + 1 >= len(arguments) or arguments[i + 1] is None:
                return None
            scripts.append(arguments[i + 1])
            i += 2
            continue
        if word.startswith("--expression=") or (not sed and word.startswith("--source=")):
            scripts.append(word.split("=", 1)[1])
        elif word in with_value:
            i += 1
        elif _glued_value(word, sed):
            pass  # -l80, -F:, -vname=value
        elif word == "--":
            i += 1
            break
        elif word.startswith("-"):
            if not flags.match(word):
                return None  # -f (a script file), -i (in place / include), -E (gawk: a file)…
        else:
            break
        i += 1
    if not scripts:
        if i >= len(arguments) or arguments[i] is None:
            return None
        scripts.append(arguments[i])
    return scripts


def _glued_value(word: str, sed: bool) -> bool:
    if sed:
        return word.startswith("-l") and word[2:].isdigit()
    return word.startswith(("-F", "-v")) and len(word) > 2


# A sed script, command by command: addresses, then one command letter and what it takes.
SED_ADDRESS_RE = re.compile(
    r"(?:[0-9]+(?:~[0-9]+)?|[+~][0-9]+|\$|/(?:[^/\\\n]|\\.)*/[IM]*|\\(.)(?:(?!\1)[^\\\n]|\\.)*\1[IM]*)"
)
SED_SIMPLE = frozenset("pdDnNgGhHxPlzF=q{}QLT")
SED_TO_LINE_END = frozenset("aic:btT#")
SED_UNSAFE = frozenset("ewWrRv")  # run or write/read a file; `v` (a version check) is rare enough


def _sed_is_safe(script: str) -> bool:
    i = 0
    while i < len(script):
        char = script[i]
        if char in " \t\n;!{}":
            i += 1
            continue
        address = SED_ADDRESS_RE.match(script, i)
        if address and address.end() > i:
            i = address.end()
            if i < len(script) and script[i] == ",":
                i += 1
            continue
        if char in SED_UNSAFE:
            return False
        if char in "sy":
            i = _after_substitution(script, i + 1, char == "s")
            if i < 0:
                return False
            continue
        if char in SED_TO_LINE_END:
            end = script.find("\n", i)
            if char in ":btT" and ";" in script[i : end if end >= 0 else len(script)]:
                end = script.index(";", i)  # GNU: a label ends at `;`
            i = len(script) if end < 0 else end
            continue
        if char in SED_SIMPLE:
            i += 1
            while i < len(script) and script[i].isdigit():
                i += 1  # q5, l 20
            continue
        return False
    return True


def _after_substitution(script: str, i: int, substitute: bool) -> int:
    """Past `s/re/replacement/flags` (or `y/a/b/`) from its delimiter at `i`; -1 when its flags run
    (`e`) or write (`w`) something, or the command does not end."""
    if i >= len(script) or script[i] in "\\\n":
        return -1
    delimiter = script[i]
    i += 1
    for _ in range(2):
        while i < len(script) and script[i] != delimiter:
            i += 2 if script[i] == "\\" else 1
        if i >= len(script):
            return -1
        i += 1
    while substitute and i < len(script) and script[i] not in " \t\n;}":
        if script[i] not in "gpiImM0123456789":
            return -1  # e: run the pattern space; w: write a file
        i += 1
    return i
