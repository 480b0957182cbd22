"""Import and export of Pterodactyl/Pelican eggs (PTDL_v1, PTDL_v2 JSON; Pelican PLCN_v* JSON or YAML).

Everything Pterodactyl or Pelican accepts is imported; what Hearth cannot represent is reported as a
warning, never dropped silently. The config section is translated in eggs_config.py, the variables
in eggs_variables.py (rules: laravel.py). Imported eggs run the image's entrypoint
(`use_image_entrypoint`); `features`, `tags` and `file_denylist` are kept as written, and what the
egg wrote for fields Hearth normalises goes to `egg_as_written`. `egg_export` (eggs_export.py) writes
PTDL_v2 or PLCN_v3 that imports back into the same template.
"""

import json
import re

import yaml
from django.db import transaction

from config.errors import InvalidInput
from templates_app.eggs_config import (
    BadDone,
    config_files_from_egg,
    decoded,
    ready_from_egg,
    stop_from_egg,
    text,
)
from templates_app.eggs_export import HEARTH_FIELDS, egg_export, egg_from, ordered
from templates_app.eggs_variables import trusted_code_warnings, variables_from_egg
from templates_app.models import Template
from templates_app.variables import BUILTINS, PLACEHOLDER_RE, canonical_name

__all__ = ["egg_export", "egg_from", "egg_import", "egg_parse"]

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


def _invalid(message: str) -> InvalidInput:
    return InvalidInput([message])


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors' aliases (`*a`): no egg needs them, and a few hundred bytes of nested
    aliases expand to gigabytes once stored (the size cap is on the text, before expansion)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in an egg", event.start_mark
            )
        return super().compose_node(parent, index)


def _parsed(data: str, filename: str | None):
    parsed = None
    if not (filename or "").lower().endswith((".yaml", ".yml")):
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = yaml.load(data, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
        except yaml.composer.ComposerError as exc:
            raise _invalid(
                f"The egg's YAML uses an alias (*name), which eggs may not: {exc.problem}."
            ) from exc
        except yaml.YAMLError as exc:
            raise _invalid("The egg is neither JSON nor YAML.") from exc
    return parsed


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
    try:
        parsed = _parsed(data, filename)
    except RecursionError as exc:  # the parsers recurse once per nesting level
        raise _invalid("The egg is nested too deeply to be an egg.") from exc
    if not isinstance(parsed, dict):
        raise _invalid("The egg must be a JSON or YAML object.")
    return parsed


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
                f"startup_commands: only the first ('{labels[0]}') is run; the export writes back the others: "
                f"{', '.join(labels[1:])}"
            )
    if not isinstance(startup, str) or not startup.strip():
        raise _invalid("The egg has no startup command.")
    return startup.replace("\r\n", "\n")


def egg_parse(data, *, filename: str | None = None) -> tuple[dict, list[dict], list[str]]:
    """(template fields, variables, warnings) for an egg; raises InvalidInput when it is not one."""
    egg = _load(data, filename)
    try:
        return _parse(egg)
    except RecursionError as exc:
        raise _invalid("The egg is nested too deeply to be an egg.") from exc
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise _invalid(f"The egg is malformed: a section does not have the expected shape ({exc}).") from exc


def _version(egg: dict) -> str:
    meta = egg.get("meta")
    version = meta.get("version") if isinstance(meta, dict) else None
    if not version:
        raise _invalid("This is not a Pterodactyl or Pelican egg: meta.version is missing.")
    if not VERSION_RE.match(str(version)):
        raise _invalid(f"Unknown egg version '{version}': expected PTDL_v1, PTDL_v2 or PLCN_v1…v3.")
    return str(version)


def _string_list(egg: dict, key: str, warnings: list[str]) -> list[str]:
    """features, tags, file_denylist: lists of strings, kept as written (empty entries dropped, as
    Pterodactyl drops them from a denylist)."""
    value = egg.get(key)
    if value in (None, "", {}):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        warnings.append(f"{key} is not a list of strings and was ignored")
        return []
    return [str(v) for v in value if str(v).strip()]


