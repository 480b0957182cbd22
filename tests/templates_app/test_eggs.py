"""Egg import and export: real-world eggs of each shape, what they map to, and what they warn about."""

import json

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import AuditLog
from templates_app import services
from templates_app.eggs import egg_export, egg_import, egg_parse
from templates_app.models import Template
from templates_app.variables import render, render_for_shell, resolve_environment
from tests.fixtures.templates import egg_bytes, variable

pytestmark = pytest.mark.django_db

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - what game servers bind to

BUILTINS = {
    "SERVER_MEMORY": 2048,
    "SERVER_PORT": 27015,
    "SERVER_IP": ANY_ADDRESS,
    "SERVER_UUID": "u",
    "TZ": "UTC",
}


def rules(template, env):
    return template.variables.get(env_variable=env).rules


class TestPaper:
    """Minecraft, PTDL_v2 as Pterodactyl 1.11 exports it."""

    def test_fields_are_mapped(self):
        template, _ = egg_import(egg_bytes("egg-paper.json"))
        assert template.name == "Paper"
        assert template.source == "egg:PTDL_v2"
        assert template.docker_image == "ghcr.io/pterodactyl/yolks:java_21"
        assert template.docker_images == {
            f"Java {n}": f"ghcr.io/pterodactyl/yolks:java_{n}" for n in (21, 17, 16, 11, 8)
        }
        assert template.start_command.endswith("-jar {{SERVER_JARFILE}}")
        assert (template.stop_command, template.stop_signal) == ("stop", "")
        assert (template.ready_pattern, template.ready_pattern_is_regex) == (")! For help, type ", False)
        assert template.config_files == [
            {
                "path": "server.properties",
                "parser": "properties",
                "replace": {
                    "server-ip": ANY_ADDRESS,
                    "server-port": "{{SERVER_PORT}}",
                    "query.port": "{{SERVER_PORT}}",
                },
            }
        ]
        assert (template.install_image, template.install_entrypoint) == (
            "ghcr.io/pterodactyl/installers:alpine",
            "ash",
        )
        assert template.install_script.startswith("#!/bin/ash\n# Paper Installation Script")
        assert "\r" not in template.install_script and "\r" not in template.description
        assert "sed -e 's/{{/${/g'" in template.install_script  # install scripts are never rendered
        assert template.required_variables == ["SERVER_JARFILE", "BUILD_NUMBER"]
        assert template.data_path == "/home/container"

    def test_variables_and_their_rules(self):
        template, _ = egg_import(egg_bytes("egg-paper.json"))
        assert list(template.variables.values_list("env_variable", flat=True)) == [
            "MINECRAFT_VERSION",
            "SERVER_JARFILE",
            "DL_PATH",
            "BUILD_NUMBER",
        ]
        assert rules(template, "MINECRAFT_VERSION") == {
            "required": False,
            "type": "string",
            "regex": None,
            "min": None,
            "max": None,
            "min_length": None,
            "max_length": 20,
            "choices": None,
        }
        jar = rules(template, "SERVER_JARFILE")
        assert jar["required"] and jar["regex"] == r"^([\w\d._-]+)(\.jar)$"
        hidden = template.variables.get(env_variable="DL_PATH")
        assert not hidden.user_viewable and not hidden.user_editable

    def test_features_are_kept_without_a_warning(self):
        template, warnings = egg_import(egg_bytes("egg-paper.json"))
        assert warnings == []
        assert template.features == ["eula", "java_version", "pid_limit"]
        assert template.use_image_entrypoint

    def test_the_config_file_renders_with_the_servers_port(self):
        template, _ = egg_import(egg_bytes("egg-paper.json"))
        env = resolve_environment(template, {}, BUILTINS)
        assert render(template.config_files[0]["replace"]["server-port"], env) == "27015"
        assert render_for_shell(template.start_command, env).endswith('-jar "${SERVER_JARFILE}"')


