"""Values are data: whatever a customer types, the rendered start command run by a real `sh -c` (with the
values in its environment, as the container gets them) prints it literally and runs nothing of it; and no
template can place a customer's value where a nested interpreter would read it as code."""

import contextlib
import os
import re
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates_app.models import Template
from templates_app.shell_filters import is_safe_filter
from templates_app.startup import startup_problems
from templates_app.variables import UnsafeSubstitution, render_for_shell
from tests.fixtures.templates import template_fields, variable
from tests.hostile import SHELL_HOSTILE

HOSTILE = [
    *SHELL_HOSTILE,
    "; touch pwned",
    "; rm -rf /",
    'say "hi"',
    "\\",
    "{{SERVER_UUID}}",
    "a[$(touch pwned)]",
    "$'\\x3b' touch pwned",
]
SHAPES = {
    "unquoted": ("printf '%s' {{X}}", "{j}"),
    "double quoted": ("printf '%s' \"{{X}}\"", "{v}"),
    "single quoted": ("printf '%s' '{{X}}'", "{v}"),
    "inside a word": ("printf '%s' pre{{X}}post", "pre{j}post"),
    "inside a double-quoted word": ("printf '%s' \"a {{X}} b\"", "a {v} b"),
    "escaped quotes as in Rust's egg": ("printf '%s' \\\"{{X}}\\\"", '"{v}"'),
    "after a backslash": ("printf '%s' \\{{X}}", "{j}"),
    "in a command substitution": ("printf '%s' \"$(printf '%s' {{X}})\"", "{j}"),
    "quoted in a quoted command substitution": ("printf '%s' \"$(printf '%s' \"{{X}}\")\"", "{v}"),
    "next to a comment": ("printf '%s' {{X}} # {{X}} trailing", "{j}"),
    "after a dollar sign": ("printf '%s' ${{X}}", "${j}"),
    "after a dollar sign in double quotes": ("printf '%s' \"${{X}}\"", "${v}"),
    "after a simple parameter": ("A=1; printf '%s' ${A}{{X}}", "1{j}"),
    "after a subshell in a quoted command substitution": (
        "printf '%s' \"$( (true); printf '%s' {{X}} )\"",
        "{j}",
    ),
    "in a here-string": ("cat <<< {{X}}", "{v}\n"),
    "as a test operand": ("if [ {{X}} = x ] 2>/dev/null; then :; fi; printf '%s' {{X}}", "{j}"),
    "in an assignment": ("A={{X}}; printf '%s' \"$A\"", "{v}"),
    "through exec": ("exec printf '%s' {{X}}", "{j}"),
    "twice": ("printf '%s|' {{X}} '{{X}}'", "{b}{v}|"),
    "in a bash test": ("[[ {{X}} == {{X}} && -n x ]] && printf '%s' {{X}}", "{j}"),
    "as a redirection's target": ("printf '%s' {{X}} > out; cat out; rm out", "{j}"),
    "in an export": ("export A={{X}}; printf '%s' \"$A\"", "{v}"),
}
BASH_ONLY = {"in a here-string", "in a bash test"}  # dash has neither <<< nor [[ ]]
IFS = re.compile(r"[ \t\n]+")


def expect(shape: str, value: str) -> str:
    """What the shell prints for `value` at this place: an unquoted value split into words on blanks
    (printf '%s' joins them, `{b}` marks each with `|`), never globbed; a quoted one whole."""
    words = [word for word in IFS.split(value) if word]
    if shape == "quoted in a quoted command substitution":
        return value.rstrip("\n")  # $(...) drops trailing newlines, as it does for any output
    return SHAPES[shape][1].format(v=value, j="".join(words), b="".join(f"{w}|" for w in words))


def layout(value: str) -> str:
    """The value with every character that is not a blank made `x`: all the rendering may depend on."""
    return re.sub(r"[^ \t\n]", "x", value)