def _ready(config: dict, warnings: list[str]) -> tuple[str, bool]:
    try:
        pattern, is_regex, ready_warnings = ready_from_egg(
            decoded(config.get("startup"), "config.startup", warnings)
        )
    except BadDone as exc:
        raise _invalid(f"config.startup.done is not a valid regular expression: {exc}.") from exc
    warnings.extend(ready_warnings)
    return pattern, is_regex


def _description(egg: dict) -> str:
    return text(egg.get("description")).strip()


def _as_written(egg: dict, config: dict, rules: dict, images: dict) -> dict:
    """What the egg wrote for what Hearth normalises or does not use, for the export to write back."""
    startup = decoded(config.get("startup"), "config.startup", [])
    written = {
        "author": egg.get("author"),
        "uuid": egg.get("uuid") if isinstance(egg.get("uuid"), str) else None,  # Pelican updates by it
        "description": egg.get("description") if text(egg.get("description")) != _description(egg) else None,
        "update_url": (egg.get("meta") or {}).get("update_url"),
        "stop": config.get("stop"),
        "done": startup.get("done"),
        "startup_extra": _text({k: v for k, v in startup.items() if k != "done"}),
        "files": _text(decoded(config.get("files"), "config.files", [])),
        "logs": _text(decoded(config.get("logs"), "config.logs", [])),
        "startup_commands": _pairs(_startup_commands(egg)),
        "rules": rules,
        "image_order": list(images) if len(images) > 2 else None,
    }
    return {key: value for key, value in written.items() if value not in (None, "", {}, [])}


def _text(mapping: dict) -> str | None:
    """A nested mapping as JSON text: PostgreSQL's jsonb would reorder its keys at every level."""
    return json.dumps(mapping, ensure_ascii=False) if mapping else None


def _pairs(mapping: dict | None) -> list | None:
    """[[key, value], …]: PostgreSQL's jsonb keeps no object's key order (eggs_export.ordered)."""
    return [[key, value] for key, value in mapping.items()] if mapping else None


def _startup_commands(egg: dict) -> dict | None:
    """Pelican's other start commands (Hearth runs the first); a PTDL export keeps them in `hearth`."""
    commands = egg.get("startup_commands")
    if not isinstance(commands, dict):
        hearth = egg.get("hearth") if isinstance(egg.get("hearth"), dict) else {}
        commands = ordered(hearth.get("startup_commands"))
    return commands if isinstance(commands, dict) and len(commands) > 1 else None


def _unknown_placeholders(start_command: str, names: set[str]) -> list[str]:
    return [
        f"startup: {{{{{raw}}}}} is not a variable of this egg and renders as an empty string"
        for raw in PLACEHOLDER_RE.findall(start_command)
        if (name := canonical_name(raw)) and name not in names and name not in BUILTINS
    ]


def _words(renames: dict[str, str]) -> str:
    return r"\b(" + "|".join(re.escape(name) for name in renames) + r")\b"


def _renamed(value: str, renames: dict[str, str]) -> str:
    """Reserved names renamed where they stand as words (`{{HOSTNAME}}`, `$HOSTNAME`), as Pelican does."""
    return re.sub(_words(renames), lambda m: renames[m.group(1)], value) if renames else value


def _brief(value) -> str:
    shown = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return shown if len(shown) <= 120 else shown[:117] + "…"


# Written by every Hearth export and meaning only how the export writes the egg back.
QUIET_OVERRIDES = ("egg_as_written",)


def _override_warnings(fields: dict, hearth: dict) -> list[str]:
    """An egg's hidden `hearth` object replaces what its own fields give: say so for each value it
    changes (an egg from the internet could otherwise swap the image everyone sees for another)."""
    warnings = []
    for key in HEARTH_FIELDS:
        if key not in hearth or key in QUIET_OVERRIDES:
            continue
        given = (
            fields[key]
            if key in fields
            else json.loads(json.dumps(Template._meta.get_field(key).get_default()))
        )
        if hearth[key] != given:
            warnings.append(
                f"hearth.{key} replaces what the egg's own fields give: {_brief(given)} → {_brief(hearth[key])}"
            )
    return warnings


