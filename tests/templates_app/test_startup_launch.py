"""How the start command reaches the program, with real shells: every way an image's entrypoint evaluates
STARTUP (the yolks', old and new, and the other styles eggs' images use) runs exactly the rendered
command; a value outside quotes splits into words as the shell would split it, and nothing of any value
is ever parsed or globbed; values only staff can set run as the egg intends."""

import os
import re
import subprocess

import pytest

from servers.runtime import start_environment
from templates_app.models import Template, TemplateVariable
from templates_app.startup import (
    LAUNCH_FILE,
    LAUNCH_SCRIPT,
    launched,
    launcher,
    render_startup,
    startup_problems,
)
from tests.fixtures.templates import variable
from tests.hostile import SHELL_HOSTILE

HOSTILE = "-a  -b\t$(touch pwned) `touch pwned` ; touch pwned | & > pwned * ~ $'\\x3b' \\\n'\"x"
IFS = re.compile(r"[ \t\n]+")
SED = "sed -e 's/{{/${/g' -e 's/}}/}/g'"
# How images' entrypoints run $STARTUP (each as it is written in the image, reduced to that step).
STYLES = {
    "yolks today: eval echo, then exec env": (
        f'PARSED=$(echo "${{STARTUP}}" | {SED} | eval echo "$(cat -)")\nexec env ${{PARSED}}'
    ),
    "older yolks: echo -e, then eval": f"MODIFIED_STARTUP=$(echo -e ${{STARTUP}} | {SED})\neval ${{MODIFIED_STARTUP}}",
    'eval "$STARTUP"': 'eval "$STARTUP"',
    'bash -c "$STARTUP"': 'exec bash -c "$STARTUP"',
    "parkervcp: eval echo, then run": (
        f"MODIFIED_STARTUP=$(eval echo $(echo ${{STARTUP}} | {SED}))\n${{MODIFIED_STARTUP}}"
    ),
    # Rust's: eval echo, then wrapper.js hands the result to child_process.exec, which is `sh -c`
    "rust: eval echo, then sh -c": (
        f'MODIFIED_STARTUP=`eval echo $(echo ${{STARTUP}} | {SED})`\nexec sh -c "${{MODIFIED_STARTUP}}"'
    ),
}
TWICE = "rust: eval echo, then sh -c"


def words(value: str) -> list[str]:
    return [word for word in IFS.split(value) if word]


def container_env(text: str, env: dict, shell: str, launch_file=None) -> dict:
    """The environment servers.runtime gives the game container in entrypoint mode; `launch_file`: where
    this test wrote LAUNCH_SCRIPT (the container has it at LAUNCH_FILE), None for the eval launcher."""
    rendered = render_startup(text, env)
    startup = launcher(shell, file=launch_file is not None)
    if launch_file is not None:
        launch_file.write_bytes(LAUNCH_SCRIPT)
        startup = startup.replace(LAUNCH_FILE, str(launch_file))
    return {**env, **rendered.words, "HEARTH_STARTUP": launched(rendered), "STARTUP": startup}


def run(script: str, cwd, env: dict, shell: str = "bash") -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(
        [shell, "-c", script], cwd=cwd, env=environ, capture_output=True, text=True, timeout=10, check=False
    )


# Yolks' entrypoints are bash; alpine's are ash, others dash (whose echo has no -e: that style is bash's).
ENTRYPOINTS = [
    pytest.param(name, shell, launch, id=f"{name} in {shell}, {launch} launcher")
    for name, style in STYLES.items()
    for shell in ("bash", "sh")
    for launch in ("file", "eval")
    if (shell == "bash" or "echo -e" not in style) and (launch == "file" or name != TWICE)
]
TEXT = "printf '[%s]\\n' {{X}} \"{{Y}}\" '{{Y}}' --port={{SERVER_PORT}} pre{{X}}post"


@pytest.mark.parametrize("launch_shell", ["/bin/bash", "/bin/sh"])
@pytest.mark.parametrize(("style", "entrypoint_shell", "launch"), ENTRYPOINTS)
def test_every_entrypoint_style_runs_exactly_the_command(
    tmp_path, style, entrypoint_shell, launch, launch_shell
):
    env = {"X": HOSTILE, "Y": HOSTILE, "SERVER_PORT": "25565"}
    cwd, launch_file = tmp_path / "cwd", (tmp_path / "launch" if launch == "file" else None)
    cwd.mkdir()
    result = run(STYLES[style], cwd, container_env(TEXT, env, launch_shell, launch_file), entrypoint_shell)
    assert result.returncode == 0, result.stderr
    split = words(HOSTILE)
    expected = [*split, HOSTILE, HOSTILE, "--port=25565", "pre" + split[0], *split[1:-1], split[-1] + "post"]
    assert result.stdout == "".join(f"[{word}]\n" for word in expected)
    assert list(cwd.iterdir()) == []


