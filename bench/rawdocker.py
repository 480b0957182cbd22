"""Raw baselines' containers, made with docker-py directly (not through the panel): the panel's own
container spec (bench/adapter.container_spec) with some of it overridden — the baseline's name, its
copy of the server's directory, its port, its labels."""


def create_from_spec(api, spec: dict, **overrides) -> dict:
    """Create a container on docker-py APIClient `api` as the panel creates a server's: same image,
    command, user, stdin, limits, init, tmpfs, log driver. Returns the engine's answer."""
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
        detach=not spec.get("stdin_once", True),  # docker-py sets StdinOnce for attached creates
        tty=False,
        labels=spec["labels"],
        ports=[tuple(port.split("/")) for port in spec["ports"]],
        host_config=host_config,
    )
