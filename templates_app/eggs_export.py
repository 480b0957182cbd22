"""Export of a template as a PTDL_v2 egg, which Pterodactyl, Pelican and Hearth itself can import.

What eggs cannot express (ports, environment, exact rules…) travels in an extra top-level `hearth`
object that Pterodactyl and Pelican ignore, so an export imports back into the same template.
Config-file placeholders are written in the forms Wings understands (`{{server.build.default.port}}`,
`{{server.build.env.NAME}}`); the importer maps them back.
"""

import json

from django.utils import timezone

from templates_app import ready
from templates_app.laravel import rules_to_laravel
from templates_app.models import Template
from templates_app.variables import BUILTINS, PLACEHOLDER_RE, canonical_name

# Template fields eggs cannot express; exports carry them in the `hearth` object.
HEARTH_FIELDS = (
    "docker_image",
    "docker_images",
    "ports",
    "environment",
    "required_variables",
    "ready_pattern",
    "ready_pattern_is_regex",
    "data_path",
    "read_only_root",
)
EXPORT_PLACEHOLDERS = {
    "SERVER_PORT": "server.build.default.port",
    "SERVER_IP": "server.build.default.ip",
    "SERVER_MEMORY": "server.build.memory",
    "SERVER_UUID": "server.uuid",
}


def _export_placeholders(text: str) -> str:
    def replace(match):
        name = canonical_name(match.group(1))
        if name is None:
            return match.group(0)
        return "{{" + EXPORT_PLACEHOLDERS.get(name, f"server.build.env.{name}") + "}}"

    return PLACEHOLDER_RE.sub(replace, text)


def egg_export(template: Template) -> dict:
    """The template as a PTDL_v2 egg (with the `hearth` extension) that imports back unchanged."""
    variables = list(template.variables.all())
    have = {v.env_variable for v in variables}
    synthesized = [n for n in template.required_variables if n not in have and n not in BUILTINS]
    # The first image is an egg's default; PostgreSQL's jsonb does not keep key order, so put it first here.
    images = {
        label: image for label, image in template.docker_images.items() if image == template.docker_image
    }
    images = (images or {template.docker_image: template.docker_image}) | template.docker_images
    files = {
        rule["path"]: {
            "parser": rule["parser"],
            "find": {k: _export_placeholders(v) for k, v in rule["replace"].items()},
        }
        for rule in template.config_files
    }
    stop = template.stop_command or ("^C" if template.stop_signal == "SIGINT" else f"^{template.stop_signal}")
    egg_variables = [
        _egg_variable(
            v.env_variable,
            v.name,
            v.description,
            v.default_value,
            v.user_viewable,
            v.user_editable,
            rules_to_laravel(v.rules),
        )
        for v in variables
    ] + [_egg_variable(n, n, "", "", True, True, "required|string") for n in synthesized]
    return {
        "_comment": "DO NOT EDIT: FILE GENERATED AUTOMATICALLY BY HEARTH",
        "meta": {"version": "PTDL_v2", "update_url": None},
        "exported_at": timezone.now().isoformat(timespec="seconds"),
        "name": template.name,
        "author": "hearth@localhost",
        "description": template.description,
        "features": None,
        "docker_images": images,
        "file_denylist": [],
        "startup": template.start_command,
        "config": {
            "files": json.dumps(files, indent=4),
            "startup": json.dumps(
                {"done": ready.to_egg(template.ready_pattern, template.ready_pattern_is_regex)}, indent=4
            ),
            "logs": "{}",
            "stop": stop,
        },
        "scripts": {
            "installation": {
                "script": template.install_script,
                "container": template.install_image,
                "entrypoint": template.install_entrypoint,
            }
        },
        "variables": egg_variables,
        "hearth": {
            "version": 1,
            **{key: getattr(template, key) for key in HEARTH_FIELDS},
            "synthesized_variables": synthesized,
            "variable_rules": {v.env_variable: v.rules for v in variables},
        },
    }


def _egg_variable(env, name, description, default, viewable, editable, rules) -> dict:
    return {
        "name": name,
        "description": description,
        "env_variable": env,
        "default_value": default,
        "user_viewable": viewable,
        "user_editable": editable,
        "rules": rules,
        "field_type": "text",
    }