def _parse(egg: dict) -> tuple[dict, list[dict], list[str]]:
    version = _version(egg)
    name = text(egg.get("name")).strip()
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
    if decoded(config.get("logs"), "config.logs", warnings):
        warnings.append(
            "config.logs is not used (Hearth reads the console directly); the export writes it back"
        )
    ready_pattern, is_regex = _ready(config, warnings)
    stop_command, stop_signal, stop_warnings = stop_from_egg(config.get("stop"))
    warnings.extend(stop_warnings)

    synthesized = hearth.get("synthesized_variables")
    required = hearth.get("required_variables") if isinstance(hearth.get("required_variables"), list) else []
    renames: dict[str, str] = {}
    variables, rules = variables_from_egg(
        egg,
        warnings,
        skip=set(synthesized) & set(required) if isinstance(synthesized, list) else set(),
        renames=renames,
    )
    start_command = _renamed(start_command, renames)
    if renames and re.search(
        _words(renames), text(((egg.get("scripts") or {}).get("installation") or {}).get("script"))
    ):
        warnings.append(
            "The install script reads "
            + ", ".join(renames)
            + "; it is not changed: it gets "
            + ", ".join(renames.values())
            + " instead"
        )
    names = {v["env_variable"] for v in variables} | set(renames)
    for extra in (hearth.get("required_variables"), hearth.get("environment")):
        if isinstance(extra, list | dict):
            names |= {str(n) for n in extra}
    config_files = json.loads(
        _renamed(
            json.dumps(
                config_files_from_egg(decoded(config.get("files"), "config.files", warnings), names, warnings)
            ),
            renames,
        )
    )
    names -= set(renames)
    warnings.extend(_unknown_placeholders(start_command, names))
    warnings.extend(trusted_code_warnings(start_command, variables))

    install = (egg.get("scripts") or {}).get("installation") or {}
    fields = {
        "name": name,
        "description": _description(egg),
        "docker_image": next(iter(images.values())),
        "docker_images": images,
        "start_command": start_command,
        "use_image_entrypoint": True,
        "stop_command": stop_command,
        "stop_signal": stop_signal,
        "ports": [],
        "environment": {},
        "required_variables": [v["env_variable"] for v in variables if v["rules"]["required"]],
        "config_files": config_files,
        "ready_pattern": ready_pattern,
        "ready_pattern_is_regex": is_regex,
        "data_path": "/home/container",
        "install_image": text(install.get("container")).strip(),
        "install_entrypoint": text(install.get("entrypoint")).strip() or "bash",
        "install_script": text(install.get("script")),
        "features": _string_list(egg, "features", warnings),
        "tags": _string_list(egg, "tags", warnings),
        "file_denylist": _string_list(egg, "file_denylist", warnings),
        "egg_as_written": _as_written(egg, config, rules, images),
        "read_only_root": False,
        "source": f"egg:{version}",
    }
    warnings.extend(_override_warnings(fields, hearth))
    fields.update({key: hearth[key] for key in HEARTH_FIELDS if key in hearth})
    if not isinstance(fields["egg_as_written"], dict):
        fields["egg_as_written"] = {}
    exact_rules = hearth.get("variable_rules")
    for variable in variables if isinstance(exact_rules, dict) else []:
        exact = exact_rules.get(variable["env_variable"])
        if isinstance(exact, dict):
            if exact != variable["rules"]:
                warnings.append(
                    f"hearth.variable_rules replaces the rules of {variable['env_variable']} that the egg's "
                    f"rules give: {_brief(variable['rules'])} → {_brief(exact)}"
                )
            variable["rules"] = exact
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
