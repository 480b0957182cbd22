"""Export → import through Pterodactyl's PTDL_v2 and Pelican's PLCN_v3 gives the same template, every
field compared; the exported egg passes both panels' importer rules (egg_rules.py) and writes back
what the egg wrote (features, tags, denylist, stop, ready strings, config files, rules, logs)."""

import json

import pytest
import yaml

from templates_app import services
from templates_app.eggs import egg_export, egg_from, egg_import, egg_parse
from templates_app.eggs_export import FORMATS, PELICAN, PTERODACTYL
from templates_app.eggs_variables import renamed as reserved_renamed
from templates_app.laravel import split_rules
from templates_app.models import Template
from templates_app.validators import reserved_name
from tests.fixtures.templates import EGGS
from tests.templates_app.egg_rules import pelican_problems, pterodactyl_problems

ALL_EGGS = sorted([p for p in EGGS.iterdir() if p.is_file()] + list((EGGS / "accepted").iterdir()))
# Through the database: the eggs whose values the models normalise (names, rules, large integers,
# booleans, several ready strings); every egg goes through the pure round trip above. (Each save
# resolves the images' registries, which costs up to seconds on a slow resolver.)
SAVED_EGGS = [
    EGGS / "egg-rust.json",
    *(
        EGGS / "accepted" / name
        for name in (
            "egg-discord-music-bot.json",
            "egg-mordhau-wine.json",
            "egg-tarkov-rules.json",
            "egg-seed-large-bounds.json",
            "egg-velocity-boolean-default.yaml",
            "egg-portal-knights-done.json",
            "egg-waterfall-conditional.json",
            "egg-space-engineers-xml.json",
            "egg-motd-every-line.json",
            "egg-trap-stop-default.json",
        )
    ),
]
COMPARED = [
    f.name for f in Template._meta.concrete_fields if f.name not in ("id", "created_at", "updated_at")
]
VARIABLE_FIELDS = [*services.VARIABLE_FIELDS, "sort_order"]


def renamed(env: str) -> str:
    """The name an egg's variable has once imported (names Pterodactyl or Pelican reserve are renamed)."""
    return reserved_renamed(env) if reserved_name(env) else env


def _config(egg: dict, key: str):
    value = (egg.get("config") or {}).get(key)
    return json.loads(value) if isinstance(value, str) and key != "stop" else value


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("path", ALL_EGGS, ids=lambda p: p.name)
class TestWithoutTheDatabase:
    def test_the_template_comes_back_the_same(self, path, form):
        fields, variables, warnings = egg_parse(path.read_bytes(), filename=path.name)
        again, again_variables, again_warnings = egg_parse(json.dumps(egg_from(fields, variables, form)))
        defaults = {
            f.name: json.loads(json.dumps(f.get_default(), default=str))
            for f in Template._meta.concrete_fields
        }
        assert {k: v for k, v in again.items() if k != "source"} == {
            k: fields.get(k, defaults[k]) for k in again if k != "source"
        }
        assert again["source"] == f"egg:{form}"
        assert again_variables == variables
        assert set(again_warnings) <= set(warnings)

    def test_both_panels_would_import_the_export(self, path, form):
        fields, variables, _ = egg_parse(path.read_bytes(), filename=path.name)
        egg = egg_from(fields, variables, form)
        if form == PTERODACTYL:
            assert pterodactyl_problems(egg) == []
        assert pelican_problems(egg)[0] == []
        assert pelican_problems(yaml.safe_dump(egg))[0] == []

    def test_the_export_writes_back_what_the_egg_wrote(self, path, form):
        original = yaml.safe_load(path.read_bytes())  # JSON is YAML
        fields, variables, _ = egg_parse(path.read_bytes(), filename=path.name)
        egg = egg_from(fields, variables, form)
        assert egg["features"] == (original.get("features") or None)
        assert (egg.get("uuid"), egg["author"]) == (original.get("uuid"), original["author"])
        assert egg["tags"] == (original.get("tags") or [])
        assert egg["file_denylist"] == [v for v in original.get("file_denylist") or [] if v]
        for key in ("stop", "files", "logs"):
            assert _config(egg, key) == (_config(original, key) or ({} if key != "stop" else None))
        assert _config(egg, "startup")["done"] == _config(original, "startup")["done"]
        written = {renamed(v["env_variable"]): v["rules"] for v in original["variables"]}
        exported = {v["env_variable"]: v["rules"] for v in egg["variables"]}
        for env, rules in written.items():
            rules = "|".join(rules) if isinstance(rules, list) else rules
            if rules and isinstance(rules, str):
                assert exported[env] == (split_rules(rules) if form == PELICAN else rules)


