"""The config-file rules of issue 14 applied before a real start on the local node: an xml file with a
rendered {{VAR}}, a conditional replacement, the file parser's empty key, and a file its parser cannot
read, skipped with a console line while the server starts (the parsers themselves:
tests/templates_app/test_configfiles.py)."""

import os
from pathlib import Path

from servers import runtime
from servers.models import Server
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create, lines

S = Server.Status


def test_xml_conditional_and_every_line_rules_apply_at_start(
    client_for, customer, game_node, game_template, monitor
):
    game_template.config_files = [
        {
            "path": "game.xml",
            "parser": "xml",
            "replace": {"Game.Port": "{{SERVER_PORT}}", "Game.Mode": {"pvp": "pve"}},
        },
        {"path": "online.properties", "parser": "properties", "replace": {"online-mode": {"true": "false"}}},
        {"path": "motd.txt", "parser": "file", "replace": {"": "Hello"}},
        {"path": "broken.json", "parser": "json", "replace": {"a": "1"}},
    ]
    game_template.save()
    api = client_for(customer)
    server = create(api, game_node(1, "unix"), game_template, install=True)
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    top = Path(server.node.data_dir) / "servers" / str(server.pk)
    for name, text in {
        "game.xml": "<Game><Port>1</Port><Mode>pvp</Mode></Game>",
        "online.properties": "online-mode=true\n",
        "motd.txt": "one\ntwo\n",
        "broken.json": "{",
    }.items():
        (top / name).write_text(text)
        os.chown(top / name, top.stat().st_uid, top.stat().st_gid)

    assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
    server = wait_status(server, S.RUNNING, S.CRASHED, timeout=30)
    assert server.status == S.RUNNING, server.status_reason
    xml = (top / "game.xml").read_text()
    assert f"<Port>{runtime.environment(server)['SERVER_PORT']}</Port>" in xml and "<Mode>pve</Mode>" in xml
    assert (top / "online.properties").read_text() == "online-mode=false\n"
    assert (top / "motd.txt").read_text() == "Hello\nHello\n"
    assert (top / "broken.json").read_text() == "{"
    assert "Skipped config file broken.json: not valid json" in lines(server)
