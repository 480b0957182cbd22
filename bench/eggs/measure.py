"""What bench/eggs measures on one egg: import, the checks a save runs, export → import through each
format, what the export writes back of what the egg wrote, and both panels' importer rules. Pure:
no database, no container (the checks a save runs are called directly, as Template.clean calls them)."""

import json
from collections import Counter

import yaml
from django.core.exceptions import ValidationError

from config.errors import InvalidInput
from templates_app import validators
from templates_app.eggs import egg_from, egg_parse
from templates_app.eggs_config import text
from templates_app.eggs_export import FORMATS, PELICAN, PTERODACTYL
from templates_app.eggs_variables import truthy
from templates_app.laravel import split_rules
from templates_app.models import Template, TemplateVariable
from templates_app.services import code_problems
from tests.templates_app.egg_rules import pelican_problems, pterodactyl_problems

DEFAULTS = {
    f.name: json.loads(json.dumps(f.get_default(), default=str)) for f in Template._meta.concrete_fields
}
# What the egg wrote, compared with what the export writes back (config sections decoded from JSON).
EGG_FIELDS = (
    "name",
    "description",
    "features",
    "tags",
    "file_denylist",
    "docker_images",
    "startup",
    "config.stop",
    "config.startup.done",
    "config.files",
    "config.logs",
    "scripts.installation",
    "variables (names, order, defaults, flags)",
    "variables.rules",
)


def message(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {v}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(map(str, detail))
    return str(exc)


def save_problems(fields: dict, variables: list[dict]) -> list[str]:
    """What template_save would refuse, minus the name's uniqueness (that needs the database)."""
    template = Template(**{k: v for k, v in fields.items() if k != "source"}, source=fields["source"])
    problems = []
    try:
        template.clean_fields()
    except ValidationError as exc:
        problems += [f"{k}: {m}" for k, ms in exc.message_dict.items() for m in ms]
    checks = [
        ("config_files", validators.validate_config_files, template.config_files),
        (
            "ready_pattern",
            validators.validate_ready_pattern,
            template.ready_pattern,
            template.ready_pattern_is_regex,
        ),
        ("stop_signal", validators.validate_signal, template.stop_signal),
        ("docker_images", validators.validate_docker_images, template.docker_images),
        ("required_variables", validators.validate_required_variables, template.required_variables),
    ]
    for field, check, *args in checks:
        try:
            check(*args)
        except ValidationError as exc:
            problems += [f"{field}: {m}" for m in exc.messages]
    rows = []
    for data in variables:
        row = TemplateVariable(template=template, **data)
        try:
            row.full_clean(exclude=["template"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            problems += [
                f"variable {data['env_variable']}: {k}: {m}" for k, ms in exc.message_dict.items() for m in ms
            ]
        rows.append(row)
    if not problems:
        problems += [f"{k}: {m}" for k, ms in code_problems(template, rows).items() for m in ms]
    return problems


def _config(egg: dict, key: str):
    value = (egg.get("config") or {}).get(key)
    if isinstance(value, str) and key != "stop":
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return {} if value in (None, [], "") and key != "stop" else value


def _crlf(value):
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def egg_field(egg: dict, field: str, form: str):
    """One field of an egg as a reader of that egg sees it."""
    if field == "features":
        return egg.get("features") or None
    if field in ("tags", "file_denylist"):
        return [v for v in egg.get(field) or [] if v]
    if field == "startup":
        commands = egg.get("startup_commands")
        return _crlf(
            egg.get("startup") or (next(iter(commands.values())) if isinstance(commands, dict) else None)
        )
    if field == "config.startup.done":
        startup = _config(egg, "startup")
        return startup.get("done") if isinstance(startup, dict) else None
    if field.startswith("config."):
        return _config(egg, field.split(".")[1])
    if field == "scripts.installation":
        install = (egg.get("scripts") or {}).get("installation") or {}
        return {k: _crlf(install.get(k) or "") for k in ("script", "container", "entrypoint")}
    if field.startswith("variables"):
        rows = egg.get("variables") or []
        if field == "variables.rules":
            return [split_rules(v.get("rules")) for v in rows]
        return [
            {
                "env_variable": text(v.get("env_variable")).strip(),
                "name": text(v.get("name")).strip(),
                "default_value": text(v.get("default_value")),
                "user_viewable": truthy(v.get("user_viewable", True)),
                "user_editable": truthy(v.get("user_editable", True)),
            }
            for v in rows
        ]
    if field == "docker_images":
        images = egg.get("docker_images") or {i: i for i in egg.get("images") or [egg.get("image")]}
        return images
    return _crlf(egg.get(field))


def measure(name: str, data: bytes) -> dict:
    """Everything measured for one egg (JSON-serialisable)."""
    try:  # JSON first: YAML reads a JSON surrogate pair (an escaped emoji) as two characters
        original = json.loads(data)
    except ValueError:
        original = yaml.safe_load(data)
    try:
        fields, variables, warnings = egg_parse(data, filename=name)
    except InvalidInput as exc:
        return {"name": name, "imported": False, "reason": message(exc)}
    result = {
        "name": name,
        "imported": True,
        "warnings": warnings,
        "save_problems": save_problems(fields, variables),
        "original_pterodactyl": pterodactyl_problems(original),
        "original_pelican": pelican_problems(original)[0],
    }
    for form in FORMATS:
        egg = egg_from(fields, variables, form)
        again, again_variables, _ = egg_parse(json.dumps(egg))
        result[form] = {
            "template_fields": {
                k: again.get(k, DEFAULTS.get(k)) == v for k, v in fields.items() if k != "source"
            },
            "variables": again_variables == variables,
            "egg_fields": {f: egg_field(egg, f, form) == egg_field(original, f, form) for f in EGG_FIELDS},
            "pterodactyl": pterodactyl_problems(egg) if form == PTERODACTYL else None,
            "pelican": pelican_problems(egg)[0],
            "pelican_renamed": pelican_problems(egg)[1],
        }
    return result


def kinds(texts) -> Counter:
    """Messages grouped by their shape (names, numbers and quoted parts removed)."""
    import re

    def shape(text: str) -> str:
        text = text.split(": a customer can edit")[0]  # the start-command analysis names the variable after
        text = re.sub(r"\$\w+|'[^']*'|\{\{[^}]*\}\}|\"[^\"]*\"", "…", text)
        text = re.sub(r"^(Variable|config\.files) \S+", r"\1 …", text)
        return re.sub(r"\d+", "N", text)[:140]

    return Counter(shape(t) for t in texts)


__all__ = ["EGG_FIELDS", "FORMATS", "PELICAN", "PTERODACTYL", "kinds", "measure"]