# Startup commands that hand a customer's value to something that parses it again: each was, or would
# have been, a way around the old quoting. A customer value may never be placed there.
BYPASSES = {
    "sh -c": "sh -c 'printf %s {{X}}'",
    "bash -c": 'bash -c "printf %s {{X}}"',
    "sh -ec": 'sh -ec "printf %s {{X}}"',
    "bash -lc": "bash -lc {{X}}",
    "sh -c --": 'sh -c -- "printf %s {{X}}"',
    "sh +c": "sh -x -c {{X}}",
    "a bare -c value": "sh -c {{X}}",
    "ssh": 'ssh host "printf %s {{X}}"',
    "env sh -c": 'env A=1 sh -c "printf %s {{X}}"',
    "exec bash -c": 'exec bash -c "printf %s {{X}}"',
    "nohup timeout sh -c": 'nohup timeout 5 sh -c "printf %s {{X}}"',
    "busybox sh -c": 'busybox sh -c "printf %s {{X}}"',
    "su -c": 'su -c "printf %s {{X}}" container',
    "sudo": "sudo -u container printf %s {{X}}",
    "python -c": 'python3 -c "print({{X}})"',
    "perl -e": "perl -e {{X}}",
    "awk": "awk {{X}} /dev/null",
    "eval": 'eval "printf %s {{X}}"',
    "trap": "trap 'printf %s {{X}}' EXIT",
    "source /dev/stdin": 'source /dev/stdin <<< "{{X}}"',
    ". /dev/stdin": ". /dev/stdin <<< {{X}}",
    "here-string to sh": "sh <<< {{X}}",
    "here-document to sh": "sh <<EOF\n{{X}}\nEOF",
    "piped into sh": "printf %s {{X}} | sh",
    "piped into a loop that evals": 'printf %s {{X}} | while read -r l; do eval "$l"; done',
    "process substitution": "tee >(sh) <<< {{X}}",
    "written then run": "printf %s {{X}} > run.sh; sh run.sh",
    "as the program": "{{X}} --port 1",
    "as a path to the program": "./{{X}}",
    "in a command substitution, as the program": 'printf %s "$({{X}})"',
    "in backticks, as the program": "printf %s `{{X}}`",
    "after timeout": "timeout 10 {{X}}",
    "as the program xargs runs": "printf x | xargs {{X}}",
    "as the program find runs": "find . -exec {{X}} \\;",
    "as the script sh runs": "sh {{X}}",
    "as a name read sets": "read {{X}} <<< x",
    "as a name declare sets": "declare {{X}}=1",
    "as a name test -v evaluates": "[ -v {{X}} ]",
    "through an assignment": 'A={{X}}; sh -c "$A"',
    "through an export": 'export A="{{X}}"; eval "$A"',
    "through a loop variable": 'for a in {{X}}; do sh -c "$a"; done',
    "the template's own $X": 'sh -c "$X"',
    "through a function's argument": 'f() { sh -c "$1"; }; f {{X}}',
    "through set --": 'set -- {{X}}; sh -c "$*"',
    "through a file descriptor": "exec 3<<< {{X}}; sh <&3",
    "into a loop that runs it": 'while read -r l; do sh -c "$l"; done <<< {{X}}',
    "in a case the parser cannot read": "case a in a) sh -c {{X}};; esac",
    # Stream filters whose script runs or writes something, or is not the template's inline text
    "awk piping to sh": "./srv {{X}} | awk '{print | \"sh\"}'",
    "awk's system()": "./srv {{X}} | awk '{system($0)}'",
    "awk writing a file then run": "./srv {{X}} | awk '{print > \"run.sh\"}'; sh run.sh",
    "sed's e flag": './srv "{{X}}" | sed "s/\\(.*\\)/\\1/e"',
    "sed's e command": "./srv {{X}} | sed e",
    "sed writing a file then run": './srv "{{X}}" | sed -n "w run.sh"; bash run.sh',
    "sed with a script file": "./srv {{X}} | sed -f filter.sed",
    "sed after xargs": "printf %s {{X}} | xargs sed -n p",
    # A file written downstream, run later
    "tee -a then run": './srv "{{X}}" 2>&1 | tee -a log; bash log',
    "a process substitution writing a file": './srv "{{X}}" > >(cat > run.sh); bash run.sh',
    "cat > then run": './srv "{{X}}" | cat > run.sh; bash run.sh',
    "tee then run": './srv "{{X}}" | tee run.sh; bash run.sh',
    "a block written to a file then run": '{ ./srv "{{X}}"; } > run.sh; bash run.sh',
    "a subshell written to a file then run": '( ./srv "{{X}}" ) > run.sh; bash run.sh',
    "an if written to a file then run": 'if true; then ./srv "{{X}}"; fi > run.sh; bash run.sh',
    "exec > file, then run": 'exec > run.sh; ./srv "{{X}}"; bash run.sh',
    "tee over a program, then run": './srv "{{X}}" | tee start.sh; ./start.sh',
    "written over a program, then run": 'printf %s "{{X}}" > ./start.sh; ./start.sh',
    "dd over a program, then run": './srv "{{X}}" | dd of=bin/game; bin/game',
    # Names set from a value by read or printf -v, and single-quoted text a nested shell expands
    "read, then sh -c": 'read -r A <<< "{{X}}"; sh -c "$A"',
    "printf -v, then eval": 'printf -v A \'%s\' "{{X}}"; eval "$A"',
    "the template's own $X in single quotes": "bash -c 'eval \"$X\"'",
    # Names bash evaluates: namerefs, indirection, integer variables
    "indirect in a trap": "trap 'echo ${!X}' EXIT; ./srv",
    "a nameref": 'declare -n R={{X}}; ./srv "$R"',
    "local -n": 'f() { local -n R={{X}}; ./srv "$R"; }; f',
    "indirect through a copy": 'R="{{X}}"; ./srv "${!R}"',
    "indirect": './srv "${!X}"',
    "declare -i": "declare -i N={{X}}; ./srv",
    "declare -i, then assigned": "declare -i N; N={{X}}; ./srv",
    "read into an integer": "declare -i N; read N <<< {{X}}; ./srv",
    # `[[` rewritten for the parser only where it is a command
    "a [[ in a comment": '# [[ note\nbash <<< "{{X}}"\n# ]]',
    "a stray [[ as an argument": 'echo [[ ; bash <<< "{{X}}" ; echo ]]',
    "a pipe inside [[ $(…) ]]": "[[ $(echo {{X}} | sh) == uid* ]]",
    "a separator inside [[ ]]": '[[ -n x ; bash <<< "{{X}}" ; -n y ]]',
    "a [[ after a heredoc-free newline": '[[ -n x\n]]; bash <<< "{{X}}"',
    "a [[ in quotes": 'echo "[[ x"; bash <<< "{{X}}"; echo "x ]]"',
}
# Places the panel cannot vouch for the quoting of: only plain values are accepted there.
PLAIN_ONLY = [
    "printf %s `printf %s {{X}}`",
    "printf %s ${UNSET:-{{X}}}",
    "cat <<EOF\n{{X}}\nEOF",
    "case a in a) printf %s {{X}};; esac",
    "printf %s $(printf %s {{X}})",
    "printf %s $X",
]


