"""The install container on the real engine: root with a few capabilities only for a template's own
install image; without one, the server's image installs as the game's user with no capability."""

import pytest

from servers.models import Server
from servers.selectors import console_history
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create

S = Server.Status
PROBE = 'echo "uid=$(id -u)"\ngrep CapEff /proc/self/status\ntouch /mnt/server/installed-by-me\n'


def output(server) -> str:
    return "".join(entry["data"] for entry in console_history(server.pk, limit=1000))


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_without_an_install_image_the_install_runs_unprivileged(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    game_template.install_image = ""
    game_template.install_script = PROBE
    game_template.save()
    node = game_node(engine, via)
    server = wait_status(
        create(client_for(customer), node, game_template, install=True), S.STOPPED, S.INSTALL_FAILED
    )
    assert server.status == S.STOPPED, server.status_reason
    text = output(server)
    assert "uid=0" not in text and "uid=" in text
    assert "CapEff:\t0000000000000000" in text


def test_a_templates_install_image_still_gets_root_and_its_file_capabilities(
    client_for, customer, game_node, game_template, monitor
):
    game_template.install_script = PROBE
    game_template.save()
    server = wait_status(
        create(client_for(customer), game_node(), game_template, install=True), S.STOPPED, S.INSTALL_FAILED
    )
    assert server.status == S.STOPPED, server.status_reason
    text = output(server)
    assert "uid=0" in text and "CapEff:\t0000000000000000" not in text
