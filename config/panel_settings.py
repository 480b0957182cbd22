"""The settings half of the panel backup: `settings.env`, the environment the panel's data depends on, and
the comparison of an archive's keys with this installation's.

Node SSH keys, TOTP seeds and database-host passwords are encrypted with ENCRYPTION_KEY (config/crypto.py),
which is HEARTH_ENCRYPTION_KEY or, unset, SECRET_KEY: a restored database is only readable where the same
key (or one of HEARTH_OLD_ENCRYPTION_KEYS) is configured. settings.env holds every variable the settings
read that the environment sets (read from config/*.py's `env(...)` calls), SECRET_KEY always, each value
single-quoted so the file works as a `.env` for django-environ and for Compose (v1 and v2) alike."""

import ast
import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from config.env import BASE_DIR
from config.metrics_dir import DERIVED

_LINE = re.compile(r"\A([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z")


@cache
def variables_read_by_settings() -> frozenset[str]:
    """The names config/*.py reads with `env(NAME, ...)` / `env.int(NAME, ...)`…, found in their source."""
    names = set()
    for module in (BASE_DIR / "config").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(), filename=str(module))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func, first = node.func, node.args[0]
            reads_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            if reads_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return frozenset(names)


def quote(value: str) -> str:
    if "'" not in value and "\n" not in value and "\r" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def settings_env(*, secret_key: str, environ=os.environ, header: str = "") -> str:
    """The text of settings.env: SECRET_KEY (the one in use, wherever it came from) and every variable the
    settings read that `environ` sets, sorted."""
    values = {name: environ[name] for name in variables_read_by_settings() if name in environ}
    if values.get("PROMETHEUS_MULTIPROC_DIR") and values["PROMETHEUS_MULTIPROC_DIR"] == environ.get(DERIVED):
        del values["PROMETHEUS_MULTIPROC_DIR"]  # derived from the var dir by this process, not configured
    values["SECRET_KEY"] = secret_key
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"{name}={quote(value)}" for name, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


def parse_settings_env(text: str) -> dict[str, str]:
    """settings.env back to a dict (as settings_env wrote it); anything else is refused, never evaluated."""
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"settings.env line {number} is not NAME=value")
        name, raw = match.groups()
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            value = raw[1:-1]
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), raw[1:-1])
        else:
            value = raw
        values[name] = value
    return values


def fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, to compare two without printing either."""
    return hashlib.sha256(f"hearth-key-fingerprint:{key}".encode()).hexdigest()[:12]


@dataclass
class Running:
    """This installation's keys, and whether SECRET_KEY / HEARTH_ENCRYPTION_KEY come from the environment
    (if SECRET_KEY comes from var/secret_key instead, restoring the archive's var/secret_key replaces it)."""

    secret_key: str
    encryption_key: str
    old_encryption_keys: list[str]
    jwt_signing_key: str
    secret_key_from_environment: bool
    encryption_key_from_environment: bool


@dataclass
class KeyReport:
    """What a restore of the archive means for the keys: errors refuse it (without --force), warnings not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    secret_key_restored_from_file: bool = False


def compare_keys(archived: dict[str, str], archived_secret_file: str | None, running: Running) -> KeyReport:
    report = KeyReport()
    old_secret = archived.get("SECRET_KEY", "")
    old_encryption = archived.get("HEARTH_ENCRYPTION_KEY") or old_secret
    old_rotated = [key for key in archived.get("HEARTH_OLD_ENCRYPTION_KEYS", "").split(",") if key]
    secret, encryption = running.secret_key, running.encryption_key
    if not running.secret_key_from_environment and archived_secret_file:
        # var/secret_key comes back with the data: the next start of every process reads the archive's key.
        report.secret_key_restored_from_file = True
        secret = archived_secret_file.strip()
        if not running.encryption_key_from_environment:
            encryption = secret
    usable = {encryption, *running.old_encryption_keys}
    where = (
        "in the environment of every panel process (the project's .env under `make run`; .env or the "
        "services' environment under docker compose)"
    )
    get_them = (
        "The values are in the archive's settings.env: `python manage.py panel_restore ARCHIVE --write-env "
        "PATH` writes it out (mode 0600). Set them, then run the restore again."
    )
    if old_encryption not in usable:
        if archived.get("HEARTH_ENCRYPTION_KEY"):
            what = "HEARTH_ENCRYPTION_KEY to the archive's HEARTH_ENCRYPTION_KEY"
        else:
            what = (
                "SECRET_KEY to the archive's SECRET_KEY (or, keeping this SECRET_KEY, HEARTH_ENCRYPTION_KEY "
                "to the archive's SECRET_KEY)"
            )
        report.errors.append(
            f"The archive's data is encrypted with another key (fingerprint {fingerprint(old_encryption)}; "
            f"this installation's is {fingerprint(encryption)}): after the restore the nodes' SSH keys and "
            f"the users' two-factor seeds could not be decrypted. Set {what} {where}. {get_them}"
        )
    if missing := [key for key in old_rotated if key not in usable]:
        report.errors.append(
            f"The archive still decrypts rows with {len(missing)} older key(s) (HEARTH_OLD_ENCRYPTION_KEYS, "
            f"fingerprints {', '.join(map(fingerprint, missing))}) this installation does not have: set "
            f"HEARTH_OLD_ENCRYPTION_KEYS to the archive's {where}. {get_them}"
        )
    if old_secret and old_secret != secret:
        report.warnings.append(
            f"SECRET_KEY differs from the archive's (fingerprint {fingerprint(old_secret)}; this installation's "
            f"is {fingerprint(secret)}): sessions and password-reset links signed before the "
            f"backup (and JWTs, when JWT_SIGNING_KEY is not set) will not be accepted, so everyone signs in "
            f"again. To keep them set SECRET_KEY to the "
            f"archive's {where}."
        )
    old_jwt = archived.get("JWT_SIGNING_KEY") or old_secret
    jwt = secret if running.jwt_signing_key == running.secret_key else running.jwt_signing_key
    if old_jwt and old_jwt != jwt and (archived.get("JWT_SIGNING_KEY") or old_secret == secret):
        report.warnings.append(
            "JWT_SIGNING_KEY differs from the archive's: access and refresh tokens issued before the backup "
            f"will not be accepted. To keep them set JWT_SIGNING_KEY to the archive's {where}."
        )
    return report


def write_private(path: Path, text: str) -> None:
    """Write a new file readable by its owner only; an existing one is never replaced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
