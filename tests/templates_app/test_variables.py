"""Resolution order, validation rules and placeholder substitution (templates_app.variables)."""

import os

import pytest
from django.conf import settings

from config.errors import InvalidInput
from templates_app.variables import missing_message, render, resolve_environment, validate_values
from tests.fixtures.templates import variable

pytestmark = pytest.mark.django_db

BUILTINS = {
    "SERVER_MEMORY": 1024,
    "SERVER_PORT": 25565,
    "SERVER_IP": "10.0.0.5",
    "SERVER_UUID": "8fec71a3-9d19-45f7-8362-900674cde45c",
    "TZ": "UTC",
}


@pytest.fixture
def template(make_template):
    return make_template(
        environment={"GAME_MEMORY": "{{SERVER_MEMORY}}M", "MODE": "{{MODE}}", "FIXED": "yes"},
        required_variables=["MEMORY", "PORT"],
        variables=[
            variable("MODE", "survival", choices=["survival", "creative"]),
            variable("MAX_PLAYERS", "20", type="integer", min=1, max=100),
            variable("LOCKED", "x", editable=False),
            variable("SECRET_SEED", "42", viewable=False, editable=False),
            variable("PVP", "1", type="boolean"),
            variable("WORLD", "", required=True, regex=r"^[a-z]+$", max_length=8),
            variable("RATIO", "0.5", type="number", min=0, max=1),
        ],
    )


class TestResolution:
    def test_server_values_override_defaults(self, template):
        env = resolve_environment(template, {"MODE": "creative"}, BUILTINS)
        assert env["MODE"] == "creative"
        assert env["MAX_PLAYERS"] == "20"

    def test_builtins_are_set_and_cannot_be_overridden(self, template):
        env = resolve_environment(
            template, {"SERVER_PORT": "1", "SERVER_MEMORY": "999999", "TZ": "Mars"}, BUILTINS
        )
        assert env["SERVER_PORT"] == "25565"
        assert env["SERVER_MEMORY"] == "1024"
        assert env["TZ"] == "UTC"

    def test_environment_entries_render_against_the_resolved_values(self, template):
        env = resolve_environment(template, {"MODE": "creative"}, BUILTINS)
        assert env["GAME_MEMORY"] == "1024M"
        assert env["MODE"] == "creative"
        assert env["FIXED"] == "yes"

    def test_server_values_win_over_environment_entries(self, make_template):
        template = make_template(
            environment={"EULA": "TRUE", "MEMORY": "{{MEMORY}}"}, required_variables=["MEMORY"]
        )
        env = resolve_environment(template, {"MEMORY": "4096M", "EULA": "FALSE"}, BUILTINS)
        assert env["MEMORY"] == "4096M"
        assert env["EULA"] == "FALSE"

    def test_undeclared_server_values_are_dropped(self, template):
        env = resolve_environment(template, {"LD_PRELOAD": "/tmp/evil.so", "PATH": "/tmp"}, BUILTINS)
        assert "LD_PRELOAD" not in env and "PATH" not in env

    def test_only_builtin_names_are_accepted_as_builtins(self, template):
        with pytest.raises(ValueError, match="SECRET_KEY"):
            resolve_environment(template, {}, {**BUILTINS, "SECRET_KEY": settings.SECRET_KEY})

    def test_the_contract_example_renders_as_documented(self, make_template):
        template = make_template(
            start_command="java -Xmx{{MEMORY}} -jar server.jar --port {{PORT}}",
            environment={"MEMORY": "{{MEMORY}}", "PORT": "{{PORT}}"},
            required_variables=["MEMORY", "PORT"],
        )
        env = resolve_environment(template, {"MEMORY": "4096M", "PORT": "25565"}, BUILTINS)
        assert render(template.start_command, env) == "java -Xmx4096M -jar server.jar --port 25565"


