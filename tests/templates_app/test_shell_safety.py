"""Values are data: whatever a customer types, `render_for_shell` output run by a real `sh -c` prints it
literally and runs nothing of it."""

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates_app.variables import UnsafeSubstitution, render_for_shell

HOSTILE = [
    "$(touch pwned)",
    "`touch pwned`",
    "; touch pwned",
    "; rm -rf /",
    "a\ntouch pwned",
    "a\r\ntouch pwned #",
    "it's",
    'say "hi"',
    "'; touch pwned; '",
    '"; touch pwned; "',
    "\\",
    "trailing\\",
    "\\'; touch pwned #",
    "$HOME ${PATH} $((1+1))",
    "| touch pwned",
    "&& touch pwned &",
    "> pwned",
    "*",
    "~root",
    "-rf",
    "",
    "  spaced  out  ",
    "{{SERVER_UUID}}",
    "\u00e9\u00e8 \u2603 emoji \U0001f525",
]
SHAPES = {
    "unquoted": ("printf '%s' {{X}}", "{v}"),
    "double quoted": ("printf '%s' \"{{X}}\"", "{v}"),
    "single quoted": ("printf '%s' '{{X}}'", "{v}"),
    "inside a word": ("printf '%s' pre{{X}}post", "pre{v}post"),
    "inside a double-quoted word": ("printf '%s' \"a {{X}} b\"", "a {v} b"),
    "escaped quotes as in Rust's egg": ("printf '%s' \\\"{{X}}\\\"", '"{v}"'),
    "after a backslash": ("printf '%s' \\{{X}}", "{v}"),
    "in a command substitution": ("printf '%s' \"$(printf '%s' {{X}})\"", "{v}"),
    "quoted in a quoted command substitution": ("printf '%s' \"$(printf '%s' \"{{X}}\")\"", "{v}"),
    "next to a comment": ("printf '%s' {{X}} # {{X}} trailing", "{v}"),
    "after a dollar sign": ("printf '%s' ${{X}}", "${v}"),
    "after a simple parameter": ("A=1; printf '%s' ${A}{{X}}", "1{v}"),
    "after a subshell in a quoted command substitution": (
        "printf '%s' \"$( (true); printf '%s' {{X}} )\"",
        "{v}",
    ),
    "twice": ("printf '%s|%s' {{X}} '{{X}}'", "{v}|{v}"),
}


def run(command: str, cwd, shell: str = "sh") -> subprocess.CompletedProcess:
    """`sh -c command` in `cwd`; stdout decoded without newline translation (\r must survive)."""
    result = subprocess.run([shell, "-c", command], cwd=cwd, capture_output=True, timeout=10)
    result.stdout = result.stdout.decode("utf-8", "surrogateescape")
    result.stderr = result.stderr.decode("utf-8", "replace")
    return result


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_print_literally_and_run_nothing(tmp_path, shell, shape, value):
    template, expected = SHAPES[shape]
    command = render_for_shell(template, {"X": value})
    result = run(command, tmp_path, shell)
    # $(...) drops trailing newlines, as it does for any output
    expected_text = value.rstrip("\n") if "command substitution" in shape else expected.format(v=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_text
    assert list(tmp_path.iterdir()) == []


def test_the_rust_egg_startup_keeps_its_quotes(tmp_path):
    command = render_for_shell(
        'printf "%s\\n" +server.hostname \\"{{HOSTNAME}}\\"', {"HOSTNAME": "A $(x) Server"}
    )
    assert run(command, tmp_path).stdout == '+server.hostname\n"A $(x) Server"\n'


@pytest.mark.parametrize(
    "template",
    [
        "sh -c 'printf %s {{X}}'",
        'bash -c "printf %s {{X}}"',
        'eval "printf %s {{X}}"',
        "trap 'printf %s {{X}}' EXIT",
        "printf %s `printf %s {{X}}`",
        "printf %s ${UNSET:-{{X}}}",
        "printf %s $(( {{X}} + 1 ))",
        "cat <<EOF\n{{X}}\nEOF",
        "case a in a) printf %s {{X}};; esac",
    ],
)
def test_places_whose_quoting_cannot_be_followed_accept_only_plain_values(tmp_path, template):
    with pytest.raises(UnsafeSubstitution, match="X: the value holds characters"):
        render_for_shell(template, {"X": "; touch pwned"})
    assert "plain-1.2_3" in render_for_shell(template, {"X": "plain-1.2_3"})


def test_nul_characters_are_refused():
    with pytest.raises(UnsafeSubstitution, match="NUL"):
        render_for_shell("echo {{X}}", {"X": "a\x00b"})


def test_unknown_placeholders_become_empty_quoted_words(tmp_path):
    command = render_for_shell("printf '[%s]' {{config.docker.interface}} {{env.PATH}}", {})
    assert run(command, tmp_path).stdout == "[][]"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
    ),
    shape=st.sampled_from(["unquoted", "double quoted", "single quoted", "inside a double-quoted word"]),
)
def test_any_text_survives_the_shell_unchanged(tmp_path, value, shape):
    template, expected = SHAPES[shape]
    result = run(render_for_shell(template, {"X": value}), tmp_path)
    assert result.stdout == expected.format(v=value)
    assert list(tmp_path.iterdir()) == []