def run(command: str, cwd, env: dict, shell: str = "sh") -> subprocess.CompletedProcess:
    """`sh -c command` in `cwd` with `env` as the container would have it (the words of split values
    too); stdout undecoded (\r survives)."""
    environ = {"PATH": os.environ["PATH"], **env, **getattr(command, "words", {})}
    result = subprocess.run([shell, "-c", command], cwd=cwd, capture_output=True, timeout=10, env=environ)
    result.stdout = result.stdout.decode("utf-8", "surrogateescape")
    result.stderr = result.stderr.decode("utf-8", "replace")
    return result


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_print_literally_and_run_nothing(tmp_path, shell, shape, value):
    shell = "bash" if shape in BASH_ONLY else shell
    template = SHAPES[shape][0]
    command = render_for_shell(template, {"X": value})
    result = run(command, tmp_path, {"X": value}, shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect(shape, value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_no_value_is_ever_part_of_the_shell_text(shape):
    template, _ = SHAPES[shape]
    for value in HOSTILE:
        rendering = render_for_shell(template, {"X": value})
        assert rendering == render_for_shell(template, {"X": layout(value)})
        assert "pwned" not in rendering and "pwned" not in rendering.words


def test_the_rust_egg_startup_keeps_its_quotes(tmp_path):
    env = {"HOSTNAME": "A $(x) Server"}
    command = render_for_shell('printf "%s\\n" +server.hostname \\"{{HOSTNAME}}\\"', env)
    assert run(command, tmp_path, env).stdout == '+server.hostname\n"A $(x) Server"\n'


@pytest.mark.parametrize("template", BYPASSES.values(), ids=BYPASSES.keys())
@pytest.mark.parametrize("value", ["touch pwned", "id", "plain-1.2_3", ""])
def test_a_customer_value_never_reaches_a_nested_interpreter(template, value):
    with pytest.raises(UnsafeSubstitution, match="X: the start command places it where it would run as code"):
        render_for_shell(template, {"X": value})


@pytest.mark.parametrize("template", BYPASSES.values(), ids=BYPASSES.keys())
def test_staff_values_may_go_there(tmp_path, template):
    render_for_shell(template, {"X": "printf ok"}, customer=set())


@pytest.mark.parametrize("template", BYPASSES.values(), ids=BYPASSES.keys())
def test_such_a_template_cannot_be_saved_while_customers_edit_the_variable(staff, template):
    body = {**_api_body(), "startCommand": template, "variables": [_api_variable("X")]}
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["fields"]["startCommand"])
    assert "a customer can edit X, so its value would run as code" in message
    assert not Template.objects.filter(name="Bypass").exists()
    locked = {**body, "variables": [_api_variable("X", userEditable=False)]}
    assert staff.post("/api/templates", locked, format="json").status_code == 201


def test_panel_values_are_trusted(staff):
    body = {**_api_body(), "startCommand": 'sh -c "exec game --port {{SERVER_PORT}} {{SERVER_MEMORY}}"'}
    assert staff.post("/api/templates", body, format="json").status_code == 201


@pytest.mark.parametrize(
    "template",
    [
        "java -Xmx{{SERVER_MEMORY}}M -jar {{X}} nogui",
        "exec java -jar {{X}}",
        "bash ./start.sh --name {{X}}",
        "python3 main.py --name {{X}}",
        'if [ "{{X}}" = "1" ]; then ./update.sh; fi; ./game +name {{X}}',
        "find . -name {{X}} -delete; ./game",
        "printf %s {{X}} > motd.txt; ./game",
        "nice -n 5 ./game {{X}}",
        "./game {{X}} 2>&1 | tee -a console.log",
        # Console filters: the template's own inline sed or awk script, which runs and writes nothing
        "./game {{X}} 2>&1 | sed -u -e 's/\\x1b\\[[0-9;]*m//g' -e '/^$/d'",
        "./game {{X}} 2>&1 | tee -a console.log | sed -E 's/^(\\[[0-9:]+\\]) /\\1 /'",
        "./game {{X}} | awk '{print $1; fflush()}'",
        "./game {{X}} > >(sed -u 's/a/b/g') 2>&1",
        "# a comment first\n./game {{X}}",
    ],
)
def test_ordinary_startups_are_accepted(staff, template):
    body = {**_api_body(), "startCommand": template, "variables": [_api_variable("X")]}
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("template", PLAIN_ONLY)
def test_places_whose_quoting_cannot_be_followed_accept_only_plain_values(tmp_path, template):
    with pytest.raises(UnsafeSubstitution, match="X: the value holds characters"):
        render_for_shell(template, {"X": "; touch pwned"})
    command = render_for_shell(template, {"X": "plain-1.2_3"})
    result = run(command, tmp_path, {"X": "plain-1.2_3"}, "bash")
    assert "plain-1.2_3" in result.stdout or template.startswith("printf %s $((")
    assert "pwned" not in command


# Console filters: data filters only when the inline script can neither run a program nor touch a file.
SAFE_FILTERS = [
    ("sed", ["-u", "-e", r"s/\x1b\[[0-9;]*m//g", "-e", "/^$/d"]),
    ("sed", ["-E", r"s/^(\[[0-9:]+\]) /\1 /"]),
    ("sed", ["-n", "/Done/,+2p"]),
    ("sed", ["/x/{s/a/b/;p}", "-l80"]),
    ("sed", ["s/e/w/g"]),  # e and w as text of the substitution, not as its flags
    ("awk", ["{print $1; fflush()}"]),
    ("gawk", ["-F:", "-v", "a=1", "{print a, $2}"]),
]
UNSAFE_FILTERS = [
    ("sed", ["s/a/b/e"]),
    ("sed", ["e"]),
    ("sed", ["1e id"]),
    ("sed", ["-n", "w run.sh"]),
    ("sed", ["s/a/b/w x"]),
    ("sed", ["$!N;W x"]),
    ("sed", ["r /etc/passwd"]),
    ("sed", ["-f", "x.sed"]),
    ("sed", ["-i", "s/a/b/", "f"]),
    ("sed", [None]),  # a word the panel cannot read
    ("awk", ['{print | "sh"}']),
    ("awk", ["{system($0)}"]),
    ("awk", ['{print > "x"}']),
    ("awk", ['{"id" | getline x}']),
    ("awk", ["-f", "x.awk"]),
    ("gawk", ['@load "x"']),
]


def test_only_filters_that_run_and_write_nothing_are_data():
    assert all(is_safe_filter(program, arguments) for program, arguments in SAFE_FILTERS)
    assert not any(is_safe_filter(program, arguments) for program, arguments in UNSAFE_FILTERS)


# Places bash evaluates as arithmetic: a name there is a variable, evaluated in turn, and a subscript
# runs `$(…)`, quoted or not; every customer value is in the environment, so `X=Z` with Z='a[$(…)]' would
# run. Only whole numbers are accepted there (a template is saved: a boolean or integer rule fits).
ARITHMETIC = [
    "[[ {{X}} -eq 1 ]] && printf yes; printf .",
    '[[ "{{X}}" -ne 0 ]]; printf .',
    "[[ 1 -lt '{{X}}' ]]; printf .",
    "if [[ -n x && {{X}} -ge 1 ]]; then printf yes; fi",
    "printf %s $(( {{X}} + 1 ))",
    'printf %s "$(( X + 1 ))"',
    "printf %s ${A[{{X}}]}",
    "x=abcdef; printf %s ${x:{{X}}:2}",
    'set -- a b c; printf %s "${@:{{X}}}"',
    "printf %s ${A[@]:1:{{X}}}",
    'R="{{X}}"; printf %s $(( R * 2 ))',
    "for R in {{X}}; do printf %s $(( R * 2 )); done",
]


@pytest.mark.parametrize("template", ARITHMETIC)
def test_arithmetic_places_accept_whole_numbers_only(tmp_path, template):
    for value in ["Z", "a[$(touch pwned)]", "1+1", "0x10", " 1"]:
        with pytest.raises(UnsafeSubstitution, match="X: the start command uses it as a number here"):
            render_for_shell(template, {"X": value})
    for value in ["3", "-1", "+2", ""]:
        command = render_for_shell(template, {"X": value})
        run(command, tmp_path, {"X": value, "Z": "a[$(touch pwned)]"}, "bash")
        assert list(tmp_path.iterdir()) == []
    assert render_for_shell(template, {"X": "Z"}, customer=set())  # a staff value: the egg's own


@pytest.mark.django_db
@pytest.mark.parametrize("rules", [{"type": "boolean"}, {"type": "integer", "min": 0, "max": 1}])
def test_a_valheim_shaped_egg_is_saved_and_runs(staff, tmp_path, rules):
    text = "if [[ {{ENABLE_CROSSPLAY}} -eq 1 ]]; then printf '[%s]' -crossplay; else printf '[%s]' none; fi"
    body = {**_api_body(), "startCommand": text}
    body["variables"] = [
        _api_variable("ENABLE_CROSSPLAY", defaultValue="0", rules={**rules, "required": True})
    ]
    assert staff.post("/api/templates", body, format="json").status_code == 201
    for value, printed in [("1", "[-crossplay]"), ("0", "[none]")]:
        result = run(
            render_for_shell(text, {"ENABLE_CROSSPLAY": value}), tmp_path, {"ENABLE_CROSSPLAY": value}, "bash"
        )
        assert result.stdout == printed


def test_valheims_own_startup_runs_and_its_values_stay_data(tmp_path):
    """As the egg writes it: `[[ … -eq 1 ]]` inside `$( … && … )`, a staff-only sed filter, a staff trap."""
    text = (
        'printf \'[%s]\' -name "{{NAME}}" $( [[ {{CROSSPLAY}} -eq 1 ]] && echo " -crossplay ") '
        '> >(sed -uE "{{FILTER}}") & trap "{{STOP}}" 15; wait $!'
    )
    env = {"NAME": "$(touch pwned)", "CROSSPLAY": "1", "FILTER": "s/^/>/", "STOP": "kill -2 $!; wait;"}
    command = render_for_shell(text, env, customer={"NAME", "CROSSPLAY"})
    result = run(command, tmp_path, {**env, **command.words}, "bash")
    assert result.stdout == ">[-name][$(touch pwned)][-crossplay]"
    with pytest.raises(UnsafeSubstitution, match="CROSSPLAY: the start command uses it as a number"):
        render_for_shell(text, {**env, "CROSSPLAY": "Z"}, customer={"NAME", "CROSSPLAY"})
    assert list(tmp_path.iterdir()) == []


def test_a_value_splits_into_256_words_at_most():
    with pytest.raises(UnsafeSubstitution, match="X: the value splits into more than 256 words"):
        render_for_shell("./srv {{X}}", {"X": "a " * 257})
    assert len(render_for_shell("./srv {{X}}", {"X": "a " * 256}).words) == 256
    assert render_for_shell('./srv "{{X}}"', {"X": "a " * 4096}) == './srv "${X}"'  # quoted: one word


def test_the_rendered_command_is_64_kb_at_most():
    value = " ".join(["w" * 30] * 256)
    with pytest.raises(UnsafeSubstitution, match="longer than 64 KB"):
        render_for_shell("./srv" + " {{X}}" * 14, {"X": value})


def test_following_values_is_linear_in_their_words():
    """4096 words took 7.6 s (34 s twice): every spot was looked up in every word and assignment."""
    start = time.monotonic()
    render_for_shell("./srv {{X}} {{X}} --x={{Y}}; A={{Y}}", {"X": "a " * 256, "Y": "b " * 256})
    assert time.monotonic() - start < 2


@pytest.mark.django_db
def test_a_server_with_too_many_words_is_refused_with_a_clear_400(make_template):
    from config.errors import InvalidInput
    from servers.lifecycle.create import check_startup

    template = make_template([variable("ARGS")], start_command="./srv {{ARGS}}", environment={})
    with pytest.raises(InvalidInput, match="ARGS: the value splits into more than 256 words"):
        check_startup(template, {"ARGS": " ".join(["-x"] * 4096)})
    check_startup(template, {"ARGS": "-dologs -adminlog"})


def test_nul_characters_are_refused():
    with pytest.raises(UnsafeSubstitution, match="NUL"):
        render_for_shell("echo {{X}}", {"X": "a\x00b"})


def test_unknown_placeholders_become_empty_words(tmp_path):
    command = render_for_shell("printf '[%s]' {{config.docker.interface}} {{env.PATH}} '{{NOPE}}'", {})
    assert run(command, tmp_path, {}).stdout == "[][][]"


@pytest.mark.django_db
def test_the_check_follows_the_variables_staff_save(make_template):
    template = make_template(start_command='sh -c "game {{X}}"', variables=[variable("X", editable=False)])
    assert startup_problems(template) == []
    template.variables.update(user_editable=True)  # as a direct edit of the row would
    assert "a customer can edit X" in startup_problems(template)[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        *("LD_PRELOAD", "BASH_ENV", "PATH", "JAVA_TOOL_OPTIONS", "BASH_FUNC_X", "GIT_SSH_COMMAND"),
        *("GIT_ASKPASS", "GIT_CONFIG_COUNT", "GIT_CONFIG_VALUE_0", "npm_config_script_shell"),
        "NPM_CONFIG_NODE_OPTIONS",
    ],
)
def test_customers_cannot_edit_what_a_loader_or_shell_reads_as_code(staff, name):
    body = {**_api_body(), "variables": [_api_variable(name)]}
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 400
    assert f"{name} is read by the dynamic loader or a shell" in response.json()["message"]
    locked = {**body, "variables": [_api_variable(name, userEditable=False)]}
    assert staff.post("/api/templates", locked, format="json").status_code == 201


