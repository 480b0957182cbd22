"""What happens on the node: images, the install container, the game container, stdin, stop and kill.

Called from Celery tasks only (never from a web request). Files inside the server directory are
read and written through the container (the engine's archive endpoints), so a symlink the customer
planted resolves inside the container's filesystem, never on the node's host.
"""

import hashlib
import json
import logging
import posixpath
import time

from django.conf import settings
from django.core.cache import cache

from nodes.client import (
    ContainerNotFound,
    ContainerState,
    EngineRefused,
    FileTooLarge,
    ImagePullFailed,
    NodeClient,
    NotARegularFile,
)
from nodes.validation import check_network_mode
from servers import console, mounts
from servers.models import Server
from templates_app import configfiles
from templates_app.models import Template
from templates_app.registries import registry_problem
from templates_app.startup import LAUNCH_FILE, LAUNCH_SCRIPT, Rendered, customer_names, launched, launcher
from templates_app.variables import render, render_for_shell, resolve_environment

logger = logging.getLogger(__name__)

LABEL = "hearth.server"


class InstallFailed(Exception):
    pass


def server_dir(server: Server) -> str:
    return mounts.server_dir(server.node.data_dir, server.pk)


def container_user(server: Server, client: NodeClient | None = None) -> str:
    """The uid:gid game containers run as: the SSH user's on remote nodes, so it can manage the files."""
    node = server.node
    if node.docker_url.startswith("unix://"):
        return settings.CONTAINER_USER
    user = (node.last_health or {}).get("user")
    if not user and client is not None:
        user = client.login_user()
        node.last_health = {**(node.last_health or {}), "user": user}
        type(node).objects.filter(pk=node.pk).update(last_health=node.last_health)
    return user or settings.CONTAINER_USER


def environment(server: Server) -> dict[str, str]:
    primary = server.primary_allocation
    builtins = {
        "SERVER_MEMORY": str(server.allocated_memory_mb),
        "SERVER_PORT": str(primary.container_port or primary.port) if primary else "",
        "SERVER_IP": primary.ip if primary else "0.0.0.0",  # noqa: S104 - the container's view
        "SERVER_UUID": str(server.pk),
        "TZ": settings.TIME_ZONE,
        "P_SERVER_UUID": str(server.pk),
        "P_SERVER_LOCATION": server.node.location.name,
        "P_SERVER_ALLOCATION_LIMIT": str(server.allocation_limit),
    }
    return resolve_environment(server.template, server.environment, builtins)


def ensure_directory(client: NodeClient, server: Server) -> str:
    """The server's directory, made if missing and checked on the node (servers.mounts): called right
    before every container start, as the engine resolves the bind mount only then."""
    owner = container_user(server) if client.is_local else ""
    return mounts.prepare(client, data_dir=server.node.data_dir, server_id=server.pk, owner=owner)


def ensure_image(client: NodeClient, server: Server, image: str, *, refresh: bool | None = None) -> str:
    """Make sure `image` is on the node: pulled when missing, or also when present if `refresh` (by
    default: the template's pull policy is `always`); then a registry that does not answer leaves the
    node's copy in use, with a note. Returns the image's id on the node."""
    if refresh is None:
        refresh = server.template.pull_policy == Template.PullPolicy.ALWAYS
    present = client.image_id(image)
    if present and not refresh:
        return present
    if problem := registry_problem(image):  # saved before the rule, or its name resolves differently now
        if not present:
            raise InstallFailed(
                f"The image {image} is not on node '{server.node.name}' and is not pulled: {problem}"
            )
        console.write(server.pk, f"Not refreshing {image}: {problem} Using the copy on the node.")
        return present
    try:
        _pull(client, server, image)
    except ImagePullFailed as exc:
        if not present:
            raise InstallFailed(
                f"The image {image} is not on node '{server.node.name}' and could not be pulled: {exc.reason}"
            ) from exc
        console.write(server.pk, f"Could not refresh {image} ({exc.reason}); using the copy on the node.")
        logger.warning(
            "Pull of %s on %s failed, using the node's copy: %s", image, server.node.name, exc.reason
        )
        return present
    return client.image_id(image) or image  # pulled: its new id (the name, should it vanish at once)


