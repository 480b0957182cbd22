"""What happens on the node: images, the install container, the game container, stdin, stop and kill.

Called from Celery tasks only (never from a web request). Files inside the server directory are
read and written through the container (`get_archive`/`put_archive`), so a symlink the customer
planted resolves inside the container's filesystem, never on the node's host.
"""

import hashlib
import io
import json
import logging
import os
import posixpath
import shlex
import tarfile
import time

import docker.errors
from django.conf import settings

from nodes.client import NodeClient
from servers import console
from servers.models import Server
from templates_app import configfiles
from templates_app.startup import customer_names
from templates_app.variables import render, render_for_shell, resolve_environment

logger = logging.getLogger(__name__)

LABEL = "hearth.server"
INSTALL_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "KILL"]


class InstallFailed(Exception):
    pass


def server_dir(server: Server) -> str:
    return posixpath.join(server.node.data_dir, "servers", str(server.pk))


def container_user(server: Server, client: NodeClient | None = None) -> str:
    """The uid:gid game containers run as: the SSH user's on remote nodes, so it can manage the files."""
    node = server.node
    if node.docker_url.startswith("unix://"):
        return settings.CONTAINER_USER
    user = (node.last_health or {}).get("user")
    if not user and client is not None:
        user = client.run(["sh", "-c", 'echo "$(id -u):$(id -g)"']).strip()
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
    }
    return resolve_environment(server.template, server.environment, builtins)


def ensure_directory(client: NodeClient, server: Server) -> str:
    path = server_dir(server)
    if client.is_local:
        uid, gid = (int(part) for part in container_user(server).split(":"))
        parent = posixpath.dirname(path)
        if not os.path.isdir(parent):  # owned like the data dir, so an SSH login to the node can use it too
            os.makedirs(parent, exist_ok=True)
            owner = os.stat(server.node.data_dir)
            os.chown(parent, owner.st_uid, owner.st_gid)
        os.makedirs(path, mode=0o750, exist_ok=True)
        os.chown(path, uid, gid)
    else:
        client.run(["mkdir", "-p", "-m", "750", path])
    return path


def pull_image(client: NodeClient, server: Server, image: str) -> None:
    """Pull with progress to the console; an image already on the node is used when the registry fails."""
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    console.write(server.pk, f"Pulling image {image}…")
    last_report = 0.0
    try:
        with client.guard(f"pulling {image}"):
            for event in client.docker.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    raise docker.errors.APIError(event["error"])
                if time.monotonic() - last_report > 2 and event.get("status"):
                    last_report = time.monotonic()
                    console.write(
                        server.pk, f"{event.get('id', '')} {event['status']} {event.get('progress', '')}"
                    )
        console.write(server.pk, f"Image {image} is up to date.")
    except docker.errors.APIError as exc:
        try:
            client.docker.images.get(image)
        except docker.errors.ImageNotFound:
            raise InstallFailed(f"Could not pull {image}: {exc.explanation or exc}") from exc
        console.write(
            server.pk, f"Could not pull {image} ({exc.explanation or exc}); using the copy on the node."
        )


def _limits(server: Server) -> dict:
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


def run_install(client: NodeClient, server: Server, on_output=None) -> None:
    """Run the template's install script in a throw-away container with the files at /mnt/server."""
    template = server.template
    path = ensure_directory(client, server)
    user = container_user(server, client)
    if not template.install_script.strip():
        console.write(server.pk, "The template has no install script; nothing to run.")
        return
    image = template.install_image or server.docker_image
    pull_image(client, server, image)
    env = environment(server)
    entry = template.install_entrypoint or "sh"
    # The script is data in an environment variable; afterwards the files are handed to the game's user.
    wrapper = (
        f'{shlex.quote(entry)} -c "$HEARTH_INSTALL_SCRIPT"; code=$?; chown -R {user} /mnt/server; exit $code'
    )
    name = f"hearth-install-{server.pk}"
    _remove(client, name)
    limits = {**_limits(server), "cap_add": INSTALL_CAPS, "init": False}
    limits["mem_limit"] = limits["memswap_limit"] = max(limits["mem_limit"], 1024 * 1024 * 1024)
    with client.guard("running the install container"):
        container = client.docker.containers.create(
            image,
            command=["/bin/sh", "-c", wrapper],
            entrypoint=[],
            name=name,
            environment={**env, "HEARTH_INSTALL_SCRIPT": template.install_script.replace("\r\n", "\n")},
            working_dir="/mnt/server",
            labels={LABEL: str(server.pk), "hearth.role": "install"},
            volumes={path: {"bind": "/mnt/server", "mode": "rw"}},
            network_mode="bridge",
            **limits,
        )
    try:
        with client.guard("running the install script"):
            container.start()
            deadline = time.monotonic() + settings.SERVER_INSTALL_TIMEOUT_SECONDS
            tail: list[str] = []
            for chunk in container.logs(stream=True, follow=True):
                for text in chunk.decode(errors="replace").splitlines():
                    tail = [*tail, text][-20:]
                    console.write(server.pk, text, stream="stdout")
                    if on_output:
                        on_output(text)
                if time.monotonic() > deadline:
                    container.kill()
                    raise InstallFailed(
                        f"The install script ran longer than {settings.SERVER_INSTALL_TIMEOUT_SECONDS} s."
                    )
            code = container.wait(timeout=settings.NODE_TIMEOUT_SECONDS)["StatusCode"]
        if code != 0:
            last = "\n".join(tail[-5:])
            raise InstallFailed(f"The install script exited with code {code}. Last output:\n{last}")
    finally:
        _remove(client, name)