class TestRender:
    def test_substitution_is_single_pass(self):
        assert (
            render("{{A}}-{{B}}", {"A": "{{B}}", "B": "{{SERVER_UUID}}", "SERVER_UUID": "u"})
            == "{{B}}-{{SERVER_UUID}}"
        )

    def test_spaces_inside_braces_are_allowed_and_dollar_forms_are_left_alone(self):
        assert render("{{ A }} ${A} $A", {"A": "x"}) == "x ${A} $A"

    def test_pterodactyl_forms_map_to_builtins_and_variables(self):
        env = {
            "SERVER_PORT": "25565",
            "SERVER_IP": "10.0.0.1",
            "SERVER_MEMORY": "2048",
            "SERVER_UUID": "u",
            "MAX_USERS": "50",
        }
        text = (
            "{{server.build.default.port}} {{server.allocations.default.port}} {{server.build.default.ip}} "
            "{{server.build.memory}} {{server.uuid}} {{server.build.env.MAX_USERS}} {{env.MAX_USERS}} "
            "{{server.environment.MAX_USERS}}"
        )
        assert render(text, env) == "25565 25565 10.0.0.1 2048 u 50 50 50"

    def test_unknown_placeholders_render_empty(self):
        assert render("[{{config.docker.interface}}][{{NOPE}}][{{server.build.cpu}}]", {"A": "x"}) == "[][][]"

    def test_nothing_from_the_panel_or_the_process_leaks(self, template, monkeypatch):
        monkeypatch.setenv("HEARTH_TEST_LEAK", "leak")
        assert os.environ["HEARTH_TEST_LEAK"] == "leak"
        env = resolve_environment(template, {}, BUILTINS)
        attempts = [
            "{{env.HEARTH_TEST_LEAK}}",
            "{{HEARTH_TEST_LEAK}}",
            "{{server.build.env.HEARTH_TEST_LEAK}}",
            "{{SECRET_KEY}}",
            "{{env.SECRET_KEY}}",
            "{{settings.SECRET_KEY}}",
            "{{config.SECRET_KEY}}",
            "{{DATABASE_URL}}",
            "{{env.DATABASE_URL}}",
            "{{REDIS_URL}}",
            "{{config.docker.interface}}",
            "{{config.system.data}}",
            "{{server.build.env.HOME}}",
            "{{env.PATH}}",
            "{{ENCRYPTION_KEY}}",
        ]
        rendered = render(" ".join(attempts), env)
        assert rendered.strip() == ""
        for secret in (
            "leak",
            settings.SECRET_KEY,
            os.environ.get("DATABASE_URL", "postgres://"),
            os.environ["PATH"],
        ):
            assert secret not in rendered

    def test_values_that_look_like_placeholders_stay_literal(self, template):
        env = resolve_environment(template, {"MODE": "{{SERVER_UUID}}"}, BUILTINS)
        assert render("{{MODE}}", env) == "{{SERVER_UUID}}"
        assert env["MODE"] == "{{SERVER_UUID}}"


