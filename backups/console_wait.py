"""A running server's save around its backup: the template's before commands typed on the console
(e.g. `save-off`, `save-all`), the line that says the save is done waited for, then, once the archive is
made or has failed, the after commands (`save-on`). Output is read from the console history the monitor
keeps in Redis (servers/console.py), so no second attach to the game is needed."""

import contextlib
import json
import time

import redis
from django.conf import settings

from config.errors import Unavailable
from nodes.client import client_for
from servers import console, runtime
from servers.models import Server
from templates_app.ready import matcher

POLL_SECONDS = 0.2
SCAN_LINES = 500  # newest history entries read per poll: more than a save prints between two polls


def command_lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def game_lines_since(server_id, since: float) -> list[str]:
    """The game's output lines (not the panel's own) recorded at or after `since` (time.time())."""
    try:
        raw = console.connection().lrange(console.history_key(server_id), -SCAN_LINES, -1)
    except redis.RedisError:
        return []
    lines = []
    for item in raw:
        entry = json.loads(item)
        if entry.get("stream") != "system" and entry.get("ts", 0) >= since:
            lines.extend(entry.get("data", "").splitlines())
    return lines


def wait_for_line(server_id, pattern: str, *, since: float, timeout: float, is_regex: bool = False) -> str:
    """The first game line matching `pattern` (text the line contains or, with `is_regex`, an RE2
    expression: the ready pattern's convention, templates_app/ready.py) since `since`; Unavailable
    after `timeout` seconds."""
    found = matcher(pattern, is_regex)
    deadline = time.monotonic() + timeout
    while True:
        for line in game_lines_since(server_id, since):
            if found(line):
                return line
        if time.monotonic() >= deadline:
            raise Unavailable(
                f"The game did not report its save done (a line matching {pattern!r}) within {timeout:g} s."
            )
        time.sleep(POLL_SECONDS)


def _type(server: Server, commands: list[str]) -> None:
    client = client_for(server.node)
    for command in commands:
        runtime.send_stdin(client, server, command)


@contextlib.contextmanager
def save_commands(server: Server, lease):
    """Around the archive of `server`: nothing for a server that is not running (or a template without
    save commands); else the before commands and the done line, and the after commands at the end
    whatever happened (a game left with saving off would lose the players' progress)."""
    template = server.template
    before, after = (
        command_lines(template.backup_before_commands),
        command_lines(template.backup_after_commands),
    )
    pattern = template.backup_done_pattern
    server.refresh_from_db(fields=["status", "container_id"])
    if server.status != Server.Status.RUNNING or not (before or after or pattern):
        yield
        return
    since = time.time()  # taken before the first command: the save it asks for is stamped after it
    try:
        lease.beat(
            progress=3, line=f"Saving the game before the backup: {', '.join(before) or '(no command)'}"
        )
        _type(server, before)
        if pattern:
            wait_for_line(
                server.pk,
                pattern,
                since=since,
                timeout=settings.BACKUP_SAVE_TIMEOUT_SECONDS,
                is_regex=template.backup_done_pattern_is_regex,
            )
        yield
    finally:
        send_after_commands(server)


def send_after_commands(server: Server) -> None:
    """The template's after commands (`save-on`), typed on the console of a running server; a failure is
    said on the console, never raised (the archive's outcome stands). The reaper calls this too: a
    worker killed between the before and the after commands would leave the game with saving off."""
    after = command_lines(server.template.backup_after_commands)
    if not after:
        return
    try:
        _type(server, after)
    except Exception as exc:
        console.write(server.pk, f"Could not send the after-backup commands: {exc}")
