"""Eggs that Pterodactyl or Pelican accept and Hearth used to refuse or strip: each fixture in
eggs/accepted/ is shaped like a real community egg and carries one of them. What cannot be
represented is reported, never dropped silently."""

import json
import re

import pytest

from config.errors import InvalidInput
from templates_app.eggs import egg_import, egg_parse
from templates_app.validators import validate_env_name
from templates_app.variables import canonical_name, render, resolve_environment
from tests.fixtures.templates import EGGS

pytestmark = pytest.mark.django_db

ACCEPTED = EGGS / "accepted"
CTRL_C = (
    "config.stop '^C': Hearth sends SIGINT (what Ctrl-C sends); Wings reads it as an unknown signal "
    "name and kills the server (SIGKILL)"
)


def parse(name: str):
    return egg_parse((ACCEPTED / name).read_bytes(), filename=name)


def rules_of(variables, env):
    return next(v["rules"] for v in variables if v["env_variable"] == env)


class TestNames:
    def test_lower_and_mixed_case_names_are_kept_and_resolve(self):
        template, warnings = egg_import((ACCEPTED / "egg-discord-music-bot.json").read_bytes())
        assert warnings == [CTRL_C]
        names = list(template.variables.values_list("env_variable", flat=True))
        assert names == ["discord_token", "data_dir", "Client_ID", "GIT_ADDRESS"]
        assert template.start_command == 'node dist/index.js --data "{{data_dir}}" --client {{Client_ID}}'
        env = resolve_environment(template, {"Client_ID": "42"}, {"SERVER_PORT": 1})
        assert render("{{data_dir}} {{Client_ID}} {{server.build.env.data_dir}}", env) == (
            "/home/container/data 42 /home/container/data"
        )
        assert template.required_variables == ["discord_token", "data_dir"]

    @pytest.mark.parametrize("name", ["discord_token", "Client_ID", "_x", "A" * 191])
    def test_pterodactyls_names_are_valid(self, name):
        validate_env_name(name)
        assert canonical_name(name) == name

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("9lives", "not a valid variable name"),
            ("bad-name", "not a valid variable name"),
            ("A" * 192, "not a valid variable name"),
            ("SERVER_PORT", "set by the panel"),
            ("STARTUP", "set by the panel"),
        ],
    )
    def test_names_the_shell_or_the_panel_own_are_refused(self, name, message):
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError, match=message):
            validate_env_name(name)

    def test_code_loading_names_stay_refused_when_customers_edit_them(self):
        egg = json.loads((ACCEPTED / "egg-discord-music-bot.json").read_bytes())
        egg["variables"][2]["env_variable"] = "LD_PRELOAD"
        with pytest.raises(InvalidInput) as caught:
            egg_import(json.dumps(egg))
        assert "LD_PRELOAD is read by the dynamic loader" in str(caught.value.detail)

    def test_a_variable_declared_twice_keeps_the_last(self):
        template, warnings = egg_import((ACCEPTED / "egg-mordhau-wine.json").read_bytes())
        assert "Variable WINEDEBUG is declared 2 times; the last declaration is kept" in warnings
        names = list(template.variables.values_list("env_variable", flat=True))
        assert names == ["SRCDS_APPID", "WINEDEBUG", "QUERY_PORT", "MAX_PLAYERS"]
        winedebug = template.variables.get(env_variable="WINEDEBUG")
        assert (winedebug.default_value, winedebug.rules["max_length"]) == ("-all", 40)


class TestConfigFiles:
    def test_the_file_parsers_empty_key_means_every_line(self):
        fields, _, warnings = parse("egg-motd-every-line.json")
        assert warnings == []
        assert fields["config_files"][0] == {
            "path": "motd.txt",
            "parser": "file",
            "replace": {"": "{{MOTD}}"},
        }

    def test_an_empty_key_for_another_parser_is_reported(self):
        egg = json.loads((ACCEPTED / "egg-motd-every-line.json").read_bytes())
        egg["config"]["files"] = json.dumps({"a.ini": {"parser": "ini", "find": {"": "x", "k": "v"}}})
        fields, _, warnings = egg_parse(json.dumps(egg))
        assert fields["config_files"] == [{"path": "a.ini", "parser": "ini", "replace": {"k": "v"}}]
        assert warnings == [
            "config.files a.ini: an empty key only means something to the file parser; ignored"
        ]

    def test_xml_files_are_imported(self):
        fields, _, warnings = parse("egg-space-engineers-xml.json")
        assert fields["config_files"] == [
            {
                "path": "config/SpaceEngineers-Dedicated.cfg",
                "parser": "xml",
                "replace": {
                    "MyConfigDedicated.ServerPort": "{{SERVER_PORT}}",
                    "MyConfigDedicated.ServerName": "{{SERVER_NAME}}",
                    "MyConfigDedicated.SessionSettings.MaxPlayers": "{{MAX_PLAYERS}}",
                },
            }
        ]
        assert warnings == [CTRL_C]

    def test_conditional_replacements_are_imported(self):
        fields, _, warnings = parse("egg-waterfall-conditional.json")
        replace = fields["config_files"][0]["replace"]
        assert replace["ip_forward"] == {"false": "true"}
        assert replace["servers.*.address"] == {
            "127.0.0.1": "{{config.docker.interface}}",
            "localhost": "{{config.docker.interface}}",
        }
        assert replace["listeners[0].host"] == "0.0.0.0:{{SERVER_PORT}}"
        assert len(warnings) == 1 and "{{config.docker.interface}}" in warnings[0]


