"""The server page's Plugins tab as rendered: who sees it and its controls, its label and search form
from what the server runs, and the image origins the page's policy allows for the sources' icons."""

import re

import pytest

from tests.webui.test_pages import page_data


def runs(template, loader: str, game_version: str = "1.20.1"):
    """The template's variables say what it runs, as itzg's images do."""
    template.environment = {"TYPE": loader.upper(), "MINECRAFT_VERSION": game_version}
    template.save(update_fields=["environment"])


def selected(html: str, select_id: str) -> str:
    select = re.search(rf'<select id="{select_id}".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected>', select).group(1)


def test_the_owner_of_a_paper_server_sees_a_plugins_tab_with_its_own_filters_preselected(
    signed_in, customer, make_server, template
):
    runs(template, "paper")
    server = make_server(customer)
    response = signed_in(customer).get(f"/servers/{server.pk}")
    html = response.content.decode()
    assert re.search(r'id="tab-plugins"[^>]*>Plugins</button>', html)
    assert 'id="panel-plugins"' in html and "webui/js/plugins" in html
    assert selected(html, "plugins-loader") == "paper"
    assert selected(html, "plugins-type") == "plugin"
    assert 'id="plugins-game-version" name="gameVersion"' in html and 'value="1.20.1"' in html
    assert 'id="plugins-plan"' in html and 'id="plugins-update-all"' in html
    data = page_data(response)["plugins"]
    assert data["may"] == {"read": True, "write": True, "delete": True}
    assert [s["name"] for s in data["sources"]] == ["modrinth", "hangar", "spiget"]  # no CurseForge key
    assert data["gameVersion"] == "1.20.1"


def test_a_fabric_server_calls_the_tab_mods(signed_in, customer, make_server, template):
    runs(template, "fabric")
    server = make_server(customer)
    html = signed_in(customer).get(f"/servers/{server.pk}").content.decode()
    assert re.search(r'id="tab-plugins"[^>]*>Mods</button>', html)
    assert "Find mods" in html
    assert selected(html, "plugins-loader") == "fabric" and selected(html, "plugins-type") == "mod"


def test_a_server_of_unknown_kind_searches_everything(signed_in, customer, make_server):
    server = make_server(customer)
    html = signed_in(customer).get(f"/servers/{server.pk}").content.decode()
    assert re.search(r'id="tab-plugins"[^>]*>Plugins</button>', html)
    assert selected(html, "plugins-loader") == "any" and selected(html, "plugins-type") == "any"


def test_a_member_who_may_only_read_files_gets_no_install_dialog_nor_update_button(
    signed_in, customer, make_user, make_server, share
):
    server = make_server(customer)
    reader = make_user()
    share(server, reader, ["file.read"])
    response = signed_in(reader).get(f"/servers/{server.pk}")
    html = response.content.decode()
    assert 'id="panel-plugins"' in html and 'id="plugins-check"' in html
    assert 'id="plugins-plan"' not in html and 'id="plugins-update-all"' not in html
    assert page_data(response)["plugins"]["may"] == {"read": True, "write": False, "delete": False}


def test_a_member_without_file_read_has_no_plugins_tab(signed_in, customer, make_user, make_server, share):
    server = make_server(customer)
    member = make_user()
    share(server, member, ["server.read", "backup.read"])
    response = signed_in(member).get(f"/servers/{server.pk}")
    html = response.content.decode()
    assert 'id="tab-plugins"' not in html and 'id="panel-plugins"' not in html
    assert "webui/js/plugins" not in html
    assert page_data(response)["plugins"] == {}
    assert "https://cdn.modrinth.com" not in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("key", "hosts"),
    [
        ("", ["cdn.modrinth.com", "hangarcdn.papermc.io", "www.spigotmc.org"]),
        ("a-key", ["cdn.modrinth.com", "hangarcdn.papermc.io", "media.forgecdn.net", "www.spigotmc.org"]),
    ],
)
def test_the_page_may_show_icons_from_the_enabled_sources_hosts_only(
    signed_in, customer, make_server, settings, key, hosts
):
    settings.CURSEFORGE_API_KEY = key
    server = make_server(customer)
    response = signed_in(customer).get(f"/servers/{server.pk}")
    policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert policy["img-src"] == " ".join(["'self'", "data:", *(f"https://{host}" for host in hosts)])
    assert policy["script-src"] == "'self'"
    assert page_data(response)["plugins"]["iconHosts"] == hosts