def _pull(client: NodeClient, server: Server, image: str) -> None:
    """Pull with progress to the console (one line every 2 s at most)."""
    console.write(server.pk, f"Pulling image {image}…")
    logger.info("Pulling %s on node %s", image, server.node.name)
    last_report = 0.0
    for event in client.pull_image(image):
        if time.monotonic() - last_report > 2 and event.get("status"):
            last_report = time.monotonic()
            console.write(server.pk, f"{event.get('id', '')} {event['status']} {event.get('progress', '')}")
    console.write(server.pk, f"Image {image} is up to date.")


def resource_limits(server: Server) -> dict:
    memory = server.allocated_memory_mb * 1024 * 1024
    return {
        "mem_limit": memory,
        "memswap_limit": memory + server.allocated_swap_mb * 1024 * 1024,
        "nano_cpus": int(server.allocated_cpu_cores * 1_000_000_000),
        "pids_limit": server.pids_limit,
        "blkio_weight": server.io_weight,
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "privileged": False,
        "init": True,
        "restart_policy": {"Name": "no"},
        "log_config": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    }


def startup_command(template, env: dict[str, str]) -> Rendered:
    """The start command for the shell, each variable a reference to the environment (templates_app.startup)."""
    return render_for_shell(template.start_command, env, customer=customer_names(template))


def shell_for(client: NodeClient, server: Server, image_id: str) -> str:
    """/bin/bash when the server's image has it, else /bin/sh: asked once per node and image id (a
    created, never started container), then remembered."""
    key = f"runtime:shell:{server.node_id}:{image_id}"
    shell = cache.get(key)
    if shell is None:
        try:
            shell = "/bin/bash" if client.image_has_file(image_id, "/bin/bash") else "/bin/sh"
        except EngineRefused as exc:  # the engine would not create the probe: sh, asked again next start
            logger.warning("Node %s: could not look for bash in %s: %s", server.node.name, image_id, exc)
            return "/bin/sh"
        cache.set(key, shell, timeout=None)
    return shell


def start_environment(template, env: dict[str, str], shell: str) -> tuple[dict[str, str], list[str] | None]:
    """The game's environment and command: STARTUP always holds the launcher (an entrypoint that runs
    $STARTUP runs the rendered command, values as data); with `use_image_entrypoint` the image's
    ENTRYPOINT and CMD run it, as Wings creates the container; else `shell -c` runs it directly."""
    rendered = startup_command(template, env)
    panel = {
        "HEARTH_STARTUP": launched(rendered.text),
        "STARTUP": launcher(shell, file=not template.read_only_root),
    }
    env = {**env, **rendered.words, **panel}
    if template.use_image_entrypoint or not template.start_command.strip():
        return env, None
    return env, [shell, "-c", rendered.text]


def container_spec(server: Server, *, shell: str = "/bin/sh") -> dict:
    """Everything the game container is created with; its hash tells when it must be recreated."""
    template = server.template
    env, command = start_environment(template, environment(server), shell)
    ports, bindings = [], {}
    for allocation in server.allocations.all():
        inner = allocation.container_port or allocation.port
        for protocol in ("tcp", "udp"):
            ports.append(f"{inner}/{protocol}")
            bindings[f"{inner}/{protocol}"] = (allocation.ip, allocation.port)
    spec = {
        "image": server.docker_image,
        "name": server.container_name,
        "environment": env,
        "working_dir": template.data_path,
        "user": container_user(server),
        "stdin_open": True,
        # Stdin stays open when an attach ends (an operator's `docker attach`, a one-off command): with
        # StdinOnce the first detach closes it for good, and the stop command no longer reaches the game.
        "stdin_once": False,
        "tty": False,
        "labels": {LABEL: str(server.pk), "hearth.role": "game"},
        "volumes": {server_dir(server): {"bind": template.data_path, "mode": "rw"}},
        "ports": sorted(ports),
        "port_bindings": bindings,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},  # noqa: S108 - inside the container
        "read_only": template.read_only_root,
        "network_mode": check_network_mode(server.network_mode),  # a row edited past the checks
        **resource_limits(server),
    }
    if command:
        spec["command"] = command
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    spec["labels"]["hearth.config"] = digest
    return spec