class TestReady:
    def test_a_list_of_done_strings_waits_for_any(self):
        fields, _, warnings = parse("egg-portal-knights-done.json")
        pattern = re.compile(fields["ready_pattern"])
        assert fields["ready_pattern_is_regex"]
        assert pattern.search("[net] Listening on 0.0.0.0:12345")
        assert pattern.search("Server Camelot has started")
        assert not pattern.search("Server Camelot is starting")
        assert fields["egg_as_written"]["done"] == [
            "Listening on",
            "ReadyToServe",
            "regex:^Server .+ has started$",
        ]
        assert any("done has 3 strings" in w for w in warnings)

    def test_a_regex_done_is_a_regular_expression(self):
        template, _ = egg_import((ACCEPTED / "egg-rathole-regex-done.json").read_bytes())
        assert (template.ready_pattern, template.ready_pattern_is_regex) == (r"Listening at \S+:\d+", True)

    def test_many_ready_strings_fit_under_the_cap(self):
        egg = json.loads((ACCEPTED / "egg-portal-knights-done.json").read_bytes())
        done = [f"Loaded world {n} of the dedicated server, ready for players" for n in range(7)]
        egg["config"]["startup"] = json.dumps({"done": done})
        template, _ = egg_import(json.dumps(egg))
        assert all(re.search(template.ready_pattern, line) for line in done)

    def test_ready_strings_past_the_cap_are_refused_clearly(self):
        egg = json.loads((ACCEPTED / "egg-portal-knights-done.json").read_bytes())
        egg["config"]["startup"] = json.dumps({"done": ["x" * 300, "y" * 300]})
        with pytest.raises(InvalidInput, match="longer than 500 characters"):
            egg_parse(json.dumps(egg))


class TestRules:
    def test_empty_rules_and_boolean_defaults_from_pelican_yaml(self):
        template, warnings = egg_import((ACCEPTED / "egg-velocity-boolean-default.yaml").read_bytes())
        assert warnings == []
        assert template.tags == ["minecraft", "proxy"] and template.features == ["java_version"]
        online = template.variables.get(env_variable="ONLINE_MODE")
        assert (online.default_value, online.rules["type"]) == ("true", "boolean")
        extra = template.variables.get(env_variable="EXTRA_FLAGS")
        assert extra.rules["required"] is False and extra.rules["regex"] is None
        template, warnings = egg_import((ACCEPTED / "egg-velocity-empty-rules.yaml").read_bytes())
        assert warnings == [] and template.file_denylist == []

    def test_gt_present_ends_with_and_not_in(self):
        template, warnings = egg_import((ACCEPTED / "egg-tarkov-rules.json").read_bytes())
        assert warnings == [CTRL_C]
        rules = {v.env_variable: v.rules for v in template.variables.all()}
        assert rules["MODS"]["required"] is False  # present: every variable always has a value
        assert (rules["SLOTS"]["type"], rules["SLOTS"]["min"]) == ("integer", 1)
        assert rules["SERVER_NAME"]["min_length"] == 4  # gt:3 on a string is its length
        profile, branch = re.compile(rules["PROFILE"]["regex"]), re.compile(rules["BRANCH"]["regex"])
        assert [bool(profile.search(v)) for v in ("a.json", "a.jsonc", "a.yaml")] == [True, True, False]
        assert [bool(branch.search(v)) for v in ("release", "staging", "nightly", "staging2")] == [
            True,
            False,
            False,
            True,
        ]

    def test_what_the_rules_cannot_check_exactly_is_warned(self):
        from templates_app.laravel import rules_from_laravel

        rules, warnings = rules_from_laravel("numeric|gt:0.5|lt:10", "RATE")
        assert (rules["min"], rules["max"]) == (0.5, 10)
        assert warnings == [
            "Variable RATE: rule 'gt:0.5' is checked as at least 0.5",
            "Variable RATE: rule 'lt:10' is checked as at most 10",
        ]
        rules, warnings = rules_from_laravel("integer|gt:other_field", "N")
        assert warnings == ["Variable N: rule 'gt:other_field' is not supported and was ignored"]

    def test_several_patterns_are_all_checked(self):
        from templates_app.laravel import rules_from_laravel

        rules, warnings = rules_from_laravel(
            "string|regex:/^[a-z.]+$/|ends_with:.jar|not_in:server.jar", "JAR"
        )
        pattern = re.compile(rules["regex"])
        assert warnings == []
        assert [bool(pattern.search(v)) for v in ("paper.jar", "server.jar", "Paper.jar", "paper.zip")] == [
            True,
            False,
            False,
            False,
        ]

    def test_large_integer_bounds_keep_their_precision(self):
        template, _ = egg_import((ACCEPTED / "egg-seed-large-bounds.json").read_bytes())
        seed = template.variables.get(env_variable="WORLD_SEED").rules
        assert (seed["min"], seed["max"]) == (-9223372036854775808, 9223372036854775807)
        assert template.variables.get(env_variable="MAX_ENTITIES").rules["max"] == 18446744073709551615
        from templates_app.variables import validate_values

        assert validate_values(template, {"WORLD_SEED": "9223372036854775807"}) == {
            "WORLD_SEED": "9223372036854775807"
        }
        with pytest.raises(InvalidInput):
            validate_values(template, {"WORLD_SEED": "9223372036854775808"})


