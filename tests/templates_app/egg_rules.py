"""What Pterodactyl's and Pelican's egg importers would refuse in an egg: their real checks, translated.

Pterodactyl (panel 1.x): EggParserService::handle (JSON, meta.version PTDL_v1/PTDL_v2, v1 → v2),
EggParserService::fillFromParsed, then the models' `$validationRules` checked on save (app/Models/
Model.php): Egg and EggVariable; a variable key that is no column fails the insert (field_type is
removed by EggVariableObserver). Pelican: EggImporterService::parse (JSON or YAML; PTDL_v1/v2,
PLCN_v1/v2 converted to PLCN_v3; config objects JSON-encoded; boolean defaults to "true"/"false";
reserved names renamed SERVER_<NAME> and, once one is, every name upper-cased, which is a change,
not a refusal: reported as `renamed`),
fillFromParsed, Egg and EggVariable::getRules.

Laravel semantics kept: a rule other than required/required_without is skipped for an empty string;
`null` fails `string`/`array`/`json` unless `nullable`; `\\w` in a PHP pattern without /u is ASCII.
"""

import json
import re

import yaml

PTERODACTYL_RESERVED = [
    "SERVER_MEMORY",
    "SERVER_IP",
    "SERVER_PORT",
    "ENV",
    "HOME",
    "USER",
    "STARTUP",
    "SERVER_UUID",
    "UUID",
]
PELICAN_RESERVED = [
    *[
        "P_SERVER_UUID",
        "P_SERVER_ALLOCATION_LIMIT",
        "SERVER_MEMORY",
        "SERVER_IP",
        "SERVER_PORT",
        "ENV",
        "HOME",
        "USER",
    ],
    *[
        "STARTUP",
        "MODIFIED_STARTUP",
        "SERVER_UUID",
        "UUID",
        "INTERNAL_IP",
        "HOSTNAME",
        "TERM",
        "LANG",
        "PWD",
        "TZ",
        "TIMEZONE",
    ],
]
IMAGE_RE = re.compile(r"^[\w#\.\/\- ]*\|?~?[\w\.\/\-:@ ]*$", re.ASCII)
PTERODACTYL_ENV_RE = re.compile(r"^[\w]{1,191}$", re.ASCII)
ALPHA_DASH_RE = re.compile(r"^[\w-]+$")  # \pL\pM\pN_- with /u: Python's unicode \w is close
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")  # RFCValidation: a local part and a domain, no DNS
PTERODACTYL_VARIABLE_COLUMNS = {
    *["name", "description", "env_variable", "default_value", "user_viewable", "user_editable", "rules"],
    "field_type",  # unset by EggVariableObserver before the insert
}
PELICAN_VARIABLE_COLUMNS = {
    *[
        "sort",
        "name",
        "description",
        "env_variable",
        "default_value",
        "user_viewable",
        "user_editable",
        "rules",
    ],
}
BOOLEANS = (True, False, 0, 1, "0", "1")


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _is_json(value) -> bool:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


class _Check:
    def __init__(self):
        self.problems: list[str] = []

    def fail(self, field: str, message: str):
        self.problems.append(f"{field}: {message}")

    def rules(self, field: str, value, *rules: str):
        if "required" in rules and _empty(value):
            return self.fail(field, "is required")
        if value is None and "nullable" in rules:
            return None
        if isinstance(value, str) and not value.strip():  # non-implicit rules skip empty strings
            return None
        for rule in rules:
            name, _, argument = rule.partition(":")
            if name == "string" and not isinstance(value, str):
                self.fail(field, "must be a string")
            elif name == "array" and not isinstance(value, list | dict):
                self.fail(field, "must be an array")
            elif name == "json" and not _is_json(value):
                self.fail(field, "must be a valid JSON string")
            elif name == "boolean" and value not in BOOLEANS:
                self.fail(field, "must be true or false")
            elif name == "email" and not (isinstance(value, str) and EMAIL_RE.match(value)):
                self.fail(field, "must be a valid email address")
            elif name == "max" and isinstance(value, str) and len(value) > int(argument):
                self.fail(field, f"must be at most {argument} characters")
            elif name == "max" and isinstance(value, list | dict) and len(value) > int(argument):
                self.fail(field, f"must have at most {argument} items")
            elif name == "min" and isinstance(value, list | dict) and len(value) < int(argument):
                self.fail(field, f"must have at least {argument} items")
            elif name == "between" and isinstance(value, str):
                low, high = (int(a) for a in argument.split(","))
                if not low <= len(value) <= high:
                    self.fail(field, f"must be {low} to {high} characters")
            elif name == "size" and isinstance(value, str) and len(value) != int(argument):
                self.fail(field, f"must be {argument} characters")
        return None


