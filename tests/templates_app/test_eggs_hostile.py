"""Eggs shaped like attacks or like eggs that lose something on their way: alias bombs, deep nesting,
a hidden `hearth` section that swaps the image or routes a customer's value into LD_PRELOAD, names
the panels reserve, rules Pterodactyl would split, and what PostgreSQL's jsonb reorders."""

import copy
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config.errors import InvalidInput
from templates_app.eggs import egg_export, egg_from, egg_import, egg_parse
from templates_app.eggs_export import PELICAN, PTERODACTYL
from templates_app.laravel import rules_from_laravel, rules_to_laravel, split_rules
from templates_app.models import Template
from templates_app.services import template_save
from templates_app.variables import validate_values
from tests.fixtures.templates import egg_bytes, template_fields, variable
from tests.templates_app.egg_rules import pelican_problems, pterodactyl_problems

pytestmark = pytest.mark.django_db


def paper() -> dict:
    return json.loads(egg_bytes("egg-paper.json"))


def upload(staff, data: bytes, name: str = "egg.json"):
    return staff.post("/api/templates/import", {"file": SimpleUploadedFile(name, data)}, format="multipart")


class TestParserBombs:
    def test_yaml_aliases_are_refused_before_they_expand(self, staff):
        # 9 levels of 9 aliases: about 1 KB of YAML, 387 million strings once expanded and stored.
        levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
        egg = "\n".join(
            [
                "meta: {version: PLCN_v3}",
                "name: Laughs",
                "author: a@b.c",
                "docker_images: {Default: 'ghcr.io/pterodactyl/yolks:java_21'}",
                "startup_commands: {Default: java}",
                "hearth:",
                *(f"  {line}" for line in levels),
                "config: {startup: {done: x, extra: *a9}, stop: stop}",
                "variables: []",
            ]
        )
        assert len(egg) < 2000
        response = upload(staff, egg.encode(), "laughs.yaml")
        assert response.status_code == 400, response.content
        assert "alias (*name)" in response.json()["message"]
        assert not Template.objects.exists()

    @pytest.mark.parametrize("opening", ["[", '{"a":'])
    def test_deep_nesting_is_a_400_not_a_500(self, staff, opening):
        response = upload(staff, (opening * 200_000).encode())
        assert response.status_code == 400, response.content
        assert "nested too deeply" in response.json()["message"]

    def test_anchors_without_aliases_still_import(self):
        egg = paper()
        text = json.dumps(egg).replace('"name": "Paper"', '"name": &n "Paper"', 1)
        assert egg_parse(text, filename="paper.yaml")[0]["name"] == "Paper"


class TestCodeThroughTheEnvironment:
    """`hearth.environment` is hidden from whoever reads the egg's visible fields."""

    def loader_egg(self, value: str = "{{SERVER_JARFILE}}") -> dict:
        egg = paper()
        egg["hearth"] = {"environment": {"LD_PRELOAD": value}}
        return egg

    def test_an_egg_routing_an_editable_value_into_ld_preload_is_refused(self, staff):
        response = staff.post("/api/templates/import", {"egg": self.loader_egg()}, format="json")
        assert response.status_code == 400, response.content
        assert "LD_PRELOAD is read by the dynamic loader" in response.json()["message"]
        assert "SERVER_JARFILE" in response.json()["message"]
        assert not Template.objects.exists()

    @pytest.mark.parametrize("value", ["{{server.build.env.SERVER_JARFILE}}", "./{{server_jarfile}}.so"])
    def test_every_spelling_of_the_placeholder_is_caught(self, value):
        with pytest.raises(InvalidInput, match="LD_PRELOAD"):
            egg_import(json.dumps(self.loader_egg(value)))

    def test_a_staff_only_value_or_a_literal_is_trusted(self):
        egg = self.loader_egg("{{DL_PATH}}")  # DL_PATH: not user-editable in the Paper egg
        egg["hearth"]["environment"]["BASH_ENV"] = "/home/container/.env.sh"
        template, _ = egg_import(json.dumps(egg))
        assert template.environment == {"LD_PRELOAD": "{{DL_PATH}}", "BASH_ENV": "/home/container/.env.sh"}

    def test_the_api_and_every_save_refuse_it_too(self, staff, make_template):
        template = make_template(variables=[variable("MODS")])
        template.environment = {"NODE_OPTIONS": "--require {{MODS}}", "npm_config_script_shell": "{{mods}}"}
        with pytest.raises(InvalidInput) as caught:
            template_save(template=template)
        assert [m.split(" ")[0] for m in caught.value.detail["environment"]] == [
            "NODE_OPTIONS",
            "npm_config_script_shell",
        ]
        body = {
            "name": "Preload",
            "dockerImage": template_fields()["docker_image"],
            "startCommand": "./game",
            "stopCommand": "stop",
            "environment": {"LD_PRELOAD": "{{MODS}}"},
            "variables": [{"envVariable": "MODS", "name": "Mods", "defaultValue": ""}],
        }
        response = staff.post("/api/templates", body, format="json")
        assert response.status_code == 400 and "LD_PRELOAD" in response.json()["message"]