def startup_command(template, env: dict[str, str]) -> str:
    """The start command for `sh -c`, each variable a reference to the environment (templates_app.startup)."""
    return render_for_shell(template.start_command, env, customer=customer_names(template))


def container_spec(server: Server) -> dict:
    """Everything the game container is created with; its hash tells when it must be recreated."""
    template = server.template
    env = environment(server)
    ports, bindings = [], {}
    for allocation in server.allocations.all():
        inner = allocation.container_port or allocation.port
        for protocol in ("tcp", "udp"):
            ports.append(f"{inner}/{protocol}")
            bindings[f"{inner}/{protocol}"] = (allocation.ip, allocation.port)
    startup = startup_command(template, env)
    spec = {
        "image": server.docker_image,
        "name": server.container_name,
        # Images whose entrypoint runs $STARTUP (Pterodactyl's yolks) get the same safe text: values
        # stay in the environment and are never part of the command.
        "environment": {**env, "STARTUP": startup},
        "working_dir": template.data_path,
        "user": container_user(server),
        "stdin_open": True,
        "tty": False,
        "labels": {LABEL: str(server.pk), "hearth.role": "game"},
        "volumes": {server_dir(server): {"bind": template.data_path, "mode": "rw"}},
        "ports": sorted(ports),
        "port_bindings": bindings,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},  # noqa: S108 - inside the container
        "read_only": template.read_only_root,
        "network_mode": server.network_mode,
        **_limits(server),
    }
    if template.start_command.strip():
        spec["command"] = ["/bin/sh", "-c", startup]
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    spec["labels"]["hearth.config"] = digest
    return spec


def _remove(client: NodeClient, name: str) -> None:
    try:
        with client.guard("removing a container"):
            client.docker.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


def create_container(api, spec: dict, **overrides) -> dict:
    """Create a container from a `container_spec`, some of it overridden (the benchmarks' raw baselines
    use the panel's spec with their own name, directory and port). Returns the engine's answer."""
    spec = {**spec, **overrides}
    host_config = api.create_host_config(
        binds=spec["volumes"],
        port_bindings=spec["port_bindings"],
        tmpfs=spec["tmpfs"],
        mem_limit=spec["mem_limit"],
        memswap_limit=spec["memswap_limit"],
        nano_cpus=spec["nano_cpus"],
        pids_limit=spec["pids_limit"],
        blkio_weight=spec["blkio_weight"],
        security_opt=spec["security_opt"],
        cap_drop=spec["cap_drop"],
        privileged=False,
        init=True,
        restart_policy=spec["restart_policy"],
        log_config=spec["log_config"],
        read_only=spec["read_only"],
        network_mode=spec["network_mode"],
    )
    return api.create_container(
        image=spec["image"],
        name=spec["name"],
        command=spec.get("command"),
        environment=spec["environment"],
        working_dir=spec["working_dir"],
        user=spec["user"],
        stdin_open=True,
        tty=False,
        labels=spec["labels"],
        ports=[tuple(port.split("/")) for port in spec["ports"]],
        host_config=host_config,
    )


def ensure_container(client: NodeClient, server: Server):
    """The game container, recreated when its configuration changed (resources, variables, ports)."""
    spec = container_spec(server)
    with client.guard("preparing the container"):
        try:
            container = client.docker.containers.get(server.container_name)
            if container.labels.get("hearth.config") == spec["labels"]["hearth.config"]:
                return container
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        result = create_container(client.docker.api, spec)
        Server.objects.filter(pk=server.pk).update(container_id=result["Id"])
        return client.docker.containers.get(result["Id"])


