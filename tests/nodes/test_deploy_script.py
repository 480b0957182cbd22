"""The enrollment script carries the panel's values as data: each is one shell word made by one quoting
function, so a hostile node name (a row from before the checks, say) cannot run a command as root on the
host being enrolled, nor add a second line to authorized_keys. Run for real in a throwaway container."""

import subprocess
from pathlib import Path

import pytest

from nodes.enrollment import script_assignments, shell_word
from nodes.identity import node_public_key
from nodes.models import Node
from tests.conftest import require_env
from tests.hostile import SHELL_HOSTILE

pytestmark = pytest.mark.django_db

HOSTILE = [
    *SHELL_HOSTILE,
    "x\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttacker attacker@evil",
    "\u202e\u200b",
]
SHELLS = ["sh", "bash"]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", HOSTILE)
def test_a_quoted_value_reads_back_exactly_and_runs_nothing(tmp_path, shell, value):
    script = script_assignments({"VALUE": value}) + 'printf "%s" "$VALUE"\n'
    result = subprocess.run([shell, "-c", script], cwd=tmp_path, capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == value
    assert not (tmp_path / "pwned").exists()


def test_a_nul_cannot_be_quoted():
    with pytest.raises(ValueError, match="NUL"):
        shell_word("a\0b")


@pytest.fixture
def legacy_node(make_node):
    """A node waiting to enrol whose row was written before the checks existed: any name at all."""

    def make(name: str) -> Node:
        node = make_node(engine=2)
        Node.objects.filter(pk=node.pk).update(name=name, data_dir="/out/data", last_seen_at=None)
        return Node.objects.get(pk=node.pk)

    return make


def script_of(node, client_for, admin, api) -> str:
    staff = client_for(admin)
    token = staff.post(f"/api/nodes/{node.pk}/deployment-token").json()["data"]["deploymentToken"]
    response = api.get(f"/api/deploy/{token}")
    assert response.status_code == 200, response.content
    return response.content.decode()


HOSTILE_NAMES = [
    "x'; touch /out/pwned; echo '",
    'x"; touch /out/pwned; echo "',
    "x\ntouch /out/pwned",
    "x\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttacker attacker@evil",
    "x$(touch /out/pwned)",
    "x`touch /out/pwned`",
    "x\u00e9 \u2603",
    "x\x1b]0;owned\x07\x1b[2J",
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_script_of_a_hostile_name_is_valid_shell(legacy_node, client_for, admin, api, shell, name):
    script = script_of(legacy_node(name), client_for, admin, api)
    check = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True, timeout=10)
    assert check.returncode == 0, check.stderr


STUBS = {
    # Busybox lacks Debian's account tools: these do what the script needs of them, in the container.
    "getent": 'case "$1" in group) grep -q "^$2:" /etc/group ;; passwd) grep "^$2:" /etc/passwd ;; esac\n',
    "groupadd": 'echo "docker:x:999:" >> /etc/group\n',
    "useradd": 'for u; do :; done\necho "$u:x:1001:1001::/home/$u:/bin/sh" >> /etc/passwd\n'
    'echo "$u:x:1001:" >> /etc/group\nmkdir -p "/home/$u"\n',
    "usermod": 'printf "usermod %s\\n" "$*" >> /out/calls\n',
    "install": "mode=; owner=\nwhile [ $# -gt 0 ]; do case $1 in -d) shift ;; -m) mode=$2; shift 2 ;;"
    ' -o) owner=$2; shift 2 ;; --) shift; break ;; *) break ;; esac; done\nfor d; do mkdir -p -- "$d";'
    ' chmod "$mode" -- "$d"; chown "$owner" -- "$d"; done\n',
    "docker": "exit 0\n",
    "apt-get": 'printf "apt-get %s\\n" "$*" >> /out/calls\n',
    "curl": "printf '%s\\0' \"$@\" > /out/curl.args\necho 'Node enrolled and online'\n",
}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC4pk1fCypb4ldn5UzSM64y0W60AIRf5wZe1+hYFTv3o"


def run_in_container(script: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the script as root in a throwaway container of the test image (no network), with stubs for
    what busybox lacks; /out is shared with the test."""
    stubs, out = tmp_path / "stubs", tmp_path / "out"
    stubs.mkdir()
    out.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}")
        (stubs / name).chmod(0o755)
    (out / "deploy.sh").write_text(script)
    (out / "hostkey.pub").write_text(f"{HOST_KEY} root@node\n")
    command = (
        "sh /out/deploy.sh; code=$?; cp /home/hearth/.ssh/authorized_keys /out/ 2>/dev/null; "
        "ls -ld /out/data/servers >> /out/calls; exit $code"
    )
    result = subprocess.run(
        [
            "docker",
            "-H",
            require_env("HEARTH_TEST_DOCKER1_URL"),
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{stubs}:/stubs:ro",
            "-v",
            f"{out}:/out",
            "-e",
            "PATH=/stubs:/usr/sbin:/usr/bin:/sbin:/bin",
            "-e",
            "HEARTH_SSH_HOST_KEY_FILE=/out/hostkey.pub",
            "-e",
            "HEARTH_SSH_PORT=2202",
            "--entrypoint",
            "sh",
            require_env("HEARTH_TEST_IMAGE"),
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, out


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_runs_nothing_and_adds_no_key_on_the_enrolled_host(
    legacy_node, client_for, admin, api, settings, tmp_path, name
):
    settings.PUBLIC_URL = "http://panel.example.com"
    node = legacy_node(name)
    result, out = run_in_container(script_of(node, client_for, admin, api), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(out.glob("pwned*")), "a command from the node's name ran"
    key = node_public_key(node)
    assert (out / "authorized_keys").read_text() == f"{key}\n"  # one line: the panel's key, nothing else
    assert "hearth-panel-x" in key and "\n" not in key
    assert "drwxr-x---" in (out / "calls").read_text()  # the data dir was made, mode 750
    args = (out / "curl.args").read_text().split("\0")[:-1]
    assert args[-1].startswith("http://panel.example.com/api/deploy/") and args[-1].endswith("/complete")
    assert f"hostKey={HOST_KEY}" in args and "sshPort=2202" in args and "sshUser=hearth" in args
    assert "Node enrolled and online" in result.stdout
    assert "hearth: enrolling this host as node x" in result.stdout
    assert all(char.isprintable() for line in result.stdout.splitlines() for char in line)


def test_a_hostile_data_dir_of_an_old_row_is_never_put_in_a_script(legacy_node, client_for, admin, api):
    node = legacy_node("old")
    Node.objects.filter(pk=node.pk).update(data_dir="/srv/x'; touch /tmp/pwned; '")
    staff = client_for(admin)
    token = staff.post(f"/api/nodes/{node.pk}/deployment-token").json()["data"]["deploymentToken"]
    response = api.get(f"/api/deploy/{token}")
    assert response.status_code == 400
    assert "data dir" in response.json()["message"]
