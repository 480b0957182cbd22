"""Export of a template as an egg: Pterodactyl's PTDL_v2 (the default) or Pelican's PLCN_v3.

Both import into Pterodactyl or Pelican (their importers' rules: tests/templates_app/egg_rules.py)
and back into Hearth as the same template. What an imported egg wrote for fields Hearth normalises
(`^C`, a list of ready strings, `regex:`, conditional and xml config files, Laravel rules, logs…) is
kept in `Template.egg_as_written` and written back as long as it still means what the template
holds. What eggs cannot express (ports, environment, exact rules…) travels in an extra top-level
`hearth` object that Pterodactyl and Pelican ignore. Config-file placeholders are written in the
forms each panel understands; the importer maps them back.
"""

import json

from django.utils import timezone

from templates_app.eggs_config import config_files_to_egg, done_to_egg, stop_to_egg
from templates_app.laravel import laravel_export, rules_from_laravel, split_rules
from templates_app.models import Template
from templates_app.services import VARIABLE_FIELDS
from templates_app.variables import BUILTINS, PLACEHOLDER_RE, canonical_name

PTERODACTYL = "PTDL_v2"
PELICAN = "PLCN_v3"
FORMATS = (PTERODACTYL, PELICAN)
# Template fields eggs cannot express; exports carry them in the `hearth` object.
HEARTH_FIELDS = (
    "docker_image",
    "docker_images",
    "pull_policy",
    "use_image_entrypoint",
    "ports",
    "environment",
    "required_variables",
    "ready_pattern",
    "ready_pattern_is_regex",
    "data_path",
    "read_only_root",
    "backup_before_commands",
    "backup_done_pattern",
    "backup_done_pattern_is_regex",
    "backup_after_commands",
    "egg_as_written",
)
EXPORTED_FIELDS = (
    *HEARTH_FIELDS,
    "name",
    "description",
    "start_command",
    "stop_command",
    "stop_signal",
    "config_files",
    "install_image",
    "install_entrypoint",
    "install_script",
    "features",
    "tags",
    "file_denylist",
)
PLACEHOLDER_FORMS = {
    PTERODACTYL: {
        "SERVER_PORT": "server.build.default.port",
        "SERVER_IP": "server.build.default.ip",
        "SERVER_MEMORY": "server.build.memory",
        "SERVER_UUID": "server.uuid",
        "": "server.build.env.",
    },
    PELICAN: {  # what Pelican's importer upgrades the Pterodactyl forms to
        "SERVER_PORT": "server.allocations.default.port",
        "SERVER_IP": "server.allocations.default.ip",
        "SERVER_MEMORY": "server.build.memory_limit",
        "SERVER_UUID": "server.uuid",
        "": "server.environment.",
    },
}


def _placeholders(form: str):
    forms = PLACEHOLDER_FORMS[form]

    def export(text: str) -> str:
        def replace(match):
            name = canonical_name(match.group(1))
            if name is None:
                return match.group(0)
            return "{{" + forms.get(name, forms[""] + name) + "}}"

        return PLACEHOLDER_RE.sub(replace, text)

    return export


def egg_export(template: Template, form: str = PTERODACTYL) -> dict:
    """The template as an egg (with the `hearth` extension) that imports back unchanged."""
    fields = {key: getattr(template, key) for key in EXPORTED_FIELDS}
    variables = [{key: getattr(v, key) for key in VARIABLE_FIELDS} for v in template.variables.all()]
    return egg_from(fields, variables, form)


def _images(fields: dict) -> dict:
    """The images in the egg's order (egg_as_written's `image_order`: PostgreSQL's jsonb does not keep
    key order), the default first (an egg's first image is its default)."""
    order = fields["egg_as_written"].get("image_order")
    labels = list(fields["docker_images"])
    if isinstance(order, list) and sorted(order) == sorted(labels):
        labels = order
    default = fields["docker_image"]
    images = {label: fields["docker_images"][label] for label in labels}
    first = {label: image for label, image in images.items() if image == default}
    return (first or {default: default}) | images


def _rules(variable: dict, written: dict, warnings: list[str]) -> str:
    """The rules as the egg wrote them when they still mean the template's, else ours in Laravel's form."""
    as_written = written.get(variable["env_variable"])
    if (
        isinstance(as_written, str)
        and as_written.strip()
        and rules_from_laravel(as_written, variable["env_variable"])[0] == variable["rules"]
    ):
        return as_written
    rules, problems = laravel_export(variable["rules"])
    warnings.extend(f"Variable {variable['env_variable']}: {problem}" for problem in problems)
    return rules


def _variables(
    fields: dict, variables: list[dict], form: str, warnings: list[str]
) -> tuple[list[dict], list[str]]:
    have = {v["env_variable"] for v in variables}
    synthesized = [n for n in fields["required_variables"] if n not in have and n not in BUILTINS]
    written = fields["egg_as_written"].get("rules") or {}
    rows = [{**v, "rules": _rules(v, written, warnings)} for v in variables]
    rows += [
        {
            "env_variable": n,
            "name": n,
            "description": "",
            "default_value": "",
            "user_viewable": True,
            "user_editable": True,
            "rules": "required|string",
        }
        for n in synthesized
    ]
    return [_egg_variable(row, index, form) for index, row in enumerate(rows)], synthesized