@pytest.mark.django_db
def test_customers_cannot_set_such_names_through_the_environment(make_template):
    from config.errors import InvalidInput
    from templates_app.variables import validate_values

    template = make_template(environment={"LD_LIBRARY_PATH": "./linux64"})
    with pytest.raises(InvalidInput, match="programs read it as code"):
        validate_values(template, {"LD_LIBRARY_PATH": "/home/container/evil"})
    assert validate_values(template, {"LD_LIBRARY_PATH": "/x"}, editable_only=False)


def _api_body() -> dict:
    fields = template_fields(name="Bypass", start_command="./game", environment={})
    return {
        "name": fields["name"],
        "dockerImage": fields["docker_image"],
        "startCommand": fields["start_command"],
        "stopCommand": "stop",
    }


def _api_variable(name: str, **extra) -> dict:
    return {"envVariable": name, "name": name, "defaultValue": "", **extra}


# --- properties -------------------------------------------------------------------------------------

SHELL_TEXT = st.text(
    alphabet=st.sampled_from(list(" \t\n;&|<>()$`'\"\\*?[]{}~#!=%^,:/.-_+@") + list("abcXYZ019")),
    max_size=30,
)
ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(SHELL_TEXT, ANY_TEXT, st.sampled_from(HOSTILE)),
    shape=st.sampled_from(sorted(SHAPES)),
    shell=st.sampled_from(["sh", "bash"]),
)
def test_any_text_survives_the_shell_unchanged(tmp_path, value, shape, shell):
    shell = "bash" if shape in BASH_ONLY else shell
    template = SHAPES[shape][0]
    result = run(render_for_shell(template, {"X": value}), tmp_path, {"X": value}, shell)
    assert result.stdout == expect(shape, value)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(SHELL_TEXT, ANY_TEXT), bypass=st.sampled_from(sorted(BYPASSES)))