class TestRust:
    """A SteamCMD game, PTDL_v1 with one image, ^C to stop and a Debian installer."""

    def test_fields_are_mapped(self):
        template, _ = egg_import(egg_bytes("egg-rust.json"))
        assert template.source == "egg:PTDL_v1"
        assert template.docker_images == {"quay.io/pterodactyl/core:rust": "quay.io/pterodactyl/core:rust"}
        assert (template.stop_command, template.stop_signal) == ("", "SIGINT")
        assert template.ready_pattern == "Server startup complete"
        assert template.config_files == []
        assert (template.install_image, template.install_entrypoint) == (
            "ghcr.io/pterodactyl/installers:debian",
            "bash",
        )
        assert "+app_update ${SRCDS_APPID}" in template.install_script

    def test_variables_and_their_rules(self):
        template, _ = egg_import(egg_bytes("egg-rust.json"))
        assert template.variables.count() == 14
        assert rules(template, "OXIDE")["type"] == "boolean"
        assert rules(template, "WORLD_SIZE") | {} == {
            **rules(template, "WORLD_SIZE"),
            "type": "integer",
            "min": 1000,
            "max": 6000,
        }
        assert (rules(template, "MAX_PLAYERS")["min"], rules(template, "MAX_PLAYERS")["max"]) == (1, 500)
        assert rules(template, "LEVEL")["choices"] == [
            "Procedural Map",
            "Barren",
            "HapisIsland",
            "SavasIsland",
        ]
        assert rules(template, "SERVER_URL")["regex"].startswith("^[A-Za-z]")
        assert (
            rules(template, "RCON_PASS")["regex"] == r"^[\w.-]*$"
            and rules(template, "RCON_PASS")["max_length"] == 64
        )
        appid = template.variables.get(env_variable="SRCDS_APPID")
        assert (appid.user_viewable, appid.user_editable, appid.default_value) == (False, False, "258550")
        rcon_port = template.variables.get(env_variable="RCON_PORT")
        assert (rcon_port.user_viewable, rcon_port.user_editable) == (True, False)

    def test_warnings(self):
        _, warnings = egg_import(egg_bytes("egg-rust.json"))
        assert warnings == [
            "config.logs is not used (Hearth reads the console directly); the export writes it back",
            "config.stop '^C': Hearth sends SIGINT (what Ctrl-C sends); Wings reads it as an unknown "
            "signal name and kills the server (SIGKILL)",
        ]

    def test_the_startup_command_runs_with_hostile_values(self, tmp_path):
        import subprocess

        template, _ = egg_import(egg_bytes("egg-rust.json"))
        env = resolve_environment(template, {"HOSTNAME": 'My "$(touch pwned)" server; touch pwned'}, BUILTINS)
        command = render_for_shell(template.start_command, env).replace(
            "./RustDedicated", "printf '%s\\n'", 1
        )
        out = subprocess.run(
            ["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=10, env=env
        ).stdout
        assert '"My "$(touch pwned)" server; touch pwned"' in out.splitlines()
        assert "27015" in out.splitlines()
        assert list(tmp_path.iterdir()) == []


class TestMumble:
    """A voice server, PTDL_v2 with several done strings, ini and file parsers and things we cannot map."""

    def test_fields_are_mapped(self):
        import re

        fields, variables, _ = egg_parse(egg_bytes("egg-mumble-server.json"))
        assert fields["stop_signal"] == "SIGINT"
        assert fields["egg_as_written"]["stop"] == "^C"
        assert fields["ready_pattern_is_regex"]
        pattern = re.compile(fields["ready_pattern"])
        assert pattern.search("<W>2026-11-22 Server listening on 0.0.0.0:64738")
        assert pattern.search("Murmur 1.5.634 running")
        assert not pattern.search("Server starting")
        assert fields["egg_as_written"]["done"] == [
            "Server listening on",
            "Murmur 1.",
            "Announcing server via bonjour",
        ]
        assert fields["config_files"] == [
            {
                "path": "murmur.ini",
                "parser": "ini",
                "replace": {
                    "logfile": "murmur.log",
                    "port": "{{SERVER_PORT}}",
                    "host": ANY_ADDRESS,
                    "users": "{{MAX_USERS}}",
                    "registerName": "{{SERVER_NAME}}",
                    "sslCert": {"regex:^$": "cert.pem"},
                    "Ice.Default.Host": "{{config.docker.interface}}",
                },
            },
            {"path": "welcome.txt", "parser": "file", "replace": {"Welcome": "Welcome to {{SERVER_NAME}}!"}},
            {"path": "logging.xml", "parser": "xml", "replace": {"log.level": "info"}},
        ]
        assert fields["file_denylist"] == ["murmur.sqlite"]
        by_name = {v["env_variable"]: v["rules"] for v in variables}
        assert by_name["MAX_USERS"]["regex"] == r"^[0-9]{1,5}\Z"
        assert by_name["SERVER_NAME"]["regex"] is None  # \p{L} cannot be used: warned
        assert by_name["WELCOME_COLOUR"]["choices"] == ["Green", "Red", "Blue"]

    def test_warnings(self):
        _, _, warnings = egg_parse(egg_bytes("egg-mumble-server.json"))
        assert warnings == [
            "config.logs is not used (Hearth reads the console directly); the export writes it back",
            "config.startup.userInteraction is not supported and was ignored",
            "config.startup.done has 3 strings; Hearth waits for any of them (stored as one regular "
            "expression; the export writes the list back)",
            "config.stop '^C': Hearth sends SIGINT (what Ctrl-C sends); Wings reads it as an unknown "
            "signal name and kills the server (SIGKILL)",
            "Variable SERVER_NAME: regex '/^[\\p{L}0-9 ._-]+$/u' cannot be used (Python cannot compile it "
            "(bad escape \\p at position 2)) and was ignored",
            "config.files murmur.ini: 'sslCert' is replaced when its value matches 'regex:^$'; Hearth "
            "compares the value literally (no regular expression)",
            "config.files murmur.ini: placeholder {{config.docker.interface}} refers to panel or node "
            "configuration, which Hearth never exposes; it renders as an empty string",
        ]

    def test_node_configuration_placeholders_render_empty(self):
        egg = json.loads(egg_bytes("egg-mumble-server.json"))
        files = json.loads(egg["config"]["files"])
        del files["logging.xml"], files["murmur.ini"]["find"]["sslCert"]
        egg["config"]["files"] = json.dumps(files)
        template, _ = egg_import(json.dumps(egg))
        env = resolve_environment(template, {"SERVER_NAME": "Ours"}, BUILTINS)
        replace = template.config_files[0]["replace"]
        assert render(replace["Ice.Default.Host"], env) == ""
        assert render(replace["users"], env) == "100"
        assert render(template.config_files[1]["replace"]["Welcome"], env) == "Welcome to Ours!"


class TestPelicanYaml:
    """Factorio as Pelican exports it: PLCN_v3 YAML, rules as lists, startup_commands, sort order."""

    def test_fields_are_mapped(self):
        template, _ = egg_import(egg_bytes("egg-factorio.yaml"), filename="egg-factorio.yaml")
        assert template.source == "egg:PLCN_v3"
        assert template.docker_images == {"Debian": "ghcr.io/pelican-eggs/games:factorio"}
        assert template.start_command.startswith("./bin/x64/factorio --port {{SERVER_PORT}}")
        assert template.stop_command == "/quit"
        assert template.config_files[1] == {
            "path": "config/config.ini",
            "parser": "ini",
            "replace": {"other.port": "{{SERVER_PORT}}", "path.write-data": "/home/container"},
        }
        assert template.config_files[0]["replace"]["max_players"] == "{{MAX_SLOTS}}"
        assert list(template.variables.values_list("env_variable", flat=True)) == [
            "FACTORIO_VERSION",
            "SAVE_NAME",
            "MAX_SLOTS",
            "SERVER_NAME",
            "SERVER_DESC",
            "PUBLIC",
            "GAME_PASSWORD",
        ]
        assert (
            rules(template, "FACTORIO_VERSION")["min_length"],
            rules(template, "FACTORIO_VERSION")["max_length"],
        ) == (3, 12)
        assert rules(template, "SAVE_NAME")["regex"] == r"^[a-zA-Z0-9_-]+\Z"
        assert (rules(template, "MAX_SLOTS")["min"], rules(template, "MAX_SLOTS")["max"]) == (0, 500)

    def test_warnings(self):
        _, warnings = egg_import(egg_bytes("egg-factorio.yaml"))
        assert warnings == [
            "The egg's icon (image) is not used by Hearth and was ignored",
            "startup_commands: only the first ('Default') is run; the export writes back the others: "
            "Load latest save",
        ]

    def test_yaml_is_detected_without_a_filename(self):
        template, _ = egg_import(egg_bytes("egg-factorio.yaml").decode())
        assert template.name == "Factorio"


class TestInvalidEggs:
    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"\x89PNG\r\n", "The egg is not UTF-8 text."),
            ("{not json: [", "The egg is neither JSON nor YAML."),
            ("just a string", "The egg must be a JSON or YAML object."),
            ('{"name": "x", "startup": "y"}', "meta.version is missing"),
            ('{"meta": {"version": "PTDL_v9"}, "name": "x"}', "Unknown egg version 'PTDL_v9'"),
            (
                '{"meta": {"version": "PTDL_v2"}, "startup": "x", "docker_images": {"a": "b"}}',
                "The egg has no name.",
            ),
            (
                '{"meta": {"version": "PTDL_v2"}, "name": "x", "docker_images": {"a": "b"}}',
                "no startup command",
            ),
            ('{"meta": {"version": "PTDL_v2"}, "name": "x", "startup": "y"}', "names no Docker image"),
            (b"{" + b" " * (2 * 1024 * 1024) + b"}", "larger than 2 MB"),
        ],
    )
    def test_they_are_refused_with_a_clear_message(self, staff, data, message):
        response = staff.post(
            "/api/templates/import",
            {"file": SimpleUploadedFile("egg.json", data if isinstance(data, bytes) else data.encode())},
            format="multipart",
        )
        assert response.status_code == 400, response.content
        assert message in response.json()["message"]
        assert Template.objects.count() == 0

    def test_an_invalid_variable_name_refuses_the_whole_egg(self, staff):
        egg = json.loads(egg_bytes("egg-paper.json"))
        egg["variables"][1]["env_variable"] = "server jar"
        response = staff.post("/api/templates/import", {"egg": egg}, format="json")
        assert response.status_code == 400
        assert "variables[1].envVariable" in response.json()["fields"]
        assert not Template.objects.exists()

    def test_unknown_keys_and_stop_signals_are_reported(self):
        egg = json.loads(egg_bytes("egg-paper.json"))
        egg["config"]["stop"] = "^Z9"
        egg["banana"] = 1
        template, warnings = egg_import(json.dumps(egg))
        assert template.stop_signal == "SIGKILL"
        assert "Unknown key 'banana' was ignored" in warnings
        assert (
            "config.stop '^Z9' names no signal; Hearth kills the server (SIGKILL), as Wings does" in warnings
        )

    def test_named_signals_are_mapped(self):
        egg = json.loads(egg_bytes("egg-paper.json"))
        egg["config"]["stop"] = "^SIGTERM"
        assert egg_import(json.dumps(egg))[0].stop_signal == "SIGTERM"


