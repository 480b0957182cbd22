"""What a console command may be, for every way one arrives (REST `POST …/command`, WebSocket `console_input`)."""

MAX_COMMAND_CHARS = 4096
ONE_LINE = "Send one command at a time (no line breaks)."


class BadCommand(ValueError):
    """The text is not one command line; the message says why."""


def command_line(text) -> str:
    """The command as it goes to the game's stdin (one trailing newline allowed and dropped)."""
    if not isinstance(text, str) or not text.strip():
        raise BadCommand("The command must be a non-empty string.")
    if len(text) > MAX_COMMAND_CHARS:
        raise BadCommand(f"The command is over {MAX_COMMAND_CHARS} characters.")
    line = text.rstrip("\n")
    if "\n" in line or "\r" in line:  # a CR ends a line for many games' readers as well
        raise BadCommand(ONE_LINE)
    return line