def remove_container(client: NodeClient, name: str) -> None:
    client.remove_container(name)


def ensure_container(client: NodeClient, server: Server) -> ContainerState:
    """The game container, recreated when its configuration changed (resources, variables, ports).

    Reused only when it is the one the panel created (its id recorded on the server): a container that
    merely has the server's name, or its config label, is the node's word, and is replaced."""
    image_id = ensure_image(client, server, server.docker_image, refresh=False)  # a node may prune it
    spec = container_spec(server, shell=shell_for(client, server, image_id))
    current = client.container_state(server.container_name)
    if current is not None:
        ours = bool(server.container_id) and current.id == server.container_id
        if ours and current.labels.get("hearth.config") == spec["labels"]["hearth.config"]:
            return current
        client.remove_container(current.id)
    container_id = client.create_container(spec)
    if not server.template.read_only_root:  # the launcher STARTUP names (templates_app.startup); root's,
        # and written before the id is recorded: a container that lacks it is never reused
        client.put_file(container_id, LAUNCH_FILE, LAUNCH_SCRIPT, owner="0:0")
    server.container_id = container_id  # recorded before it starts: the monitor trusts only this id
    Server.objects.filter(pk=server.pk).update(container_id=container_id)
    return client.inspect(container_id)


def apply_config_files(client: NodeClient, server: Server, container: ContainerState) -> None:
    """Rewrite the template's config files (properties, yaml, json, ini…) with this server's values.

    A file over HEARTH_CONFIG_FILE_MAX_BYTES (apparent size: a sparse file counts whole) is skipped
    unread, with a line in the console: reading and rewriting a 64 MB file took 763 MB and 61 s."""
    rules = server.template.config_files or []
    if not rules:
        return
    env = environment(server)
    data_path = server.template.data_path
    limit = settings.CONFIG_FILE_MAX_BYTES
    for rule in rules:
        relative = posixpath.normpath(rule["path"].lstrip("/"))
        if relative.startswith(".."):
            console.write(server.pk, f"Skipped config file {rule['path']}: outside the server directory.")
            continue
        path = posixpath.join(data_path, relative)
        replacements = configfiles.rendered(rule.get("replace", {}), lambda text: render(text, env))
        try:
            data = client.read_container_file(container.id, path, limit=limit)
        except NotARegularFile:
            console.write(server.pk, f"Skipped config file {relative}: it is not a regular file.")
            continue
        except FileTooLarge as exc:
            console.write(
                server.pk,
                f"Skipped config file {relative}: it is {_size(exc.size)}, over the {_size(limit)} the panel "
                "rewrites (HEARTH_CONFIG_FILE_MAX_BYTES). Shrink or delete it to have it managed again.",
            )
            continue
        original = data.decode(errors="replace") if data is not None else None
        try:
            updated = configfiles.rewrite(rule.get("parser", "properties"), original or "", replacements)
        except configfiles.BadConfigFile as exc:  # the customer's file: the game starts, as it is
            console.write(server.pk, f"Skipped config file {relative}: {exc}.")
            continue
        if updated != original and (original is not None or updated):  # no empty file made for nothing
            client.put_file(container.id, path, updated.encode(), owner=container_user(server))


