"""The stock catalogue bootstrap installs: idempotent, and it never overwrites an edit."""

import pytest

from templates_app.models import Template
from templates_app.services import templates_install_catalogue
from templates_app.variables import render_for_shell, resolve_environment, validate_values

pytestmark = pytest.mark.django_db

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - what game servers bind to

BUILTINS = {
    "SERVER_MEMORY": 1024,
    "SERVER_PORT": 25565,
    "SERVER_IP": ANY_ADDRESS,
    "SERVER_UUID": "u",
    "TZ": "UTC",
}


def test_it_installs_the_test_game_minecraft_and_an_imported_egg():
    assert templates_install_catalogue() == ["Test Game", "Minecraft Java", "Paper"]
    game = Template.objects.get(name="Test Game")
    assert game.docker_image == "hearth/testgame:latest"
    assert (game.ready_pattern, game.stop_command, game.data_path) == ("Done (", "stop", "/home/container")
    minecraft = Template.objects.get(name="Minecraft Java")
    assert minecraft.docker_image.startswith("itzg/minecraft-server") and minecraft.data_path == "/data"
    assert minecraft.variables.get(env_variable="TYPE").rules["choices"][:3] == ["VANILLA", "PAPER", "FABRIC"]
    assert Template.objects.get(name="Paper").source == "egg:PTDL_v2"


def test_running_it_again_changes_nothing():
    templates_install_catalogue()
    Template.objects.filter(name="Test Game").update(description="edited by staff")
    Template.objects.filter(name="Paper").delete()
    assert templates_install_catalogue() == ["Paper"]
    assert templates_install_catalogue() == []
    assert Template.objects.get(name="Test Game").description == "edited by staff"
    assert Template.objects.count() == 3


def test_the_test_game_resolves_and_renders():
    templates_install_catalogue()
    game = Template.objects.get(name="Test Game")
    values = validate_values(game, {"MAX_PLAYERS": "5"})
    env = resolve_environment(game, values, BUILTINS)
    assert env["MAX_PLAYERS"] == "5" and env["SERVER_PORT"] == "25565" and env["STARTUP_DELAY"] == "0"
    assert render_for_shell(game.start_command, env) == "/usr/local/bin/testgame"
    assert game.config_file_paths() == ["server.properties"]


def test_minecraft_gets_its_memory_from_the_server():
    templates_install_catalogue()
    minecraft = Template.objects.get(name="Minecraft Java")
    env = resolve_environment(minecraft, validate_values(minecraft, {"TYPE": "PAPER"}), BUILTINS)
    assert (env["MEMORY"], env["EULA"], env["TYPE"], env["VERSION"]) == ("1024M", "TRUE", "PAPER", "LATEST")
