"""The stock catalogue `templates_install_catalogue` installs: two templates written here, plus the eggs in catalogue/."""

from pathlib import Path

EGG_DIR = Path(__file__).resolve().parent / "catalogue"


def _variable(env, name, default, description="", *, editable=True, viewable=True, **rules):
    return {
        "env_variable": env,
        "name": name,
        "description": description,
        "default_value": default,
        "user_viewable": viewable,
        "user_editable": editable,
        "rules": rules,
    }


TEST_GAME = {
    "name": "Test Game",
    "description": (
        "Hearth's own test game server (tests/images/testgame): runs offline from hearth/testgame:latest, "
        "prints a Done line, listens on SERVER_PORT and takes console commands (say, list, stop…)."
    ),
    "docker_image": "hearth/testgame:latest",
    "start_command": "/usr/local/bin/testgame",
    "stop_command": "stop",
    "ports": [{"internal": 25565, "protocol": "tcp"}],
    "environment": {},
    "config_files": [
        {
            "path": "server.properties",
            "parser": "properties",
            "replace": {
                "server-port": "{{SERVER_PORT}}",
                "max-players": "{{MAX_PLAYERS}}",
                "motd": "{{MOTD}}",
            },
        }
    ],
    "ready_pattern": "Done (",
    "data_path": "/home/container",
    "install_image": "hearth/testgame:latest",
    "install_entrypoint": "sh",
    "install_script": (
        "#!/bin/sh\n# Writes a marker into the server's files; needs no network.\n"
        'mkdir -p /mnt/server\necho "installed by Hearth" > /mnt/server/.installed\n'
    ),
    "variables": [
        _variable(
            "MAX_PLAYERS",
            "Max players",
            "20",
            "Players allowed at once.",
            required=True,
            type="integer",
            min=1,
            max=100,
        ),
        _variable("MOTD", "Message of the day", "A Hearth test server", max_length=60),
        _variable(
            "STARTUP_DELAY",
            "Startup delay",
            "0",
            "Seconds before the Done line.",
            type="integer",
            min=0,
            max=120,
        ),
    ],
}

MINECRAFT_JAVA = {
    "name": "Minecraft Java",
    "description": "Minecraft Java Edition on itzg/minecraft-server: Vanilla, Paper, Fabric, Forge… chosen by TYPE.",
    "docker_image": "itzg/minecraft-server:latest",
    "docker_images": {
        "Java 21": "itzg/minecraft-server:java21",
        "Java 17": "itzg/minecraft-server:java17",
        "Java 8": "itzg/minecraft-server:java8",
    },
    "start_command": "/start",
    "stop_command": "stop",
    "ports": [{"internal": 25565, "protocol": "tcp"}],
    "environment": {"EULA": "TRUE", "MEMORY": "{{SERVER_MEMORY}}M", "ENABLE_RCON": "false"},
    "ready_pattern": "Done (",
    "data_path": "/data",
    "variables": [
        _variable(
            "TYPE",
            "Server type",
            "VANILLA",
            "Which server software to run.",
            required=True,
            choices=["VANILLA", "PAPER", "FABRIC", "FORGE", "NEOFORGE", "SPIGOT", "PURPUR", "QUILT"],
        ),
        _variable(
            "VERSION",
            "Minecraft version",
            "LATEST",
            "LATEST, SNAPSHOT or a version such as 1.21.1.",
            required=True,
            regex=r"^(LATEST|SNAPSHOT|[0-9]+\.[0-9]+(\.[0-9]+)?(-[A-Za-z0-9.]+)?)$",
        ),
        _variable("MOTD", "Message of the day", "A Minecraft Server", max_length=59),
        _variable("DIFFICULTY", "Difficulty", "easy", choices=["peaceful", "easy", "normal", "hard"]),
        _variable("MAX_PLAYERS", "Max players", "20", type="integer", min=1, max=1000),
        _variable(
            "ONLINE_MODE", "Online mode", "true", "Check players against Mojang's accounts.", type="boolean"
        ),
    ],
}

TEMPLATES = [TEST_GAME, MINECRAFT_JAVA]