class TestStop:
    @pytest.mark.parametrize(
        ("stop", "command", "signal", "warning"),
        [
            ("^C", "", "SIGINT", CTRL_C),
            ("^^C", "", "SIGINT", "config.stop '^^C': Hearth sends SIGINT"),
            ("^c", "", "SIGINT", "config.stop '^c': Hearth sends SIGINT"),
            (
                "^X",
                "",
                "SIGKILL",
                "config.stop '^X' names no signal; Hearth kills the server (SIGKILL), as Wings does",
            ),
            ("^SIGTERM", "", "SIGTERM", None),
            ("^SIGINT", "", "SIGINT", None),
            (
                "^SIGHUP",
                "",
                "SIGHUP",
                "config.stop '^SIGHUP': Hearth sends SIGHUP; Wings would kill the server (SIGKILL)",
            ),
            ("stop", "stop", "", None),
        ],
    )
    def test_each_stop_maps_to_the_nearest_signal_and_is_kept_as_written(
        self, stop, command, signal, warning
    ):
        egg = json.loads((ACCEPTED / "egg-ragemp-stop-x.json").read_bytes())
        egg["config"]["stop"] = stop
        fields, _, warnings = egg_parse(json.dumps(egg))
        assert (fields["stop_command"], fields["stop_signal"]) == (command, signal)
        assert fields["egg_as_written"]["stop"] == stop
        stop_warnings = [w for w in warnings if w.startswith("config.stop")]
        assert stop_warnings == (
            [] if warning is None else [next(w for w in stop_warnings if w.startswith(warning))]
        )

    def test_the_fixture_with_x_imports(self):
        template, _ = egg_import((ACCEPTED / "egg-ragemp-stop-x.json").read_bytes())
        assert template.stop_signal == "SIGKILL" and template.egg_as_written["stop"] == "^X"


class TestMetadataAndTrust:
    def test_features_tags_and_denylist_are_stored(self):
        template, warnings = egg_import((ACCEPTED / "egg-valheim-metadata.json").read_bytes())
        assert template.features == ["steam_disk_space", "pid_limit"]
        assert template.file_denylist == ["*.db", "BepInEx/config/secret.cfg", "!worlds_local/keep.db"]
        assert not [w for w in warnings if "ignored" in w]
        assert template.use_image_entrypoint is True

    def test_a_malformed_list_is_reported(self):
        egg = json.loads((ACCEPTED / "egg-valheim-metadata.json").read_bytes())
        egg["features"] = {"eula": True}
        fields, _, warnings = egg_parse(json.dumps(egg))
        assert fields["features"] == [] and "features is not a list of strings and was ignored" in warnings

    def test_a_hidden_default_that_is_shell_code_is_trusted_and_said_so(self):
        fields, _, warnings = parse("egg-trap-stop-default.json")
        assert warnings == [
            "Variable STOP_COMMAND: its default 'kill -2 $!; wait;' is shell code the start command runs; "
            "customers cannot edit it, so it is trusted as the egg author's code (as in Pterodactyl)"
        ]
        assert fields["stop_signal"] == "SIGTERM"

    def test_an_editable_value_with_shell_characters_is_no_trusted_code(self):
        egg = json.loads((ACCEPTED / "egg-trap-stop-default.json").read_bytes())
        egg["variables"][0]["default_value"] = "plain"
        assert egg_parse(json.dumps(egg))[2] == []


@pytest.mark.parametrize("name", sorted(p.name for p in ACCEPTED.iterdir()))
def test_every_accepted_egg_parses(name):
    """Each is also saved, by a test above or by the round trip through the database."""
    fields, variables, _ = parse(name)
    assert fields["use_image_entrypoint"] is True and variables
