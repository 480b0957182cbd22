"""Import and export of Pterodactyl/Pelican eggs (PTDL_v1, PTDL_v2 JSON; Pelican PLCN_v* JSON or YAML).

Everything an egg holds is either mapped or reported as a warning, never dropped silently.
`egg_export` (in eggs_export.py) writes PTDL_v2 JSON that imports back into the same template.
"""

import json
import re

import yaml
from django.db import transaction

from config.errors import InvalidInput
from templates_app import ready
from templates_app.configfiles import PARSERS
from templates_app.eggs_export import HEARTH_FIELDS, egg_export
from templates_app.laravel import rules_from_laravel
from templates_app.models import Template
from templates_app.validators import SIGNALS
from templates_app.variables import BUILTINS, PLACEHOLDER_RE, canonical_name

__all__ = ["egg_export", "egg_import", "egg_parse"]

MAX_EGG_BYTES = 2 * 1024 * 1024
VERSION_RE = re.compile(r"^(PTDL_v[12]|PLCN_v[0-9]+)$")
TOP_LEVEL = frozenset(
    [
        "_comment",
        "meta",
        "exported_at",
        "name",
        "author",
        "uuid",
        "description",
        "features",
        "docker_images",
        "images",
        "image",
        "file_denylist",
        "startup",
        "startup_commands",
        "config",
        "scripts",
        "variables",
        "tags",
        "update_url",
        "hearth",
    ]
)
VARIABLE_KEYS = frozenset(
    [
        "name",
        "description",
        "env_variable",
        "default_value",
        "user_viewable",
        "user_editable",
        "rules",
        "field_type",
        "sort",
        "id",
        "egg_id",
        "created_at",
        "updated_at",
    ]
)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput([message])


def _load(data: bytes | str | dict, filename: str | None) -> dict:
    if isinstance(data, dict):
        return data
    if isinstance(data, bytes):
        if len(data) > MAX_EGG_BYTES:
            raise _invalid("The egg is larger than 2 MB.")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _invalid("The egg is not UTF-8 text.") from exc
    if len(data) > MAX_EGG_BYTES:
        raise _invalid("The egg is larger than 2 MB.")
    parsed = None
    if not (filename or "").lower().endswith((".yaml", ".yml")):
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise _invalid("The egg is neither JSON nor YAML.") from exc
    if not isinstance(parsed, dict):
        raise _invalid("The egg must be a JSON or YAML object.")
    return parsed


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).replace("\r\n", "\n")


def _truthy(value) -> bool:
    return value in (True, 1, "1", "true", "True", "yes")