class TestHiddenOverrides:
    def test_each_override_that_changes_the_egg_is_reported(self):
        egg = paper()
        egg["hearth"] = {
            "docker_image": "docker.io/attacker/miner:latest",
            "docker_images": {"Java 21": "docker.io/attacker/miner:latest"},
            "data_path": "/home/container",  # what the egg gives anyway: not reported
            "variable_rules": {"BUILD_NUMBER": {"type": "string", "required": False}},
        }
        fields, _, warnings = egg_parse(json.dumps(egg))
        assert fields["docker_image"] == "docker.io/attacker/miner:latest"
        hidden = [w for w in warnings if w.startswith("hearth.")]
        assert [w.split(" ")[0] for w in hidden] == [
            "hearth.docker_image",
            "hearth.docker_images",
            "hearth.variable_rules",
        ]
        assert "ghcr.io/pterodactyl/yolks:java_21" in hidden[0] and "attacker/miner" in hidden[0]

    def test_synthesized_names_skip_only_the_rows_the_export_made(self):
        egg = paper()
        egg["hearth"] = {
            "synthesized_variables": ["SERVER_JARFILE"],
            "required_variables": ["SERVER_JARFILE"],
        }
        _, variables, warnings = egg_parse(json.dumps(egg))
        assert "SERVER_JARFILE" in [v["env_variable"] for v in variables]
        assert (
            "hearth.synthesized_variables names SERVER_JARFILE, which the egg declares; it is kept"
            in warnings
        )


class TestRulesPterodactylReads:
    @pytest.mark.parametrize(
        ("egg_rules", "edited", "written"),
        [
            ("required|string|not_in:op,admin|max:20", {"max_length": 30}, ["not_in:op,admin", "max:30"]),
            (
                "nullable|string|starts_with:http://,https://",
                {"required": True},
                ["starts_with:http://,https://"],
            ),
            (
                "string|ends_with:.jar,.zip|digits_between:1,4",
                {},
                ["ends_with:.jar,.zip", "digits_between:1,4"],
            ),
        ],
    )
    def test_patterns_are_written_as_the_rules_they_came_from(self, egg_rules, edited, written):
        rules = {**rules_from_laravel(egg_rules, "V")[0], **edited}
        exported = rules_to_laravel(rules)
        assert all(rule in exported.split("|") for rule in written), exported
        assert "regex" not in exported
        assert rules_from_laravel(exported, "V")[0] == rules

    def test_a_slash_after_an_escaped_backslash_is_escaped(self):
        exported = rules_to_laravel({"regex": r"^a\\/b$"})
        assert exported.endswith(r"regex:/^a\\\/b$/")
        body = split_rules(exported)[-1][len("regex:") :]
        assert re.fullmatch(r"/(?:[^\\/]|\\.)*/", body)  # one pattern, closed where it ends
        assert rules_from_laravel(exported, "V")[0]["regex"] == r"^a\\/b$"

    def test_an_alternation_is_warned_at_export(self, make_template):
        template = make_template(variables=[variable("MODE", regex="^(easy|hard)$")])
        egg = egg_export(template)
        assert egg["variables"][0]["rules"].count("|") >= 2
        assert any("MODE" in w and "#1960" in w for w in egg["hearth"]["export_warnings"])

    @pytest.mark.parametrize(
        ("rules", "good", "bad"),
        [
            ("ends_with:a", ["xa"], ["xa\n"]),
            ("digits:3", ["007"], ["007\n"]),
            ("alpha_dash", ["a-b"], ["a-b\n"]),
            ("not_in:a", ["a\n", "b"], ["a"]),
            (
                "integer",
                ["+5", "0", "-7", "9223372036854775807"],
                ["007", "99999999999999999999", "1.0", " 5"],
            ),
        ],
    )
    def test_values_are_checked_as_laravel_checks_them(self, make_template, rules, good, bad):
        template = make_template(
            variables=[{**variable("V"), "rules": {**rules_from_laravel(rules, "V")[0], "required": True}}]
        )
        for value in good:
            assert validate_values(template, {"V": value})["V"] == value
        for value in bad:
            with pytest.raises(InvalidInput):
                validate_values(template, {"V": value})