def _read_in_container(container, path: str) -> str | None:
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.next()
        if member is None or not member.isfile():
            return None  # a directory or a symlink: never followed
        return archive.extractfile(member).read().decode(errors="replace")


def _write_in_container(container, path: str, text: str, user: str) -> None:
    data = text.encode()
    uid, gid = (int(part) for part in user.split(":"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(posixpath.basename(path))
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, uid, gid, int(time.time())
        archive.addfile(info, io.BytesIO(data))
    container.put_archive(posixpath.dirname(path), buffer.getvalue())


def apply_config_files(client: NodeClient, server: Server, container) -> None:
    """Rewrite the template's config files (properties, yaml, json, ini…) with this server's values."""
    rules = server.template.config_files or []
    if not rules:
        return
    env = environment(server)
    data_path = server.template.data_path
    for rule in rules:
        relative = posixpath.normpath(rule["path"].lstrip("/"))
        if relative.startswith(".."):
            console.write(server.pk, f"Skipped config file {rule['path']}: outside the server directory.")
            continue
        path = posixpath.join(data_path, relative)
        replacements = {key: render(str(value), env) for key, value in rule.get("replace", {}).items()}
        with client.guard(f"rewriting {relative}"):
            original = _read_in_container(container, path)
            if original is None and _exists_as_non_file(container, path):
                console.write(server.pk, f"Skipped config file {relative}: it is not a regular file.")
                continue
            updated = configfiles.rewrite(rule.get("parser", "properties"), original or "", replacements)
            if updated != original:
                _write_in_container(container, path, updated, container_user(server))


def _exists_as_non_file(container, path: str) -> bool:
    try:
        container.get_archive(path)
    except docker.errors.NotFound:
        return False
    return True


def start(client: NodeClient, server: Server) -> None:
    container = ensure_container(client, server)
    apply_config_files(client, server, container)
    with client.guard("starting the container"):
        container.start()


def send_stdin(client: NodeClient, server: Server, text: str) -> None:
    """Write a console command to the game's stdin: through the monitor's long-lived attach when it runs
    (attaching and detaching for every command can lose input), else by attaching here."""
    data = text.encode() if text.endswith("\n") else f"{text}\n".encode()
    if console.send_command(server, data.decode()):
        return
    attach_stdin(client, server, data)


def attach_stdin(client: NodeClient, server: Server, data: bytes) -> None:
    with client.guard("sending a console command"):
        sock = client.docker.api.attach_socket(server.container_name, params={"stdin": 1, "stream": 1})
        try:
            getattr(sock, "_sock", sock).sendall(data)  # a socket behind SocketIO locally, a channel over SSH
        finally:
            sock.close()  # close the wrapper too, or the connection lingers until garbage collection


def stop(client: NodeClient, server: Server, *, timeout: int) -> int | None:
    """The template's stop command (or signal), then a kill after `timeout` seconds. Returns the exit code."""
    template = server.template
    with client.guard("stopping the container"):
        try:
            container = client.docker.containers.get(server.container_name)
        except docker.errors.NotFound:
            return None
        container.reload()
        if container.status != "running":
            return container.attrs["State"].get("ExitCode")
    if template.stop_command:
        send_stdin(client, server, template.stop_command)
    else:
        with client.guard("signalling the container"):
            container.kill(signal=template.stop_signal or "SIGTERM")
    try:
        with client.guard("waiting for the server to stop"):
            return container.wait(timeout=timeout)["StatusCode"]
    except Exception:  # the wait timed out (requests raises its own timeout types through the guard)
        console.write(server.pk, f"The server did not stop within {timeout} s; killing it.")
        return kill(client, server)


def kill(client: NodeClient, server: Server) -> int | None:
    with client.guard("killing the container"):
        try:
            container = client.docker.containers.get(server.container_name)
            container.kill()
            return container.wait(timeout=settings.NODE_TIMEOUT_SECONDS)["StatusCode"]
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if "is not running" in str(exc):
                return None
            raise


def destroy(client: NodeClient, server: Server) -> None:
    """Remove the containers and the server's directory from the node."""
    _remove(client, server.container_name)
    _remove(client, f"hearth-install-{server.pk}")
    path = server_dir(server)
    if not path.startswith(server.node.data_dir.rstrip("/") + "/servers/"):
        raise RuntimeError(f"Refusing to delete {path}: not under the node's servers directory")
    client.run(["rm", "-rf", "--one-file-system", path])


def disk_usage_mb(client: NodeClient, server: Server) -> int:
    out = client.run(["du", "-sm", "--one-file-system", server_dir(server)], check=False)
    return int(out.split()[0]) if out.strip() else 0
