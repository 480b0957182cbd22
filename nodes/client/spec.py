"""A container from our own spec (servers.runtime.container_spec's dict): the engine's host config and
create call, in one place."""

import docker


def host_config(api: docker.APIClient, spec: dict) -> dict:
    return api.create_host_config(
        binds=spec["volumes"],
        port_bindings=spec.get("port_bindings") or None,
        tmpfs=spec.get("tmpfs"),
        mem_limit=spec["mem_limit"],
        memswap_limit=spec["memswap_limit"],
        nano_cpus=spec["nano_cpus"],
        pids_limit=spec["pids_limit"],
        blkio_weight=spec["blkio_weight"],
        security_opt=spec["security_opt"],
        cap_drop=spec["cap_drop"],
        cap_add=spec.get("cap_add"),
        privileged=False,
        init=spec.get("init", True),
        restart_policy=spec["restart_policy"],
        log_config=spec["log_config"],
        read_only=spec.get("read_only", False),
        network_mode=spec["network_mode"],
        ipc_mode=spec.get("ipc_mode"),
    )


def create_from_spec(api: docker.APIClient, spec: dict) -> dict:
    """Create a container from a spec; the engine's answer ({"Id": …, "Warnings": …}).

    Keys beyond the game's (servers.runtime.container_spec): `entrypoint` ([] clears the image's),
    `cap_add`, `stdin_open` (default on); `user`, `ports`, `port_bindings`, `tmpfs` may be absent."""
    stdin_open = spec.get("stdin_open", True)
    return api.create_container(
        image=spec["image"],
        name=spec["name"],
        command=spec.get("command"),
        entrypoint=spec.get("entrypoint"),
        environment=spec["environment"],
        working_dir=spec["working_dir"],
        user=spec.get("user"),
        stdin_open=stdin_open,
        # docker-py sets StdinOnce for an attached (not detached) create with stdin open
        detach=not (stdin_open and spec.get("stdin_once", True)),
        tty=False,
        labels=spec["labels"],
        ports=[tuple(port.split("/")) for port in spec.get("ports", [])] or None,
        host_config=host_config(api, spec),
    )