class TestApiImport:
    def test_multipart_upload(self, staff):
        upload = SimpleUploadedFile(
            "egg-rust.json", egg_bytes("egg-rust.json"), content_type="application/json"
        )
        response = staff.post("/api/templates/import", {"file": upload}, format="multipart")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["success"] is True
        assert body["data"]["name"] == "Rust" and body["data"]["stopSignal"] == "SIGINT"
        assert len(body["warnings"]) == 2
        log = AuditLog.objects.get(action="template.import")
        assert log.metadata["filename"] == "egg-rust.json" and len(log.metadata["warnings"]) == 2

    def test_json_body_keeps_the_eggs_own_spelling(self, staff):
        egg = json.loads(egg_bytes("egg-paper.json"))
        response = staff.post("/api/templates/import", {"egg": egg}, format="json")
        assert response.status_code == 201, response.content
        data = response.json()["data"]
        assert sorted(data["dockerImages"]) == ["Java 11", "Java 16", "Java 17", "Java 21", "Java 8"]
        assert data["dockerImage"] == "ghcr.io/pterodactyl/yolks:java_21"
        assert [v["envVariable"] for v in data["variables"]][:2] == ["MINECRAFT_VERSION", "SERVER_JARFILE"]

    def test_yaml_text_in_a_json_body(self, staff):
        response = staff.post(
            "/api/templates/import", {"egg": egg_bytes("egg-factorio.yaml").decode()}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["data"]["name"] == "Factorio"

    def test_a_body_without_an_egg_is_refused(self, staff):
        response = staff.post("/api/templates/import", {"something": 1}, format="json")
        assert response.status_code == 400
        assert "file" in response.json()["fields"]

    def test_an_existing_name_is_refused_without_replace(self, staff, make_template):
        make_template(name="paper")
        response = staff.post(
            "/api/templates/import", {"egg": json.loads(egg_bytes("egg-paper.json"))}, format="json"
        )
        assert response.status_code == 400
        assert "import with replace=true" in response.json()["message"]

    def test_replace_updates_in_place(self, staff, make_template):
        old = make_template(name="Paper", variables=[variable("OLD_VAR", "1")])
        upload = SimpleUploadedFile("egg-paper.json", egg_bytes("egg-paper.json"))
        response = staff.post(
            "/api/templates/import", {"file": upload, "replace": "true"}, format="multipart"
        )
        assert response.status_code == 201, response.content
        assert response.json()["data"]["id"] == str(old.pk)
        old.refresh_from_db()
        assert old.source == "egg:PTDL_v2" and old.docker_image == "ghcr.io/pterodactyl/yolks:java_21"
        assert "OLD_VAR" not in old.variables.values_list("env_variable", flat=True)
        assert Template.objects.count() == 1

    def test_replace_as_a_query_parameter_and_in_json(self, staff, make_template):
        make_template(name="Paper")
        egg = json.loads(egg_bytes("egg-paper.json"))
        assert (
            staff.post("/api/templates/import", {"egg": egg, "replace": True}, format="json").status_code
            == 201
        )
        upload = SimpleUploadedFile("egg-paper.json", egg_bytes("egg-paper.json"))
        assert (
            staff.post("/api/templates/import?replace=true", {"file": upload}, format="multipart").status_code
            == 201
        )

    def test_a_failed_replace_changes_nothing(self, staff, make_template):
        old = make_template(name="Paper", variables=[variable("OLD_VAR", "1")])
        egg = json.loads(egg_bytes("egg-paper.json"))
        egg["variables"][0]["env_variable"] = "bad name"
        assert (
            staff.post("/api/templates/import", {"egg": egg, "replace": True}, format="json").status_code
            == 400
        )
        old.refresh_from_db()
        assert old.source == "manual"
        assert list(old.variables.values_list("env_variable", flat=True)) == ["OLD_VAR"]


COMPARED = [
    f.name
    for f in Template._meta.concrete_fields
    if f.name not in ("id", "name", "source", "created_at", "updated_at")
]
VARIABLE_FIELDS = [*services.VARIABLE_FIELDS, "sort_order"]


def snapshot(template):
    template = Template.objects.get(pk=template.pk)
    return (
        {f: getattr(template, f) for f in COMPARED},
        [{f: getattr(v, f) for f in VARIABLE_FIELDS} for v in template.variables.all()],
    )


class TestExport:
    @pytest.mark.parametrize(
        "egg", ["egg-paper.json", "egg-rust.json", "egg-factorio.yaml", "egg-mumble-server.json"]
    )
    def test_export_then_import_gives_the_same_template(self, egg):
        original, first_warnings = egg_import(egg_bytes(egg))
        exported = egg_export(original)
        original_snapshot = snapshot(original)
        original.delete()
        again, warnings = egg_import(json.dumps(exported))
        assert snapshot(again) == original_snapshot
        assert set(warnings) <= set(first_warnings)

    def test_a_hand_made_template_survives_the_round_trip(self, make_template):
        original = make_template(
            docker_images={"java_17": "itzg/minecraft-server:java17"},
            stop_command="",
            stop_signal="SIGTERM",
            ports=[{"internal": 25565, "external": 25565, "protocol": "udp"}],
            environment={"EULA": "TRUE", "MEMORY": "{{MEMORY}}"},
            required_variables=["MEMORY", "PORT"],
            ready_pattern=r"Done \(",
            ready_pattern_is_regex=True,
            data_path="/data",
            read_only_root=True,
            config_files=[{"path": "a.yml", "parser": "yaml", "replace": {"x.y": "{{SERVER_IP}}:{{PORT}}"}}],
            variables=[
                variable("MAX_PLAYERS", "20", type="integer", min=1, max=100, max_length=3),
                variable("WORLD", "w", regex="^[a-z/]+$", choices=["w", "x/y"]),
            ],
        )
        exported = egg_export(original)
        assert [v["env_variable"] for v in exported["variables"]] == [
            "MAX_PLAYERS",
            "WORLD",
            "MEMORY",
            "PORT",
        ]
        expected = snapshot(original)
        original.delete()
        again, _ = egg_import(json.dumps(exported))
        assert snapshot(again) == expected

    def test_the_export_is_a_pterodactyl_egg(self, make_template):
        template = make_template(
            stop_command="",
            stop_signal="SIGINT",
            config_files=[
                {
                    "path": "server.properties",
                    "parser": "properties",
                    "replace": {"server-port": "{{SERVER_PORT}}", "motd": "{{MOTD}} on {{SERVER_IP}}"},
                }
            ],
            variables=[
                variable("MOTD", "hi", required=True, max_length=20),
                variable("PLAYERS", "1", type="integer", min=1, max=10),
            ],
        )
        egg = egg_export(template)
        assert egg["meta"]["version"] == "PTDL_v2"
        assert egg["config"]["stop"] == "^C"
        assert json.loads(egg["config"]["files"]) == {
            "server.properties": {
                "parser": "properties",
                "find": {
                    "server-port": "{{server.build.default.port}}",
                    "motd": "{{server.build.env.MOTD}} on {{server.build.default.ip}}",
                },
            }
        }
        assert json.loads(egg["config"]["startup"]) == {"done": template.ready_pattern}
        assert [v["rules"] for v in egg["variables"]] == [
            "required|string|max:20",
            "nullable|integer|min:1|max:10",
        ]

    def test_pterodactyl_reads_the_default_image_first(self):
        template, _ = egg_import(egg_bytes("egg-paper.json"))
        egg = egg_export(Template.objects.get(pk=template.pk))
        del egg["hearth"]
        egg["name"] = "Paper again"
        again, _ = egg_import(json.dumps(egg))
        assert again.docker_image == "ghcr.io/pterodactyl/yolks:java_21"

    def test_the_api_serves_a_download(self, staff):
        template, _ = egg_import(egg_bytes("egg-paper.json"))
        response = staff.get(f"/api/templates/{template.pk}/export")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response["Content-Disposition"] == 'attachment; filename="egg-paper.json"'
        egg = json.loads(response.content)
        assert "success" not in egg
        assert egg["name"] == "Paper"
        assert next(iter(egg["docker_images"].items())) == ("Java 21", "ghcr.io/pterodactyl/yolks:java_21")
        assert egg["variables"][0]["env_variable"] == "MINECRAFT_VERSION"
        assert yaml.safe_load(response.content) == egg  # valid YAML too, as Pelican would read it