def _decoded(value, where: str, warnings: list[str]) -> dict:
    """config.files/startup/logs: a JSON string inside the egg (Pterodactyl) or a mapping (Pelican)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            warnings.append(f"{where} is not valid JSON and was ignored")
            return {}
    if not isinstance(value, dict):
        warnings.append(f"{where} is not an object and was ignored")
        return {}
    return value


def _canonical(text: str, where: str, names: set[str], warnings: list[str]) -> str:
    """Pterodactyl placeholders to ours; ones that name nothing we have are kept and reported."""

    def replace(match):
        raw = match.group(1)
        name = canonical_name(raw)
        if name is None:
            warnings.append(
                f"{where}: placeholder {{{{{raw}}}}} refers to panel or node configuration, which "
                "Hearth never exposes; it renders as an empty string"
            )
            return match.group(0)
        if name not in names and name not in BUILTINS:
            warnings.append(
                f"{where}: {{{{{raw}}}}} is not a variable of this egg and renders as an empty string"
            )
        return "{{" + name + "}}"

    return PLACEHOLDER_RE.sub(replace, text)


def _images(egg: dict, warnings: list[str]) -> dict[str, str]:
    images = egg.get("docker_images")
    if isinstance(images, list):
        images = {str(i): str(i) for i in images}
    if not images and isinstance(egg.get("images"), list):
        images = {str(i): str(i) for i in egg["images"]}
    icon = egg.get("image")
    if not images and isinstance(icon, str) and icon and not icon.startswith("data:"):
        images = {icon: icon}
    elif icon:
        warnings.append("The egg's icon (image) is not used by Hearth and was ignored")
    if not isinstance(images, dict) or not images:
        raise _invalid("The egg names no Docker image (docker_images, images or image).")
    return {str(label): str(image) for label, image in images.items()}


def _startup(egg: dict, warnings: list[str]) -> str:
    startup = egg.get("startup")
    commands = egg.get("startup_commands")
    if not startup and isinstance(commands, dict) and commands:
        labels = list(commands)
        startup = commands[labels[0]]
        if len(labels) > 1:
            warnings.append(
                f"startup_commands: only the first ('{labels[0]}') is used; ignored: {', '.join(labels[1:])}"
            )
    if not isinstance(startup, str) or not startup.strip():
        raise _invalid("The egg has no startup command.")
    return startup.replace("\r\n", "\n")


def _stop(stop, warnings: list[str]) -> tuple[str, str]:
    """(stop_command, stop_signal) from config.stop: `^C` is SIGINT, `^X` the signal X."""
    stop = _text(stop).strip()
    if not stop:
        warnings.append("config.stop is empty; Hearth stops the server with SIGTERM")
        return "", "SIGTERM"
    if not stop.startswith("^"):
        return stop, ""
    rest = stop[1:].upper()
    if rest == "C":
        return "", "SIGINT"
    name = rest if rest.startswith("SIG") else f"SIG{rest}"
    if name in SIGNALS:
        return "", name
    warnings.append(f"config.stop '{stop}' is not a signal Hearth knows; SIGTERM is used instead")
    return "", "SIGTERM"


def _ready(startup: dict, warnings: list[str]) -> tuple[str, bool]:
    done = startup.get("done")
    if startup.get("userInteraction"):
        warnings.append("config.startup.userInteraction is not supported and was ignored")
    for key in sorted(set(startup) - {"done", "userInteraction"}):
        warnings.append(f"config.startup.{key} is not supported and was ignored")
    if isinstance(done, list) and len([d for d in done if d not in (None, "") and str(d)]) > 1:
        warnings.append(
            f"config.startup.done has {len(done)} strings; Hearth waits for any of them "
            "(stored as one regular expression)"
        )
    if not isinstance(done, list):
        done = _text(done)
    pattern, is_regex = ready.from_egg(done)
    try:
        ready.validate(pattern, is_regex)
    except ready.BadReadyPattern as exc:
        raise _invalid(f"config.startup.done is not a valid regular expression: {exc}.") from exc
    return pattern, is_regex


def _config_files(files: dict, names: set[str], warnings: list[str]) -> list[dict]:
    rules = []
    for path, spec in files.items():
        where = f"config.files {path}"
        if not isinstance(spec, dict):
            warnings.append(f"{where} is not an object and was ignored")
            continue
        parser = {"yml": "yaml"}.get(spec.get("parser"), spec.get("parser"))
        if parser not in PARSERS:
            warnings.append(
                f"{where}: the '{spec.get('parser')}' parser is not supported; the file is not rewritten"
            )
            continue
        replace = {}
        for key, value in (spec.get("find") or {}).items():
            if isinstance(value, dict | list):
                warnings.append(
                    f"{where}: '{key}' uses a conditional replacement, which is not supported; ignored"
                )
                continue
            text = json.dumps(value) if isinstance(value, bool | int | float) else _text(value)
            replace[str(key)] = _canonical(text, where, names, warnings)
        if replace:
            rules.append({"path": str(path), "parser": parser, "replace": replace})
    return rules


def _variables(egg: dict, warnings: list[str], skip: set[str]) -> list[dict]:
    raw = egg.get("variables") or []
    if not isinstance(raw, list):
        raise _invalid("variables must be a list.")
    ordered = sorted(enumerate(raw), key=lambda pair: (_order(pair[1], pair[0]), pair[0]))
    out = []
    for _, var in ordered:
        if not isinstance(var, dict):
            raise _invalid("Every variable must be an object.")
        env = _text(var.get("env_variable")).strip()
        if env in skip:
            continue
        if env in BUILTINS:
            warnings.append(f"Variable {env} is set by the panel; the egg's variable was ignored")
            continue
        for key in sorted(set(var) - VARIABLE_KEYS):
            warnings.append(f"Variable {env}: key '{key}' is not supported and was ignored")
        if var.get("field_type") not in (None, "text"):
            warnings.append(f"Variable {env}: field_type '{var['field_type']}' is shown as text")
        rules, rule_warnings = rules_from_laravel(var.get("rules"), env)
        warnings.extend(rule_warnings)
        out.append(
            {
                "env_variable": env,
                "name": _text(var.get("name")).strip()[:100] or env,
                "description": _text(var.get("description")),
                "default_value": _text(var.get("default_value")),
                "user_viewable": _truthy(var.get("user_viewable", True)),
                "user_editable": _truthy(var.get("user_editable", True)),
                "rules": rules,
            }
        )
    return out


def _order(var, index: int) -> int:
    sort = var.get("sort") if isinstance(var, dict) else None
    return sort if isinstance(sort, int) and not isinstance(sort, bool) else index


def egg_parse(data, *, filename: str | None = None) -> tuple[dict, list[dict], list[str]]:
    """(template fields, variables, warnings) for an egg; raises InvalidInput when it is not one."""
    egg = _load(data, filename)
    try:
        return _parse(egg)
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise _invalid(f"The egg is malformed: a section does not have the expected shape ({exc}).") from exc


def _parse(egg: dict) -> tuple[dict, list[dict], list[str]]:
    meta = egg.get("meta")
    version = meta.get("version") if isinstance(meta, dict) else None
    if not version:
        raise _invalid("This is not a Pterodactyl or Pelican egg: meta.version is missing.")
    if not VERSION_RE.match(str(version)):
        raise _invalid(f"Unknown egg version '{version}': expected PTDL_v1, PTDL_v2 or PLCN_v1…v3.")
    name = _text(egg.get("name")).strip()
    if not name:
        raise _invalid("The egg has no name.")
    warnings: list[str] = [f"Unknown key '{key}' was ignored" for key in egg if key not in TOP_LEVEL]
    hearth = egg.get("hearth") if isinstance(egg.get("hearth"), dict) else {}

    images = _images(egg, warnings)
    start_command = _startup(egg, warnings)
    config = egg.get("config") or {}
    if not isinstance(config, dict):
        raise _invalid("config must be an object.")
    for key in sorted(set(config) - {"files", "startup", "logs", "stop"}):
        warnings.append(f"config.{key} is not supported and was ignored")
    if _decoded(config.get("logs"), "config.logs", warnings):
        warnings.append("config.logs is not used (Hearth reads the console directly) and was ignored")
    ready_pattern, is_regex = _ready(_decoded(config.get("startup"), "config.startup", warnings), warnings)
    stop_command, stop_signal = _stop(config.get("stop"), warnings)

    synthesized = hearth.get("synthesized_variables")
    variables = _variables(egg, warnings, skip=set(synthesized) if isinstance(synthesized, list) else set())
    names = {v["env_variable"] for v in variables}
    for extra in (hearth.get("required_variables"), hearth.get("environment")):
        if isinstance(extra, list | dict):
            names |= {str(n) for n in extra}
    config_files = _config_files(_decoded(config.get("files"), "config.files", warnings), names, warnings)
    for raw in PLACEHOLDER_RE.findall(start_command):
        if (canonical := canonical_name(raw)) and canonical not in names and canonical not in BUILTINS:
            warnings.append(
                f"startup: {{{{{raw}}}}} is not a variable of this egg and renders as an empty string"
            )

    features = egg.get("features")
    if features:
        listed = ", ".join(map(str, features)) if isinstance(features, list | dict) else str(features)
        warnings.append(f"features ({listed}) are Pterodactyl panel features Hearth does not have; ignored")
    if egg.get("file_denylist"):
        warnings.append(
            f"file_denylist ({len(egg['file_denylist'])} entries) is not supported and was ignored"
        )
    if egg.get("tags"):
        warnings.append("tags are not used by Hearth and were ignored")

    install = (egg.get("scripts") or {}).get("installation") or {}
    script = _text(install.get("script"))
    fields = {
        "name": name,
        "description": _text(egg.get("description")).strip(),
        "docker_image": next(iter(images.values())),
        "docker_images": images,
        "start_command": start_command,
        "stop_command": stop_command,
        "stop_signal": stop_signal,
        "ports": [],
        "environment": {},
        "required_variables": [v["env_variable"] for v in variables if v["rules"]["required"]],
        "config_files": config_files,
        "ready_pattern": ready_pattern,
        "ready_pattern_is_regex": is_regex,
        "data_path": "/home/container",
        "install_image": _text(install.get("container")).strip(),
        "install_entrypoint": _text(install.get("entrypoint")).strip() or "bash",
        "install_script": script,
        "read_only_root": False,
        "source": f"egg:{version}",
    }
    fields.update({key: hearth[key] for key in HEARTH_FIELDS if key in hearth})
    exact_rules = hearth.get("variable_rules")
    for variable in variables if isinstance(exact_rules, dict) else []:
        if isinstance(exact_rules.get(variable["env_variable"]), dict):
            variable["rules"] = exact_rules[variable["env_variable"]]
    return fields, variables, list(dict.fromkeys(warnings))


def egg_import(data, *, filename: str | None = None, replace: bool = False) -> tuple[Template, list[str]]:
    """Create a template from an egg (or, with `replace`, update the one of the same name in place)."""
    from templates_app.services import template_save

    fields, variables, warnings = egg_parse(data, filename=filename)
    with transaction.atomic():
        existing = Template.objects.select_for_update().filter(name__iexact=fields["name"]).first()
        if existing and not replace:
            raise InvalidInput(
                {
                    "name": [
                        f"A template named '{existing.name}' already exists; import with replace=true to update it."
                    ]
                }
            )
        template = existing or Template()
        for key, value in fields.items():
            setattr(template, key, value)
        template_save(template=template, variables=variables)
    return template, warnings
