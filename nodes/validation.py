"""The one check of every value staff give a node (and a server's network mode): the API's serializers,
the admin's forms and the services all call `clean_node_fields`, so no door skips a rule.

These values end up in root's hands on the node: the enrollment script, `mkdir`/`chown` of the data
dir, bind mounts, the address the panel connects to. So each is held to a small, safe shape rather
than escaped at every use.
"""

import ipaddress
import posixpath
import re
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError

from config.errors import InvalidInput

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]+")
SSH_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
SSH_URL = re.compile(r"ssh://(?P<user>[^@/]*)@(?P<host>\[[^\]/]*\]|[^:/\[\]@]*)(?::(?P<port>[0-9]{1,5}))?")

# A data dir is made and chowned to the node user by root, and server dirs under it are bind-mounted
# into containers: never a system directory, nor anything under one.
SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
    "/sbin", "/sys", "/usr", "/var/run", "/var/lib/docker", "/var/lib/containerd",
)  # fmt: skip
# ...and never one of these directories itself (under them is fine: /var/lib/hearth, /srv/hearth).
SYSTEM_DIRS = ("/", "/home", "/mnt", "/media", "/opt", "/srv", "/tmp", "/var", "/var/lib", "/var/tmp")  # noqa: S108

DOCKER_URL_HINT = (
    "unix:///var/run/docker.sock for this machine's engine, or ssh://user@host:port for a remote one."
)

# `host` would give a game the node's own network (the engine's and sshd's loopback ports, every
# other container's published ports); `container:<id>` would join another customer's server.
NETWORK_MODES = ("bridge",)


class Invalid(ValueError):
    """A value refused, with the sentence shown to staff."""


def check_name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise Invalid(
            "Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it names the node in its key and script)."
        )
    return value


def check_host(value: str) -> str:
    """A DNS name or an IP address (IPv6 with or without brackets)."""
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if "%" in bare:  # a scope id ("fe80::1%eth0") is free text
        raise Invalid("An IPv6 scope id is not allowed here.")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return value
    labels = value.removesuffix(".").split(".")
    if len(value) > 253 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        raise Invalid("Use a host name (letters, digits, '-' and '.') or an IP address.")
    return value


def check_data_dir(value: str) -> str:
    """An absolute, normalised path of safe characters, outside the system's directories."""
    path = value.rstrip("/") or "/"
    tidy = SAFE_PATH.fullmatch(path) and posixpath.normpath(path) == path and "//" not in path
    if not tidy or len(path) > 255:
        raise Invalid(
            "Use an absolute path of letters, digits, '.', '_', '-' and '/', without '..', '.' or '//'."
        )
    if path in SYSTEM_DIRS or any(path == tree or path.startswith(f"{tree}/") for tree in SYSTEM_TREES):
        raise Invalid(f"{path} is a system directory: use a directory of its own, such as /var/lib/hearth.")
    return path


def local_sockets() -> set[str]:
    return {posixpath.normpath(path) for path in settings.NODE_LOCAL_SOCKETS}


def check_docker_url(value: str) -> str:
    """unix:// only for a socket staff allowed (HEARTH_NODE_LOCAL_SOCKETS); ssh://user@host[:port]."""
    if value.startswith("unix://"):
        path = value.removeprefix("unix://")
        if posixpath.normpath(path) not in local_sockets() or path != posixpath.normpath(path):
            allowed = ", ".join(f"unix://{p}" for p in sorted(local_sockets()))
            raise Invalid(
                f"This socket is not allowed for a node: use {allowed} (HEARTH_NODE_LOCAL_SOCKETS)."
            )
        return value
    match = SSH_URL.fullmatch(value)
    if not match:
        raise Invalid(f"Use {DOCKER_URL_HINT}")
    if not SSH_USER.fullmatch(match["user"]):
        raise Invalid("The SSH user must be a Unix user name (lower-case letters, digits, '_' and '-').")
    check_host(match["host"])
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        raise Invalid("The SSH port must be between 1 and 65535.")
    return value


def check_network_mode(value: str) -> str:
    if value not in NETWORK_MODES:
        raise Invalid(f"Network mode must be one of: {', '.join(NETWORK_MODES)}.")
    return value


def network_mode_validator(value: str) -> None:
    """The model field's validator (admin forms, full_clean): the same rule as the services'."""
    try:
        check_network_mode(value)
    except Invalid as exc:
        raise DjangoValidationError(str(exc)) from exc


def clean_network_mode(fields: Mapping) -> dict:
    """A server's create/update values with network_mode checked; 400 otherwise."""
    if "network_mode" in fields:
        try:
            check_network_mode(fields["network_mode"])
        except Invalid as exc:
            raise InvalidInput({"network_mode": [str(exc)]}) from exc
    return dict(fields)


CHECKS = {
    "name": check_name,
    "hostname": check_host,
    "public_address": check_host,
    "data_dir": check_data_dir,
    "docker_url": check_docker_url,
}


def clean_node_fields(fields: Mapping, *, required: tuple[str, ...] = ()) -> dict:
    """`fields` with every node value checked (and the data dir normalised); 400 naming each bad field."""
    cleaned, errors = dict(fields), {}
    for field in required:
        if not fields.get(field):
            errors[field] = [
                "Required: " + (DOCKER_URL_HINT if field == "docker_url" else "it may not be empty.")
            ]
    for field, check in CHECKS.items():
        if field in errors or field not in fields:
            continue
        value = fields[field]
        try:
            if not isinstance(value, str):
                raise Invalid("Must be text.")
            cleaned[field] = check(value)
        except Invalid as exc:
            errors[field] = [str(exc)]
    if errors:
        raise InvalidInput(errors)
    return cleaned