def _size(count: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def start(client: NodeClient, server: Server) -> None:
    ensure_directory(client, server)  # before the engine touches the mount (config files, then the start)
    container = ensure_container(client, server)
    apply_config_files(client, server, container)
    client.start_container(container.id)


def stdin_line(text: str) -> str:
    """A console command as the game reads it: one line, ended by a newline."""
    return text if text.endswith("\n") else f"{text}\n"


def send_stdin(client: NodeClient, server: Server, text: str) -> None:
    """Write a console command to the game's stdin: through the monitor's long-lived attach when it runs
    (attaching and detaching for every command can lose input), else by attaching here."""
    line = stdin_line(text)
    if console.send_command(server, line):
        return
    attach_stdin(client, server, line.encode())


def attach_stdin(client: NodeClient, server: Server, data: bytes) -> None:
    if not server.container_id:
        raise ContainerNotFound(server.node.name, "", "The server has no container on its node yet.")
    stdin = client.attach_stdin(server.container_id)
    try:
        stdin.send(data)
    finally:
        stdin.close()


def stop(client: NodeClient, server: Server, *, timeout: int) -> int | None:
    """Stop gently, then firmly: the template's stop command, then its stop signal (SIGTERM unless the
    template names another), then SIGKILL, each given `timeout` seconds. Returns the exit code."""
    name = server.container_id  # the panel's own container, never whatever holds its name on the node
    state = client.container_state(name) if name else None
    if state is None:
        return None
    if not state.running:
        return state.exit_code
    steps = _stop_steps(server.template)
    for index, (how, value) in enumerate(steps):
        _say_step(server, _describe(how, value, first=index == 0, timeout=timeout))
        if how == "command":
            try:
                send_stdin(client, server, value)
            except (EngineRefused, ContainerNotFound) as exc:  # no attach: on to the signal
                _say_step(server, f"Could not send the stop command: {exc.explanation}")
                continue
        elif not client.signal(name, value):
            return _exit_code(client, name)
        code = client.wait_exit(name, timeout if value != "SIGKILL" else settings.NODE_TIMEOUT_SECONDS)
        if code is not None:
            return code
    _say_step(server, "The server is still running after SIGKILL.")
    return None


def _stop_steps(template) -> list[tuple[str, str]]:
    """[("command", "stop"), ("signal", "SIGTERM"), ("signal", "SIGKILL")]: what a stop tries, in order."""
    steps = [("command", template.stop_command)] if template.stop_command else []
    steps.append(("signal", template.stop_signal or "SIGTERM"))
    if template.stop_signal and template.stop_signal not in ("SIGTERM", "SIGKILL"):
        steps.append(("signal", "SIGTERM"))  # SIGINT, SIGQUIT… ignored: ask the usual way before killing
    if steps[-1] != ("signal", "SIGKILL"):
        steps.append(("signal", "SIGKILL"))
    return steps


def _describe(how: str, value: str, *, first: bool, timeout: int) -> str:
    what = f"the stop command `{value}`" if how == "command" else value
    if value == "SIGKILL":
        return f"The server did not stop within {timeout} s; killing it (SIGKILL)."
    if first:
        return f"Stopping the server: sending {what}."
    return f"The server did not stop within {timeout} s; sending {what}."


def _say_step(server: Server, text: str) -> None:
    logger.info("Server %s: %s", server.pk, text)
    console.write(server.pk, text)


def _exit_code(client: NodeClient, name: str) -> int | None:
    state = client.container_state(name)
    return state.exit_code if state else None


def kill(client: NodeClient, server: Server) -> int | None:
    """SIGKILL at once (the kill action, a suspension); the exit code, or None when it was not running."""
    if not server.container_id or not client.signal(server.container_id, "SIGKILL"):
        return None
    return client.wait_exit(server.container_id, settings.NODE_TIMEOUT_SECONDS)


def destroy(client: NodeClient, server: Server) -> None:
    """Remove the containers and the server's directory from the node."""
    if server.container_id:  # the panel's own, even if something renamed it
        remove_container(client, server.container_id)
    remove_container(client, server.container_name)
    remove_container(client, f"hearth-install-{server.pk}")
    client.remove_files_helper(server.pk)  # it mounts the directory: no session may write into it meanwhile
    path = server_dir(server)
    if not path.startswith(server.node.data_dir.rstrip("/") + "/servers/"):
        raise RuntimeError(f"Refusing to delete {path}: not under the node's servers directory")
    client.remove_tree(path)


def disk_usage_mb(client: NodeClient, server: Server) -> int:
    """The larger of the apparent and the allocated size: a sparse file passes a block count (an
    8 GB `truncate` takes no block) yet every copy, backup or transfer of it moves 8 GB, and a write
    can fill it at any time; blocks count where files are many and tiny, or space is preallocated.
    (The game can `chmod 000` what it filled: see nodes.client.host_files.)"""
    return client.disk_usage_mb(server_dir(server))
