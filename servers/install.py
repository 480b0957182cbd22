"""The install, as Wings runs it: the template's script copied into a throw-away container at
/mnt/install/install.sh (a file in the container, not a second bind mount: nothing of the node's but the
server's own directory is mounted), the server's files at /mnt/server, the template's install image and
`<entrypoint> /mnt/install/install.sh` with the server's environment. Afterwards Hearth hands the files
to the game's user (the install fails if it cannot, or if the image's entrypoint never ran the wrapper
that does it), and a deadline bounds the whole."""

import logging
import shlex
import threading
import time

from django.conf import settings
from django.core.exceptions import ValidationError

from config.limits import SCRIPT_CHARS
from nodes.client import NodeClient
from servers import console
from servers.models import Server
from servers.runtime import (
    LABEL,
    InstallFailed,
    container_user,
    ensure_directory,
    ensure_image,
    environment,
    remove_container,
    resource_limits,
)
from templates_app.validators import validate_entrypoint

logger = logging.getLogger(__name__)

SCRIPT_PATH = "/mnt/install/install.sh"
# Copied in empty and writable by any user (the install may run as the game's), in the container only.
STATUS_PATH = "/mnt/install/status"
RAN = "ran"
CHOWN_FAILED = "Could not hand the server's files to the game's user (chown failed): the install failed."
NEVER_RAN = (
    "The install script never ran: the install image's ENTRYPOINT ignored the command Hearth gave it "
    "(Wings runs `<entrypoint> /mnt/install/install.sh` through it). Use an image whose entrypoint runs "
    "its arguments, or turn off use_image_entrypoint on the template."
)

INSTALL_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "KILL"]


def _install_identity(template, user: str) -> dict:
    """Root with a few file capabilities only for the template's own install image (staff chose it,
    as Pterodactyl eggs expect); without one the game image installs as the game's user, no capabilities."""
    if template.install_image:
        return {"cap_add": INSTALL_CAPS}
    return {"user": user}


def _install_entrypoint(template) -> list | None:
    """Wings replaces only the command: an egg's install image keeps its ENTRYPOINT (the yolks' tini,
    say), None here. Hearth's own templates, and the game's image standing in for a missing install
    image (its entrypoint may run the game), have it cleared."""
    return None if template.use_image_entrypoint and template.install_image else []


def install_command(entry: str, user: str) -> str:
    """Wings' command (`<entrypoint> /mnt/install/install.sh`), then the files handed to the game's
    user: the links themselves and never what they point to (`-h`: some chowns follow links under -R).
    A chown that fails fails the install (files left root's would not run). The wrapper says it ran in
    STATUS_PATH: an image's ENTRYPOINT that ignores its command (or is `sh -c`) skips the script and the
    chown and may still exit 0, and the panel would otherwise call that installed."""
    return (
        f"{shlex.quote(entry)} {SCRIPT_PATH}; code=$?; echo {RAN} > {STATUS_PATH}; "
        f"chown -R -h {shlex.quote(user)} /mnt/server || {{ echo {shlex.quote(CHOWN_FAILED)}; exit 70; }}; "
        "exit $code"
    )


def install_script(template) -> bytes:
    """The script as Wings writes it (CRLF made LF), refused when no editor could have saved it: a row
    written around the validation must not run an entrypoint that is not a program name, nor a script
    of any length."""
    try:
        validate_entrypoint(template.install_entrypoint or "sh")
    except ValidationError as exc:
        raise InstallFailed(f"The template's install entrypoint is refused: {exc.messages[0]}") from exc
    script = template.install_script.replace("\r\n", "\n")
    if len(script) > SCRIPT_CHARS:
        raise InstallFailed(f"The install script is longer than {SCRIPT_CHARS} characters.")
    return script.encode()


