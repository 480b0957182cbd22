"""What a config-file rule writes for one setting (shared by the parsers in configfiles*.py)."""

Value = str | dict[str, str]  # a string, or Pterodactyl's conditional {"<current>": "<new>"}


class BadConfigFile(ValueError):
    """The file's text is not what its parser reads (broken json, an xml bomb…): left as it is."""


def choose(value: Value | None, current: str | None) -> str | None:
    """The text to write for a setting whose current text is `current` (None: the setting is not in
    the file), or None to leave it: a string always applies, a conditional mapping only when the
    current text is one of its keys."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if current is None:
        return None
    return value.get(current)
