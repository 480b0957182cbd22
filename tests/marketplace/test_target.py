"""A server's loader and game version come from its variables and template (marketplace/target.py)."""

from marketplace.sources.base import Version
from marketplace.target import Target, compatible, directory_for, server_target
from templates_app.models import Template, TemplateVariable


def test_the_loader_and_version_come_from_the_variables(mc_server):
    assert server_target(mc_server("fabric", "1.20.4")) == Target("fabric", "1.20.4")
    assert server_target(mc_server("paper", "")) == Target("paper", "")


def test_without_variables_the_template_name_says_the_loader(mc_server, marketplace):
    server = mc_server("", "")
    Template.objects.filter(pk=server.template_id).update(name="NeoForge (modded)")
    server.refresh_from_db()
    assert server_target(server) == Target("neoforge", "")


def test_a_customer_value_of_a_version_variable_counts_and_latest_is_unknown(mc_server):
    server = mc_server("purpur", "")
    TemplateVariable.objects.create(
        template=server.template, env_variable="MINECRAFT_VERSION", name="Version", default_value="latest"
    )
    assert server_target(server).game_version == ""
    server.environment = {"MINECRAFT_VERSION": "1.21"}
    assert server_target(server) == Target("purpur", "1.21")


def test_an_unknown_game_is_unknown_not_refused(mc_server):
    target = server_target(mc_server("", ""))
    assert (target.loader, target.game_version, target.loads, target.project_type) == ("", "", (), "")


def test_what_fits_what():
    paper = Target("paper", "1.20.1")
    version = Version("modrinth", "p", "v", "1", game_versions=("1.20.1",), loaders=("spigot",))
    assert compatible(version, loads=paper.loads, game_version=paper.game_version)
    assert not compatible(version, loads=Target("fabric").loads, game_version="1.20.1")
    assert not compatible(version, loads=paper.loads, game_version="1.21")
    tested = Version("spiget", "p", "v", "1", game_versions=("1.20",), loaders=("spigot",))
    assert compatible(tested, loads=paper.loads, game_version="1.20.4")  # "1.20" covers 1.20.x
    quilt = Target("quilt")
    assert compatible(Version("modrinth", "p", "v", "1", loaders=("fabric",)), loads=quilt.loads)
    assert directory_for("plugin", "paper") == "/plugins"
    assert directory_for("mod", "fabric") == "/mods"
    assert directory_for("datapack") == "/world/datapacks"