def test_the_eval_launcher_parsed_twice_runs_nothing(tmp_path):
    """Where no file can be written (read-only root), an entrypoint that parses twice gets `eval` alone."""
    result = run(STYLES[TWICE], tmp_path, container_env(TEXT, {"X": HOSTILE, "Y": "y"}, "/bin/bash"))
    assert (result.returncode, result.stdout, list(tmp_path.iterdir())) == (0, "", [])


def test_the_program_replaces_the_shell(tmp_path):
    """One program and its arguments is exec'ed, as `sh -c` would: stop signals reach the game."""
    env = container_env("sh -c 'echo $$'", {}, "/bin/bash", tmp_path / "launch")
    result = run(f"echo $$\n{STYLES['yolks today: eval echo, then exec env']}", tmp_path, env)
    entrypoint, program = result.stdout.split()
    assert entrypoint == program, result.stdout  # the entrypoint's own pid: nothing forked on the way


@pytest.mark.parametrize(
    ("text", "exec"),
    [
        ('./srv "${X}" -y', True),
        ("java -jar server.jar", True),
        ('A=1 ./srv "${X}"', False),
        ("./srv & wait", False),
        ("./a; ./b", False),
        ("echo hi", False),
        ('"${X}" -y', False),
        ("cd x && ./srv", False),
    ],
)
def test_only_one_program_is_exec_ed(text, exec):
    assert launched(text).startswith("exec ") is exec


def test_exec_goes_before_the_program_after_a_leading_comment():
    assert launched("# the game\n./srv -y") == "# the game\nexec ./srv -y"
    assert launched("\n\n  ./srv -y") == "\n\n  exec ./srv -y"
    assert launched("compopt -o nospace") == "compopt -o nospace"  # a builtin: exec cannot run it


# Unquoted, the value splits as bash splits `${X}` with globbing off; in these places it stays one word.
SPLITS = [
    "printf '[%s]\\n' {{X}}",
    "printf '[%s]\\n' pre{{X}}post",
    "printf '[%s]\\n' --flag={{X}} -D{{X}}",
    "printf '[%s]\\n' {{X}}{{X}}",
    "A={{X}}; printf '[%s]\\n' \"$A\" {{X}}",
    "export A={{X}}; printf '[%s]\\n' \"$A\"",
    "A={{X}} B=1 printenv A",
    "printf '[%s]\\n' {{X}} > out; cat out",
    "cat <<< {{X}}",
    "[[ -n {{X}} && x == x ]] && printf '[%s]\\n' yes {{X}}",
    "if [[ -n {{X}} && {{X}} != 'x' ]]; then printf '[%s]\\n' {{X}}; fi",
    "for a in {{X}}; do printf '[%s]\\n' \"$a\"; done",
    "printf '[%s]\\n' \"$(printf '<%s>' {{X}})\"",
    'printf \'[%s]\\n\' "{{X}}" "a {{X}} b"',
]


@pytest.mark.parametrize("value", ["a  b", " a b ", "", "   ", "one", "\ta\nb\t", *SHELL_HOSTILE])
@pytest.mark.parametrize("text", SPLITS)
def test_values_split_as_the_shell_splits_them(tmp_path, text, value):
    rendered = render_startup(text, {"X": value})
    ours = run(rendered, tmp_path, {"X": value, **rendered.words})
    # The oracle: bash itself, the value unquoted where the placeholder is, globbing off.
    oracle = run("set -f\n" + text.replace("{{X}}", "${X}"), tmp_path, {"X": value})
    assert (ours.stdout, ours.returncode) == (oracle.stdout, oracle.returncode), rendered
    assert not (tmp_path / "pwned").exists()
    assert set(tmp_path.iterdir()) <= {tmp_path / "out"}


def test_only_the_word_count_enters_the_text():
    rendered = render_startup("./srv {{X}} pre{{X}}", {"X": "$(id) `id`"})
    assert rendered == './srv "${HEARTH_W_X_1}" "${HEARTH_W_X_2}" pre"${HEARTH_W_X_1}" "${HEARTH_W_X_2}"'
    assert rendered.words == {"HEARTH_W_X_1": "$(id)", "HEARTH_W_X_2": "`id`"}
    assert render_startup("./srv {{X}}", {"X": "plain"}) == './srv "${X}"'
    assert render_startup("./srv {{X}} -y", {"X": ""}) == "./srv  -y"


def _template(text: str, *variables: TemplateVariable) -> tuple[Template, list[TemplateVariable]]:
    return Template(name="t", start_command=text), list(variables)