def test_no_value_gets_through_a_bypass(value, bypass):
    with pytest.raises(UnsafeSubstitution):
        render_for_shell(BYPASSES[bypass], {"X": value})


@settings(max_examples=100, deadline=None)
@given(a=st.one_of(ANY_TEXT, SHELL_TEXT), shape=st.sampled_from(sorted(SHAPES)))
def test_the_rendering_depends_on_where_blanks_are_only(a, shape):
    template, _ = SHAPES[shape]
    assert render_for_shell(template, {"X": a}) == render_for_shell(template, {"X": layout(a)})


# --- the oracle: whatever the check lets through, a real shell runs none of it --------------------

WRAPPERS = ["", "exec ", "env A=1 ", "nohup ", "timeout 5 ", "command ", "nice -n 1 ", "busybox "]
PROGRAMS = [
    "printf '%s\\n' {arg}",
    "echo {arg}",
    "cat <<< {arg}",
    "sh -c {arg}",
    "sh -ec {arg}",
    "bash -lc {arg}",
    "sh -c 'printf %s '{arg}",
    'bash -c "printf %s {arg}"',
    "sh -c -- {arg}",
    "eval {arg}",
    'eval "printf %s {arg}"',
    "{arg}",
    "./{arg}",
    "xargs {arg} < /dev/null",
    "sh <<< {arg}",
    "source /dev/stdin <<< {arg}",
    'A={arg}; sh -c "$A"',
    'A={arg}; printf %s "$A"',
    "printf %s {arg} | sh",
    "printf %s {arg} | cat",
    'f() {{ sh -c "$1"; }}; f {arg}',
    "trap {arg} EXIT",
    "trap 'printf %s '{arg} EXIT",
    'for a in {arg}; do sh -c "$a"; done',
    "printf %s {arg} > run.sh; sh run.sh",
    "if [ {arg} = x ]; then printf yes; fi",
    "printf %s $(printf %s {arg})",
    "printf %s `printf %s {arg}`",
    "find . -maxdepth 0 -exec {arg} \\;",
    "[[ {arg} -eq 1 ]]",
    "printf %s $(( {arg} + 1 ))",
    "printf %s {arg} | sed e",
    "printf %s {arg} | awk '{{system($0)}}'",
    'declare -n R={arg}; printf %s "$R"',
    "declare -i N={arg}",
    "printf %s {arg} | tee run.sh; sh run.sh",
]
ARGUMENTS = ["{{X}}", '"{{X}}"', "'{{X}}'", '"a {{X}}"', "pre{{X}}", "\\{{X}}"]
PAYLOADS = [
    "touch pwned",
    "$(touch pwned)",
    ";touch pwned",
    "`touch pwned`",
    "'; touch pwned; '",
    '"; touch pwned; "',
    "a\ntouch pwned",
    "x'$(touch pwned)'",
    "./pwned.sh",
    "a[$(touch pwned)]",
]