def _get(data, path: str):
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def pterodactyl_problems(egg: dict) -> list[str]:
    """Why Pterodactyl's importer would refuse `egg` (an empty list: it imports)."""
    try:
        parsed = json.loads(json.dumps(egg))  # the upload is JSON; PHP decodes {} and [] alike
    except (TypeError, ValueError):
        return ["the file is not JSON"]
    if _get(parsed, "meta.version") not in ("PTDL_v1", "PTDL_v2"):
        return ["meta.version: the JSON file provided is not in a format that can be recognized"]
    if parsed["meta"]["version"] == "PTDL_v1":
        images = parsed.pop("images", None) or [parsed.pop("image", None) or "nil"]
        parsed["docker_images"] = {image: image for image in images}
    check = _Check()
    denylist = parsed.get("file_denylist")
    check.rules("name", parsed.get("name"), "required", "string", "max:191")
    check.rules("description", parsed.get("description"), "string", "nullable")
    check.rules("features", parsed.get("features"), "array", "nullable")
    check.rules("author", parsed.get("author"), "required", "string", "email")
    check.rules("file_denylist", [v for v in denylist or [] if not _empty(v)], "array", "nullable")
    for index, entry in enumerate(v for v in denylist or [] if not _empty(v)):
        check.rules(f"file_denylist.{index}", entry, "string")
    images = parsed.get("docker_images")
    check.rules("docker_images", images, "required", "array", "min:1")
    for label, image in (images or {}).items() if isinstance(images, dict) else []:
        check.rules(f"docker_images.{label}", image, "required", "string", "max:191")
        if isinstance(image, str) and not IMAGE_RE.match(image):
            check.fail(f"docker_images.{label}", "format is invalid")
    check.rules("startup", parsed.get("startup"), "required", "nullable", "string")
    check.rules("config_stop", _get(parsed, "config.stop"), "required", "nullable", "string", "max:191")
    for key in ("startup", "logs", "files"):
        check.rules(f"config_{key}", _get(parsed, f"config.{key}"), "required", "nullable", "json")
    check.rules("update_url", _get(parsed, "meta.update_url"), "nullable", "string")
    for key in ("container", "entrypoint"):  # NOT NULL varchar(191) columns
        value = _get(parsed, f"scripts.installation.{key}")
        if not isinstance(value, str) or len(value) > 191:
            check.fail(f"script_{key}", "must be a string of at most 191 characters (a NOT NULL column)")
    for index, variable in enumerate(parsed.get("variables") or []):
        where = f"variables.{index}"
        if unknown := sorted(set(variable) - PTERODACTYL_VARIABLE_COLUMNS):
            check.fail(where, f"no such column: {', '.join(unknown)}")
        check.rules(f"{where}.name", variable.get("name"), "required", "string", "between:1,191")
        check.rules(f"{where}.description", variable.get("description"), "string")
        env = variable.get("env_variable")
        check.rules(f"{where}.env_variable", env, "required")
        if not (isinstance(env, str) and PTERODACTYL_ENV_RE.match(env)):
            check.fail(f"{where}.env_variable", "format is invalid")
        elif env in PTERODACTYL_RESERVED:
            check.fail(f"{where}.env_variable", "is reserved")
        check.rules(f"{where}.default_value", variable.get("default_value"), "string")
        check.rules(f"{where}.user_viewable", variable.get("user_viewable"), "boolean")
        check.rules(f"{where}.user_editable", variable.get("user_editable"), "boolean")
        check.rules(f"{where}.rules", variable.get("rules"), "required", "string")
    return check.problems