def _egg_variable(row: dict, index: int, form: str) -> dict:
    out = {
        "name": row["name"],
        "description": row["description"],
        "env_variable": row["env_variable"],
        "default_value": row["default_value"],
        "user_viewable": row["user_viewable"],
        "user_editable": row["user_editable"],
        "rules": row["rules"],
    }
    if form == PELICAN:
        return out | {"rules": split_rules(row["rules"]), "sort": index + 1}
    return out | {"field_type": "text"}


def _config(fields: dict, form: str) -> dict:
    written = fields["egg_as_written"]
    startup = {
        **ordered(written.get("startup_extra")),
        "done": done_to_egg(fields["ready_pattern"], fields["ready_pattern_is_regex"], written.get("done")),
    }
    config = {
        "files": config_files_to_egg(
            fields["config_files"], ordered(written.get("files")), _placeholders(form)
        ),
        "startup": startup,
        "logs": ordered(written.get("logs")),
        "stop": stop_to_egg(fields["stop_command"], fields["stop_signal"], written.get("stop")),
    }
    if form == PELICAN:
        return config
    # Pterodactyl validates these three as JSON strings; `{}` stays an object (PHP's [] is a list).
    return {key: json.dumps(value, indent=4) if key != "stop" else value for key, value in config.items()}


def _startup(fields: dict, form: str) -> dict:
    if form == PTERODACTYL:
        return {"startup": fields["start_command"]}
    commands = ordered(fields["egg_as_written"].get("startup_commands"))
    if commands and next(iter(commands.values())) == fields["start_command"]:
        return {"startup_commands": commands}
    return {"startup_commands": {"Default": fields["start_command"]}}


def ordered(pairs) -> dict:
    """A mapping egg_as_written keeps as [[key, value], …] or as JSON text (PostgreSQL's jsonb reorders
    an object's keys: Pelican's first start command is the one it runs); an object (older imports) as
    it is."""
    if isinstance(pairs, str):
        try:
            pairs = json.loads(pairs)
        except ValueError:
            return {}
    if isinstance(pairs, dict):
        return pairs
    if isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs):
        return {str(key): value for key, value in pairs}
    return {}


def export_problems(egg: dict) -> list[str]:
    """What Pterodactyl's importer would refuse or cut in an export whose fields Hearth accepts."""
    problems = []
    stop = (egg.get("config") or {}).get("stop")
    if isinstance(stop, str) and len(stop) > 191:
        problems.append(f"config.stop is {len(stop)} characters; Pterodactyl accepts at most 191")
    for label, image in (egg.get("docker_images") or {}).items():
        if len(image) > 191:
            problems.append(
                f"docker_images {label}: the image is {len(image)} characters; Pterodactyl accepts at most 191"
            )
    return problems


def _description(description: str, as_written) -> str:
    """The description with the spaces around it the egg wrote (Hearth strips them)."""
    if isinstance(as_written, str) and as_written.replace("\r\n", "\n").strip() == description:
        return as_written
    return description


def _other_commands(fields: dict, form: str) -> dict:
    commands = ordered(fields["egg_as_written"].get("startup_commands"))
    return {"startup_commands": commands} if form == PTERODACTYL and commands else {}


def egg_from(fields: dict, variables: list[dict], form: str = PTERODACTYL) -> dict:
    """The egg for a template's fields (EXPORTED_FIELDS) and variables (VARIABLE_FIELDS), no database."""
    if form not in FORMATS:
        raise ValueError(f"Unknown egg format {form!r}: {', '.join(FORMATS)}")
    defaults = {  # through JSON: a choice's default is its enum member
        f.name: json.loads(json.dumps(f.get_default()))
        for f in Template._meta.concrete_fields
        if f.name in EXPORTED_FIELDS
    }
    fields = {**defaults, **fields}
    written = fields["egg_as_written"] = fields["egg_as_written"] or {}
    warnings: list[str] = []
    egg_variables, synthesized = _variables(fields, variables, form, warnings)
    egg = {
        "_comment": "DO NOT EDIT: FILE GENERATED AUTOMATICALLY BY HEARTH",
        "meta": {"version": form, "update_url": written.get("update_url")},
        "exported_at": timezone.now().isoformat(timespec="seconds"),
        "name": fields["name"],
        "author": written.get("author") or "hearth@localhost",
        **({"uuid": written["uuid"]} if written.get("uuid") else {}),
        "description": _description(fields["description"], written.get("description")),
        "tags": list(fields["tags"]),  # Pelican's; Pterodactyl ignores the key
        "features": list(fields["features"]) or None,
        "docker_images": _images(fields),
        "file_denylist": list(fields["file_denylist"]),
        **_startup(fields, form),
        "config": _config(fields, form),
        "scripts": {
            "installation": {
                "script": fields["install_script"],
                "container": fields["install_image"],
                "entrypoint": fields["install_entrypoint"],
            }
        },
        "variables": egg_variables,
        "hearth": {
            "version": 1,
            **{key: fields[key] for key in HEARTH_FIELDS},
            **_other_commands(fields, form),
            "synthesized_variables": synthesized,
            "variable_rules": {v["env_variable"]: v["rules"] for v in variables},
        },
    }
    # What Pterodactyl would refuse or read otherwise, for whoever reads the export (never imported).
    if warnings := warnings + export_problems(egg):
        egg["hearth"]["export_warnings"] = warnings
    return egg
