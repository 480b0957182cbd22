"""The egg fields Hearth keeps as the egg wrote them (features, tags, file denylist): lists of short
strings, checked here so that the admin, the API and an egg import refuse the same things.

Caps are far above what community eggs use (a handful of features and tags, a few denylist lines)
and low enough that a template cannot make every console line or every file operation slow."""

import re

from django.core.exceptions import ValidationError

# The features Hearth acts on (servers/features.py); others are kept and exported, with no effect.
KNOWN_FEATURES = ("eula", "java_version", "pid_limit")
MAX_ENTRIES = 50
MAX_DENYLIST_ENTRIES = 200
FEATURE_CHARS = 64
TAG_CHARS = 100
PATTERN_CHARS = 255
FEATURE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _strings(value, *, called: str, cap: int, count: int) -> list[str]:
    if not isinstance(value, list):
        raise ValidationError(f"{called} must be a list of strings.")
    if len(value) > count:
        raise ValidationError(f"{called}: at most {count} entries.")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError(f"{called}: every entry is a non-empty string.")
        if len(item) > cap:
            raise ValidationError(f"{called}: “{item[:40]}…” is longer than {cap} characters.")
        if CONTROL_RE.search(item):
            raise ValidationError(f"{called}: “{item[:40]}” contains a control character or a line break.")
    return value


def validate_features(value) -> None:
    """Egg features such as eula, java_version, pid_limit: names, no spaces."""
    for item in _strings(value, called="Features", cap=FEATURE_CHARS, count=MAX_ENTRIES):
        if not FEATURE_RE.match(item):
            raise ValidationError(
                f"Features: “{item}” is not a feature name (letters, digits, _ . : -), such as eula."
            )


def validate_tags(value) -> None:
    _strings(value, called="Tags", cap=TAG_CHARS, count=MAX_ENTRIES)


def validate_file_denylist(value) -> None:
    """gitignore-style patterns, as Wings reads them (`*.jar`, `/config/secret.yml`, `!keep.jar`): one
    pattern an entry, no line breaks (a newline would be a second pattern), and not one that is only a
    negation or only slashes (it matches nothing, or everything)."""
    for item in _strings(value, called="File denylist", cap=PATTERN_CHARS, count=MAX_DENYLIST_ENTRIES):
        bare = item.strip().lstrip("!").strip("/")
        if not bare:
            raise ValidationError(f"File denylist: “{item}” is not a pattern of files, such as *.jar.")
