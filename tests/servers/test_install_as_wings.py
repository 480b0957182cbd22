"""Install scripts run as Wings runs them: the script copied into the install container at
/mnt/install/install.sh (not mounted), the server's files at /mnt/server (the only bind mount), run by
`<entrypoint> /mnt/install/install.sh` with the server's environment, on the local and the SSH node."""

import pytest

from servers.install import SCRIPT_PATH, InstallFailed, install_script
from servers.models import Server
from templates_app.models import Template
from tests.servers.conftest import wait_status
from tests.servers.test_install_hardening import output
from tests.servers.test_lifecycle import create

S = Server.Status

# Each probe prints one line the test reads back; `$0` is the script's path only when the entrypoint
# was given the file (Hearth's old way passed the script as `-c` text, where $0 is the shell).
PROBE = r"""echo "script=$0"
grep -q ' /mnt/install ' /proc/self/mounts && echo "install=mounted" || echo "install=copied"
echo "binds=$(grep -c ' /mnt/' /proc/self/mounts)"
echo "port=$SERVER_PORT memory=$SERVER_MEMORY"
echo "motd=$MOTD"
printf '%s\n' "$MOTD" > /mnt/server/motd.txt
"""


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_the_script_is_a_copied_file_run_by_the_entrypoint_with_the_servers_environment(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    game_template.install_script = PROBE.replace("\n", "\r\n")  # as a Windows editor saves it
    game_template.save()
    server = wait_status(
        create(client_for(customer), game_node(engine, via), game_template, install=True),
        S.STOPPED,
        S.INSTALL_FAILED,
    )
    assert server.status == S.STOPPED, server.status_reason
    text = output(server)
    assert f"script={SCRIPT_PATH}" in text
    assert "install=copied" in text
    assert "binds=1" in text  # /mnt/server only
    assert f"port={server.primary_allocation.container_port or server.primary_allocation.port}" in text
    assert "memory=256" in text
    assert "motd=hello $(id) `id`" in text  # the server's value, as data


def test_a_failing_script_fails_the_install_with_its_last_lines(
    client_for, customer, game_node, game_template, monitor
):
    game_template.install_script = "echo first\necho 'it broke here'\nexit 3\n"
    game_template.save()
    server = wait_status(
        create(client_for(customer), game_node(2, "ssh"), game_template, install=True),
        S.STOPPED,
        S.INSTALL_FAILED,
    )
    assert server.status == S.INSTALL_FAILED
    assert "exited with code 3" in server.status_reason and "it broke here" in server.status_reason


@pytest.mark.parametrize("entrypoint", ["sh -c id", "sh;id", "$(id)", "../../bin/sh x", ""])
def test_an_entrypoint_that_is_not_a_program_name_is_refused_before_any_container(db, entrypoint):
    """The validators refuse these in the admin and the API; a row written around them still never runs."""
    template = Template(install_entrypoint=entrypoint or "a" * 101, install_script="echo hi\n")
    with pytest.raises(InstallFailed, match="entrypoint is refused"):
        install_script(template)


def test_a_script_longer_than_any_editor_allows_is_refused(db, settings):
    from config.limits import SCRIPT_CHARS

    template = Template(install_entrypoint="sh", install_script="#" * (SCRIPT_CHARS + 1))
    with pytest.raises(InstallFailed, match="longer than"):
        install_script(template)


def test_the_script_keeps_every_byte_but_windows_line_ends():
    template = Template(install_entrypoint="bash", install_script="echo 'é $(x)'\r\n\techo `y`\r\n")
    assert install_script(template) == "echo 'é $(x)'\n\techo `y`\n".encode()