# Constructs bashlex cannot read: after one of them the whole command takes the strict, textual path.
PREAMBLES = ["", "case a in a) :;; esac; ", "[[ -n a ]]; ", ": $(( 1 + 1 )); "]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    preamble=st.sampled_from(PREAMBLES),
    wrapper=st.sampled_from(WRAPPERS),
    program=st.sampled_from(PROGRAMS),
    argument=st.sampled_from(ARGUMENTS),
    payload=st.sampled_from(PAYLOADS),
    shell=st.sampled_from(["sh", "bash"]),
)
def test_what_the_check_lets_through_runs_nothing(
    tmp_path, preamble, wrapper, program, argument, payload, shell
):
    template = preamble + wrapper + program.format(arg=argument)
    try:
        command = render_for_shell(template, {"X": payload})
    except UnsafeSubstitution:
        return
    for path in tmp_path.iterdir():
        path.unlink()
    script = tmp_path / "pwned.sh"  # a program the customer could have uploaded: running it is code too
    script.write_text("#!/bin/sh\ntouch pwned\n")
    script.chmod(0o755)
    with contextlib.suppress(subprocess.TimeoutExpired):
        run(command, tmp_path, {"X": payload}, shell)
    assert not (tmp_path / "pwned").exists(), f"{template!r} ran {payload!r}: {command!r}"