def pelican_problems(egg: dict | str) -> tuple[list[str], list[str]]:
    """(why Pelican's importer would refuse `egg`, the variables it would rename). `egg` may be the
    JSON or YAML text."""
    try:
        parsed = yaml.safe_load(egg) if isinstance(egg, str) else json.loads(json.dumps(egg))
    except (TypeError, ValueError, yaml.YAMLError):
        return ["the file is neither JSON nor YAML"], []
    version = _get(parsed, "meta.version")
    if version not in ("PTDL_v1", "PTDL_v2", "PLCN_v1", "PLCN_v2", "PLCN_v3"):
        return ["meta.version: the file format is not recognized"], []
    if version == "PTDL_v1":
        images = parsed.pop("images", None) or [parsed.pop("image", None) or "nil"]
        parsed["docker_images"] = {image: image for image in images}
    if version != "PLCN_v3":
        if "startup" not in parsed:
            return ["startup: undefined array key (convertToV3)"], []
        parsed["startup_commands"] = {"Default": parsed.pop("startup")}
    config = parsed.get("config") if isinstance(parsed.get("config"), dict) else {}
    for key, value in config.items():
        if isinstance(value, list | dict):
            config[key] = json.dumps(value)
    if not isinstance(parsed.get("variables"), list):
        return ["variables: must be a list (count() of a missing key)"], []
    check, renamed = _Check(), []
    uuid = parsed.get("uuid")
    if uuid is not None:
        check.rules("uuid", uuid, "required", "string", "size:36")
    check.rules("name", parsed.get("name"), "required", "string", "max:255")
    check.rules("description", parsed.get("description"), "string", "nullable")
    check.rules("features", parsed.get("features"), "array", "nullable")
    check.rules("author", parsed.get("author"), "required", "string", "email")
    denylist = [v for v in parsed.get("file_denylist") or [] if not _empty(v)]
    for index, entry in enumerate(denylist):
        check.rules(f"file_denylist.{index}", entry, "string")
    images = parsed.get("docker_images")
    check.rules("docker_images", images, "required", "array", "min:1")
    for label, image in (images or {}).items() if isinstance(images, dict) else []:
        check.rules(f"docker_images.{label}", image, "required", "string")
    commands = parsed.get("startup_commands")
    check.rules("startup_commands", commands, "required", "array", "min:1")
    values = list(commands.values()) if isinstance(commands, dict) else []
    for label, command in commands.items() if isinstance(commands, dict) else []:
        check.rules(f"startup_commands.{label}", command, "required", "string")
        if values.count(command) > 1:
            check.fail(f"startup_commands.{label}", "has a duplicate value")
    check.rules("config_stop", config.get("stop"), "required", "nullable", "string", "max:255")
    for key in ("startup", "logs", "files"):  # json_encode(json_decode(x)) is always JSON text
        check.rules(
            f"config_{key}", "null" if config.get(key) is None else config.get(key), "required", "json"
        )
    check.rules("tags", parsed.get("tags", []), "array")
    upper = [str(v.get("env_variable") or "").upper() for v in parsed["variables"] if isinstance(v, dict)]
    if any(env in PELICAN_RESERVED for env in upper):  # then every name is upper-cased (reserved handling)
        renamed += [
            f"{v['env_variable']} → {v['env_variable'].upper()}"
            for v in parsed["variables"]
            if isinstance(v, dict)
            and isinstance(v.get("env_variable"), str)
            and v["env_variable"] != v["env_variable"].upper()
            and v["env_variable"].upper() not in PELICAN_RESERVED
        ]
    for index, variable in enumerate(parsed["variables"]):
        where = f"variables.{index}"
        variable = {k: v for k, v in variable.items() if k != "field_type"}
        if unknown := sorted(set(variable) - PELICAN_VARIABLE_COLUMNS):
            check.fail(where, f"no such column: {', '.join(unknown)}")
        if isinstance(variable.get("default_value"), bool):
            variable["default_value"] = "true" if variable["default_value"] else "false"
        env = str(variable.get("env_variable") or "").upper()
        if env in PELICAN_RESERVED:
            renamed.append(f"{env} → SERVER_{env}")
            env = f"SERVER_{env}"
        check.rules(f"{where}.env_variable", env, "required", "between:1,255")
        if env and not ALPHA_DASH_RE.match(env):
            check.fail(f"{where}.env_variable", "must only contain letters, numbers, dashes and underscores")
        check.rules(f"{where}.name", variable.get("name"), "required", "string", "between:1,255")
        check.rules(f"{where}.description", variable.get("description"), "string")
        check.rules(f"{where}.default_value", variable.get("default_value"), "string")
        check.rules(f"{where}.user_viewable", variable.get("user_viewable"), "boolean")
        check.rules(f"{where}.user_editable", variable.get("user_editable"), "boolean")
        rules = variable.get("rules")
        rules = rules if isinstance(rules, list) else str(rules if rules is not None else "").split("|")
        for position, rule in enumerate(rules):
            check.rules(f"{where}.rules.{position}", rule, "string")
    return check.problems, renamed