def _variable(name: str, default: str = "", *, editable: bool = True) -> TemplateVariable:
    return TemplateVariable(env_variable=name, name=name, default_value=default, user_editable=editable)


def test_a_staff_only_value_runs_as_the_egg_intends(tmp_path):
    """`trap "{{STOP}}" 15` with a hidden default: the trap's code is staff's, customers' values stay data."""
    text = "trap \"{{STOP}}\" USR1; printf '[%s]\\n' {{X}} & wait; kill -USR1 $$"
    stop = _variable("STOP", "printf '[stopped %s]\\n' \"$X\"; exit 0;", editable=False)
    assert startup_problems(*_template(text, stop, _variable("X"))) == []
    env = {"STOP": stop.default_value, "X": "$(touch pwned)"}
    rendered = render_startup(text, env, customer={"X"})
    result = run(rendered, tmp_path, {**env, **rendered.words})
    assert result.stdout == "[$(touch]\n[pwned)]\n[stopped $(touch pwned)]\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text",
    [
        'trap "{{STOP}}" 15; ./server -name "{{NAME}}" & wait',
        './srv -name "{{NAME}}" 2>&1 | sed -E \'{{FILTER}}\' & trap "{{STOP}}" 15; wait',
        'export LD_LIBRARY_PATH=./linux64; ./srv -name "{{NAME}}" > >(sed -E \'{{FILTER}}\') & trap "{{STOP}}" 15; wait',
    ],
)
def test_eggs_with_hidden_shell_defaults_can_start(text):
    variables = [
        _variable("NAME"),
        _variable("STOP", "kill -2 $!; wait;", editable=False),
        _variable("FILTER", "/^$/d", editable=False),
    ]
    assert startup_problems(*_template(text, *variables)) == []
    env = {"NAME": "$(id)", "STOP": "kill -2 $!; wait;", "FILTER": "/^$/d"}
    render_startup(text, env, customer={"NAME"})


@pytest.mark.parametrize(
    "text",
    [
        "./srv {{X}} | sh",
        "./srv {{X}} | awk -f x | sh",
        "./srv {{X}} > >(sh)",
        "./srv {{X}} > run.sh; sh run.sh",
        "sed {{X}} file",
    ],
)
def test_a_customer_value_that_flows_into_code_is_still_refused(text):
    problems = startup_problems(*_template(text, _variable("X")))
    assert problems and "a customer can edit X" in problems[0]


@pytest.mark.parametrize(
    ("text", "variables", "name"),
    [
        ('./srv {{X}}; sh -c "$HEARTH_W_X_2"', [_variable("X")], "HEARTH_W_X_2"),
        ("./srv ${HEARTH_STARTUP}", [], "HEARTH_STARTUP"),
        ("./srv {{HEARTH_STARTUP}}", [_variable("HEARTH_STARTUP", editable=False)], "HEARTH_STARTUP"),
    ],
)
def test_the_panels_names_are_not_a_templates(text, variables, name):
    problems = startup_problems(*_template(text, *variables))
    assert any(
        problem.startswith(f"{name}: names beginning with HEARTH_ are the panel's") for problem in problems
    )


@pytest.mark.parametrize("entrypoint", [True, False])
def test_the_container_gets_the_launcher_in_both_modes(make_template, entrypoint):
    template = make_template(
        [variable("X")], start_command="./srv {{X}}", use_image_entrypoint=entrypoint, environment={}
    )
    env, command = start_environment(template, {"X": "a $(b)"}, "/bin/bash")
    assert env["STARTUP"] == launcher("/bin/bash")
    assert env["HEARTH_STARTUP"] == 'exec ./srv "${HEARTH_W_X_1}" "${HEARTH_W_X_2}"'
    assert (env["HEARTH_W_X_1"], env["HEARTH_W_X_2"], env["X"]) == ("a", "$(b)", "a $(b)")
    # on: the image's ENTRYPOINT and CMD, as Wings creates it; off: bash runs the command directly
    assert command == (
        None if entrypoint else ["/bin/bash", "-c", './srv "${HEARTH_W_X_1}" "${HEARTH_W_X_2}"']
    )


def test_a_read_only_root_gets_the_eval_launcher(make_template):
    """No file can be written there: STARTUP carries the launcher itself (one evaluation, not two)."""
    template = make_template(
        [variable("X")], start_command="./srv {{X}}", read_only_root=True, environment={}
    )
    env, _ = start_environment(template, {"X": "a"}, "/bin/sh")
    assert env["STARTUP"] == launcher("/bin/sh", file=False) == "/bin/sh -c 'eval${IFS}\"$HEARTH_STARTUP\"'"