def snapshot(template):
    template = Template.objects.get(pk=template.pk)
    return (
        {f: getattr(template, f) for f in COMPARED if f != "source"},
        [{f: getattr(v, f) for f in VARIABLE_FIELDS} for v in template.variables.all()],
    )


@pytest.mark.django_db
@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("path", SAVED_EGGS, ids=lambda p: p.name)
def test_export_then_import_through_the_database_gives_the_same_template(path, form):
    original, _ = egg_import(path.read_bytes(), filename=path.name)
    exported = egg_export(original, form)
    expected = snapshot(original)
    original.delete()
    again, _ = egg_import(json.dumps(exported))
    assert snapshot(again) == expected
    assert again.source == f"egg:{form}"


class TestTheCheckers:
    """The checkers refuse what the panels refuse, so a passing export means something."""

    def egg(self, form=PTERODACTYL, **changes):
        fields, variables, _ = egg_parse((EGGS / "egg-paper.json").read_bytes())
        egg = egg_from(fields, variables, form)
        egg.update(changes)
        return egg

    def test_pterodactyl_refuses_pelicans_format_and_yaml(self):
        assert pterodactyl_problems(self.egg(PELICAN)) == [
            "meta.version: the JSON file provided is not in a format that can be recognized"
        ]

    def test_pterodactyl_refuses_what_its_models_refuse(self):
        egg = self.egg(author="not an address", docker_images={"Java": "ghcr.io/x:y;rm"})
        egg["config"]["startup"] = {"done": "x"}
        egg["variables"][0].update(env_variable="bad-name", description=None, sort=1)
        egg["variables"][1].update(env_variable="STARTUP", rules="")
        assert pterodactyl_problems(egg) == [
            "author: must be a valid email address",
            "docker_images.Java: format is invalid",
            "config_startup: must be a valid JSON string",
            "variables.0: no such column: sort",
            "variables.0.description: must be a string",
            "variables.0.env_variable: format is invalid",
            "variables.1.env_variable: is reserved",
            "variables.1.rules: is required",
        ]

    def test_pelican_refuses_and_renames(self):
        egg = self.egg(PELICAN, uuid="short", tags=None)
        egg["startup_commands"] = {"a": "x", "b": "x"}
        egg["variables"][0].update(env_variable="tz", default_value=3)
        problems, renamed = pelican_problems(egg)
        assert problems == [
            "uuid: must be 36 characters",
            "startup_commands.a: has a duplicate value",
            "startup_commands.b: has a duplicate value",
            "tags: must be an array",
            "variables.0.default_value: must be a string",
        ]
        assert renamed == ["TZ → SERVER_TZ"]


@pytest.mark.django_db
def test_the_api_exports_either_format(staff):
    template, _ = egg_import((EGGS / "egg-paper.json").read_bytes())
    pelican = staff.get(f"/api/templates/{template.pk}/export?egg_format=PLCN_v3")
    assert pelican.status_code == 200
    egg = json.loads(pelican.content)
    assert egg["meta"]["version"] == "PLCN_v3" and "startup_commands" in egg
    assert staff.get(f"/api/templates/{template.pk}/export?egg_format=PTDL_v9").status_code == 400