class TestValidation:
    def errors(self, template, values, **kwargs):
        with pytest.raises(InvalidInput) as caught:
            validate_values(template, {"MEMORY": "1G", "PORT": "1", "WORLD": "w", **values}, **kwargs)
        return caught.value.detail

    def test_good_values_come_back_as_strings(self, template):
        cleaned = validate_values(
            template, {"MEMORY": "4096M", "PORT": 25565, "WORLD": "earth", "PVP": True, "RATIO": 0.25}
        )
        assert cleaned == {
            "MEMORY": "4096M",
            "PORT": "25565",
            "WORLD": "earth",
            "PVP": "true",
            "RATIO": "0.25",
        }

    def test_missing_required_values_have_the_contract_message(self, template):
        with pytest.raises(InvalidInput) as caught:
            validate_values(template, {})
        assert caught.value.detail == ["Missing required template variables: MEMORY, PORT, WORLD"]

    def test_missing_names_are_sorted(self):
        assert missing_message(["PORT", "MEMORY"]) == "Missing required template variables: MEMORY, PORT"

    def test_the_api_answers_the_missing_message_exactly(self, template):
        from config.api.exceptions import api_exception_handler

        with pytest.raises(InvalidInput) as caught:
            validate_values(template, {"WORLD": "w"})
        response = api_exception_handler(caught.value, {"view": None})
        assert response.status_code == 400
        assert response.data["message"] == "Missing required template variables: MEMORY, PORT"

    def test_defaults_and_literal_environment_entries_satisfy_required(self, make_template):
        template = make_template(
            environment={"EULA": "TRUE", "MEMORY": "{{MEMORY}}"},
            required_variables=["EULA", "MEMORY", "SERVER_PORT"],
            variables=[variable("JAR", "server.jar", required=True)],
        )
        with pytest.raises(InvalidInput) as caught:
            validate_values(template, {})
        assert caught.value.detail == ["Missing required template variables: MEMORY"]
        assert validate_values(template, {"MEMORY": "1G"}) == {"MEMORY": "1G"}

    @pytest.mark.parametrize(
        ("values", "name", "message"),
        [
            ({"MAX_PLAYERS": "abc"}, "MAX_PLAYERS", "Must be an integer between 1 and 100."),
            ({"MAX_PLAYERS": "0"}, "MAX_PLAYERS", "Must be an integer between 1 and 100."),
            ({"MAX_PLAYERS": "101"}, "MAX_PLAYERS", "Must be an integer between 1 and 100."),
            ({"MAX_PLAYERS": "5.5"}, "MAX_PLAYERS", "Must be an integer between 1 and 100."),
            ({"MODE": "hardcore"}, "MODE", "Must be one of: survival, creative."),
            ({"PVP": "maybe"}, "PVP", "Must be true or false (1 or 0)."),
            ({"WORLD": "Earth"}, "WORLD", "Does not match the required format."),
            ({"WORLD": "abcdefghi"}, "WORLD", "Must be at most 8 characters."),
            ({"RATIO": "2"}, "RATIO", "Must be a number between 0 and 1."),
            ({"RATIO": "nan"}, "RATIO", "Must be a number between 0 and 1."),
            ({"SERVER_PORT": "1"}, "SERVER_PORT", "Set by the panel; it cannot be changed."),
            ({"LD_PRELOAD": "x"}, "LD_PRELOAD", "Not a variable of this template."),
            ({"LOCKED": "y"}, "LOCKED", "This variable cannot be changed."),
            ({"MODE": "a\x00b"}, "MODE", "Must not contain NUL characters."),
            ({"MODE": ["survival"]}, "MODE", "Must be a string, a number or a boolean."),
        ],
    )
    def test_rules_are_enforced_per_variable(self, template, values, name, message):
        assert self.errors(template, values) == {"environment": {name: [message]}}

    def test_accepted_forms(self, template):
        ok = {"MAX_PLAYERS": "1", "PVP": "false", "MODE": "creative", "WORLD": "abc", "RATIO": "1"}
        assert validate_values(template, {"MEMORY": "1", "PORT": "1", **ok})["PVP"] == "false"
        assert (
            validate_values(template, {"MEMORY": "1", "PORT": "1", "WORLD": "a", "PVP": "TRUE"})["PVP"]
            == "TRUE"
        )

    def test_staff_may_set_locked_variables(self, template):
        cleaned = validate_values(
            template, {"MEMORY": "1", "PORT": "1", "WORLD": "a", "LOCKED": "y"}, editable_only=False
        )
        assert cleaned["LOCKED"] == "y"

    def test_empty_optional_values_skip_the_rules(self, template):
        assert validate_values(template, {"MEMORY": "1", "PORT": "1", "WORLD": "a", "MAX_PLAYERS": ""})

    def test_missing_and_invalid_are_reported_together(self, template):
        detail = self.errors(template, {"MEMORY": "", "MAX_PLAYERS": "x"})
        assert detail["environment"] == {"MAX_PLAYERS": ["Must be an integer between 1 and 100."]}
        assert detail["non_field_errors"] == ["Missing required template variables: MEMORY"]