# Pterodactyl's yolk images ignore the command and run $STARTUP from their entrypoint, old and new style.
YOLK_ENTRYPOINTS = {
    "eval (older yolks)": (
        "MODIFIED_STARTUP=$(echo -e ${STARTUP} | sed -e 's/{{/${/g' -e 's/}}/}/g')\neval ${MODIFIED_STARTUP}"
    ),
    "eval echo, then exec env (current yolks)": (
        "PARSED=$(echo \"${STARTUP}\" | sed -e 's/{{/${/g' -e 's/}}/}/g' | eval echo \"$(cat -)\")\n"
        "exec env ${PARSED}"
    ),
}


@pytest.mark.parametrize("entrypoint", YOLK_ENTRYPOINTS.values(), ids=YOLK_ENTRYPOINTS.keys())
@pytest.mark.parametrize("value", HOSTILE)
def test_yolk_entrypoints_that_eval_startup_run_nothing(tmp_path, entrypoint, value):
    env = {"X": value, "SERVER_PORT": "25565"}
    startup = render_for_shell("printf '[%s]' {{X}} \"{{X}}\" '{{X}}' --port {{SERVER_PORT}}", env)
    result = run(entrypoint, tmp_path, {**env, "STARTUP": startup}, "bash")
    assert result.returncode == 0, result.stderr
    assert "25565" in result.stdout
    assert list(tmp_path.iterdir()) == []