class TestNamesThePanelsReserve:
    def test_the_api_refuses_them(self, staff):
        body = {
            "name": "Homes",
            "dockerImage": template_fields()["docker_image"],
            "startCommand": "./game",
            "stopCommand": "stop",
            "variables": [{"envVariable": "HOME", "name": "Home", "defaultValue": ""}],
        }
        response = staff.post("/api/templates", body, format="json")
        assert response.status_code == 400
        assert "HOME is a name Pterodactyl reserves" in response.json()["message"]
        assert "SERVER_HOME" in response.json()["message"]
        body["variables"][0]["envVariable"] = "home"  # Pterodactyl compares names as written
        assert staff.post("/api/templates", body, format="json").status_code == 201

    def test_an_egg_using_one_is_renamed_as_pelican_renames_it(self):
        egg = paper()
        egg["variables"].append({**egg["variables"][0], "env_variable": "USER", "name": "Bot user"})
        egg["startup"] += ' --user "{{USER}}" --log "$USER.log"'
        egg["scripts"]["installation"]["script"] = "echo $USER"
        egg["config"]["files"] = json.dumps(
            {"bot.yml": {"parser": "yaml", "find": {"user": "{{server.build.env.USER}}"}}}
        )
        assert pterodactyl_problems(egg) == ["variables.4.env_variable: is reserved"]
        fields, variables, warnings = egg_parse(json.dumps(egg))
        assert variables[-1]["env_variable"] == "SERVER_USER"
        assert fields["start_command"].endswith('--user "{{SERVER_USER}}" --log "$SERVER_USER.log"')
        assert fields["config_files"][0]["replace"] == {"user": "{{SERVER_USER}}"}
        assert any("renamed SERVER_USER" in w for w in warnings)
        assert any("install script reads USER" in w for w in warnings)
        assert not any("not a variable" in w for w in warnings)
        exported = egg_from(fields, variables, PTERODACTYL)
        assert pterodactyl_problems(exported) == [] and pelican_problems(exported) == ([], [])

    def test_pelicans_longer_list_is_kept_as_written(self):
        _, variables, warnings = egg_parse(egg_bytes("egg-rust.json"))
        assert "HOSTNAME" in [v["env_variable"] for v in variables]
        assert not any("renamed" in w for w in warnings)

    def test_egg_rules_models_pelicans_upper_casing(self):
        egg = paper()
        egg["variables"][0]["env_variable"] = "minecraft_version"
        assert pelican_problems(egg)[1] == []
        egg["variables"][1]["env_variable"] = "hostname"
        assert pelican_problems(egg)[1] == [
            "minecraft_version → MINECRAFT_VERSION",
            "HOSTNAME → SERVER_HOSTNAME",
        ]


class TestWarnings:
    def test_names_differing_only_in_case_and_long_display_names(self):
        egg = paper()
        egg["variables"].append({**egg["variables"][1], "env_variable": "server_jarfile", "name": "J" * 150})
        _, variables, warnings = egg_parse(json.dumps(egg))
        assert any(
            w.startswith("Variables SERVER_JARFILE and server_jarfile differ only in case") for w in warnings
        )
        assert "Variable server_jarfile: its display name is longer than 100 characters; cut" in warnings
        assert variables[-1]["name"] == "J" * 100

    def test_the_export_says_what_pterodactyl_would_refuse(self):
        fields, variables, _ = egg_parse(egg_bytes("egg-paper.json"))
        long_image = "ghcr.io/" + "a" * 190 + ":latest"
        fields = {**fields, "stop_command": "say " + "x" * 192, "docker_images": {"Long": long_image}}
        egg = egg_from({**fields, "docker_image": long_image}, variables)
        problems = egg["hearth"]["export_warnings"]
        assert problems == [
            "config.stop is 196 characters; Pterodactyl accepts at most 191",
            f"docker_images Long: the image is {len(long_image)} characters; Pterodactyl accepts at most 191",
        ]
        assert "export_warnings" not in egg_from(*egg_parse(egg_bytes("egg-paper.json"))[:2])["hearth"]


def pelican_with_commands() -> dict:
    egg = paper()
    egg["meta"]["version"] = "PLCN_v3"
    egg["startup_commands"] = {"Default": egg.pop("startup"), "Alt": "java -jar alt.jar"}
    files = json.loads(egg["config"]["files"])
    files = {"spigot.yml": {"parser": "yaml", "find": {"settings.bungeecord": "false"}}, **files}
    egg["config"]["files"] = files
    egg["variables"] = [
        {**v, "rules": split_rules(v["rules"]), "sort": i + 1} for i, v in enumerate(egg["variables"])
    ]
    return egg


def test_the_export_through_the_database_writes_back_what_the_pure_export_writes():
    egg = pelican_with_commands()
    fields, variables, _ = egg_parse(json.dumps(egg))
    template, _ = egg_import(json.dumps(copy.deepcopy(egg)))
    template = Template.objects.get(pk=template.pk)  # everything back from jsonb
    for form in (PELICAN, PTERODACTYL):
        pure, stored = egg_from(fields, variables, form), egg_export(template, form)
        for egg_out in (pure, stored):
            egg_out.pop("exported_at")
        assert stored == pure
    stored = egg_export(template, PELICAN)
    assert list(stored["docker_images"].items()) == list(egg["docker_images"].items())
    assert list(stored["startup_commands"].items()) == list(egg["startup_commands"].items())
    assert list(stored["config"]["files"]) == ["spigot.yml", "server.properties"]
    assert stored["config"]["files"] == egg["config"]["files"]