def run_install(client: NodeClient, server: Server, on_output=None) -> None:
    """Run the template's install script in a throw-away container with the files at /mnt/server."""
    template = server.template
    path = ensure_directory(client, server)
    user = container_user(server, client)
    if not template.install_script.strip():
        console.write(server.pk, "The template has no install script; nothing to run.")
        return
    script = install_script(template)  # refused before any pull
    image = template.install_image or server.docker_image
    # The game's own image was ensured (and refreshed, by policy) by the install task just before.
    ensure_image(client, server, image, refresh=None if image != server.docker_image else False)
    env = environment(server)
    wrapper = install_command(template.install_entrypoint or "sh", user)
    name = f"hearth-install-{server.pk}"
    remove_container(client, name)
    limits = {**resource_limits(server), "init": False, **_install_identity(template, user)}
    limits["mem_limit"] = limits["memswap_limit"] = max(limits["mem_limit"], 1024 * 1024 * 1024)
    container = client.create_container(
        {
            "image": image,
            "name": name,
            "command": ["/bin/sh", "-c", wrapper],
            "entrypoint": _install_entrypoint(template),
            "environment": env,
            "working_dir": "/mnt/server",
            "labels": {LABEL: str(server.pk), "hearth.role": "install"},
            "volumes": {path: {"bind": "/mnt/server", "mode": "rw"}},
            "stdin_open": False,
            **limits,
            "network_mode": "bridge",
        }
    )
    try:
        client.copy_into(container, SCRIPT_PATH, script)  # before the start, as Wings' file is there
        client.copy_into(container, STATUS_PATH, b"", mode=0o666)
        ensure_directory(client, server)  # again: the pull may have taken minutes since the first check
        client.start_container(container)
        code, tail = _watch_install(client, server, container, on_output)
        if (client.read_container_file(container, STATUS_PATH, limit=64) or b"").strip() != RAN.encode():
            raise InstallFailed(NEVER_RAN)
        if code != 0:
            last = "\n".join(tail[-5:])
            raise InstallFailed(f"The install script exited with code {code}. Last output:\n{last}")
    finally:
        remove_container(client, name)


def _watch_install(client: NodeClient, server: Server, container: str, on_output) -> tuple[int, list[str]]:
    """Relay the install's output while a deadline runs on its own: a log stream is read without a
    socket timeout, so a script that prints nothing would otherwise hold this worker forever.

    Returns (exit code, last lines); past HEARTH_INSTALL_TIMEOUT the container is killed and the install
    fails."""
    limit = settings.SERVER_INSTALL_TIMEOUT_SECONDS
    tail: list[str] = []

    def relay() -> None:
        output = None
        try:
            output = client.follow_logs(container, 0)
            for frames in output:
                for _, chunk in frames:
                    for text in chunk.decode(errors="replace").splitlines():
                        tail[:] = [*tail[-19:], text]
                        console.write_lines(server.pk, "stdout", [text])
                        if on_output:
                            on_output(text)
        except Exception as exc:  # the stream broke or the container went away: the deadline still runs
            logger.debug("Install output of %s ended: %s", server.pk, exc)
        finally:
            if output is not None:
                output.close()

    reader = threading.Thread(target=relay, daemon=True, name=f"install-{str(server.pk)[:8]}")
    reader.start()
    deadline = time.monotonic() + limit
    while True:
        step = max(0.0, min(1.0, deadline - time.monotonic()))
        reader.join(timeout=step)  # returns early when the script ends (its output does)
        code = client.wait_exit(container, 0 if reader.is_alive() else step)  # a broken stream: poll
        if code is not None:
            reader.join(timeout=settings.NODE_TIMEOUT_SECONDS)  # the last lines, already written
            return code, tail
        if time.monotonic() >= deadline:
            logger.warning("Install of %s timed out after %s s; killing its container", server.pk, limit)
            console.write(server.pk, f"The install script ran longer than {limit} s; stopping it.")
            client.signal(container, "SIGKILL")
            client.wait_exit(container, settings.NODE_TIMEOUT_SECONDS)
            reader.join(timeout=settings.NODE_TIMEOUT_SECONDS)
            raise InstallFailed(f"Install timed out after {limit} s.")
