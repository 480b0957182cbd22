"""The lifecycle benchmark's raw baselines: the same start and stop done straight on the engine,
with docker-py and with the docker CLI, on a container made from the panel's own spec."""

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from bench import adapter
from bench.harness import env
from bench.lifecycle.common import BENCH_LABEL, READY, RoundFailed, Target, now
from bench.lifecycle.observe import EngineEvents, engine_ready_time
from bench.rawdocker import create_from_spec


class SdkDriver:
    """docker-py: `start` + follow `logs` until the ready line; `stop` (SIGTERM, waits for the exit)."""

    tool = "docker-py"

    def __init__(self, key: str, label: str, get_api):
        # get_api() is called before each timed call: through nodes.client it reconnects (untimed)
        # when the connection dropped, as the panel does.
        self.key, self.label, self.get_api = key, label, get_api

    def start(self, name: str, timeout: float) -> dict:
        api = self.get_api()
        t0_wall, t0 = now(), time.perf_counter()
        api.start(name)
        started = time.perf_counter()
        stream = api.logs(name, stdout=True, stderr=False, stream=True, follow=True, since=t0_wall)
        buffer, ready = "", None
        try:
            for chunk in stream:
                buffer += chunk.decode(errors="replace")
                if READY in buffer:
                    ready = time.perf_counter()
                    break
                if time.perf_counter() - t0 > timeout:
                    break
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        if ready is None:
            raise RoundFailed("no ready line")
        return {"t0": t0_wall, "total": ready - t0, "call": started - t0}

    def stop(self, name: str, timeout: float) -> dict:
        api = self.get_api()
        t0_wall, t0 = now(), time.perf_counter()
        api.stop(name, timeout=10)
        end = time.perf_counter()
        if api.inspect_container(name)["State"]["Running"]:
            raise RoundFailed("still running after stop")
        return {"t0": t0_wall, "total": end - t0, "call": end - t0}


class CliDriver:
    """The docker CLI: `docker start`, then `docker logs -f --since` until the ready line; `docker stop`."""

    tool = "docker CLI"

    def __init__(self, key: str, label: str, host: str, env_extra: dict | None = None):
        self.key, self.label = key, label
        self.base = [shutil.which("docker") or "docker", "-H", host]
        self.env = {**os.environ, **(env_extra or {})}

    def _run(self, *args: str, timeout: float) -> None:
        result = subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )
        if result.returncode:
            raise RoundFailed(f"docker {args[0]}: {result.stderr.decode(errors='replace').strip()[:200]}")

    def start(self, name: str, timeout: float) -> dict:
        t0_wall, t0 = now(), time.perf_counter()
        self._run("start", name, timeout=timeout)
        started = time.perf_counter()
        logs = subprocess.Popen(
            [*self.base, "logs", "--follow", "--since", f"{t0_wall:.6f}", name],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        ready = None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(logs.stdout, selectors.EVENT_READ)
                buffer = b""
                while ready is None and time.perf_counter() - t0 < timeout:
                    if not selector.select(timeout=0.5):
                        continue
                    chunk = os.read(logs.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    buffer += chunk
                    if READY.encode() in buffer:
                        ready = time.perf_counter()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(logs.pid, signal.SIGKILL)
            logs.wait(5)
            logs.stdout.close()
        if ready is None:
            raise RoundFailed("no ready line")
        return {"t0": t0_wall, "total": ready - t0, "call": started - t0}

    def stop(self, name: str, timeout: float) -> dict:
        t0_wall, t0 = now(), time.perf_counter()
        self._run("stop", name, timeout=timeout)
        end = time.perf_counter()
        return {"t0": t0_wall, "total": end - t0, "call": end - t0}


def ssh_cli_env(tmp: Path, ssh_url: str, key_file: str, host_key: str) -> dict:
    """The docker CLI runs plain `ssh` for ssh:// hosts and has no option for its flags, and OpenSSH
    reads the config of the passwd home, not $HOME: so a wrapper `ssh` first on PATH passes `-F` with
    our key and the pinned host key (no connection sharing: every CLI call makes its own connection)."""
    url = urlsplit(ssh_url)
    known = tmp / "known_hosts"
    known.write_text(f"[{url.hostname}]:{url.port or 22} {host_key}\n")
    config = tmp / "ssh_config"
    config.write_text(
        f"Host {url.hostname}\n  IdentityFile {key_file}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        "  ControlMaster no\n  ControlPath none\n"
    )
    bindir = tmp / "bin"
    bindir.mkdir()
    wrapper = bindir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh") or "/usr/bin/ssh"} -F {config} "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


class RawBaselines:
    """The Bench's raw series (a mixin of bench.lifecycle.run.Bench)."""

    def prepare_baselines(self) -> None:
        """One equivalent container per engine: the panel's own spec (image, command, stdin, user,
        limits, init, tmpfs, log driver), its own port, a copy of the server's directory (same layout),
        labelled hearth.bench instead of hearth.server."""
        import docker

        for t in self.targets:
            t.engine_api = docker.APIClient(base_url=t.engine_socket, timeout=self.args.timeout)
            source = adapter.server_dir(t.server)
            t.raw_dir = f"{t.data_dir.rstrip('/')}/servers/{uuid.uuid4()}"
            self.leftovers.directory(t.raw_dir)
            adapter.node_run(
                t.server.node, ["cp", "-a", source, t.raw_dir]
            )  # as the node's user, on the node
            spec = adapter.container_spec(t.server)
            t.raw_name = f"hearth-bench-raw-{t.key}"
            self.leftovers.container(t.engine_socket, t.raw_name)
            create_from_spec(  # the panel's own spec, with this baseline's name, copy and port
                t.engine_api,
                spec,
                name=t.raw_name,
                volumes={t.raw_dir: {"bind": spec["working_dir"], "mode": "rw"}},
                port_bindings={
                    f"{t.raw_port}/{proto}": ("127.0.0.1", t.raw_port) for proto in ("tcp", "udp")
                },
                ports=[f"{t.raw_port}/{proto}" for proto in ("tcp", "udp")],
                environment={**spec["environment"], "SERVER_PORT": str(t.raw_port)},
                labels={BENCH_LABEL: self.stamp, "hearth.bench.role": "raw"},
            )
            wanted = self.args.baselines
            engine = t.engine_socket
            if "sdk" in wanted:
                t.drivers.append(SdkDriver("sdk", f"docker-py, {engine}", lambda api=t.engine_api: api))
            if "cli" in wanted:
                t.drivers.append(CliDriver("cli", f"docker CLI, -H {engine}", engine))
            if t.key == "ssh" and "cli-ssh" in wanted:
                extra = ssh_cli_env(
                    self.tmp, t.docker_url, env("HEARTH_TEST_SSH_KEY"), env("HEARTH_TEST_SSH2_HOSTKEY")
                )
                t.drivers.append(CliDriver("cli-ssh", f"docker CLI, -H {t.docker_url}", t.docker_url, extra))
            if t.key == "ssh" and "sdk-ssh" in wanted:
                t.drivers.append(
                    SdkDriver(
                        "sdk-ssh",
                        f"docker-py over {t.docker_url} (nodes.client)",
                        lambda node=t.server.node: adapter.node_sdk_api(node),
                    )
                )
            t.events = EngineEvents(t.engine_socket)
            t.events.start()
            t.events.opened.wait(10)

    def raw_cycle(self, t: Target, driver, round_no: int, warmup: bool) -> None:
        record = {"node": t.key, "series": driver.key, "round": round_no, "warmup": warmup}
        timeout = self.args.timeout
        try:
            record["start"] = driver.start(t.raw_name, timeout)
            t0 = record["start"]["t0"]
            record["start"]["stages"] = {
                "start_event": t.events.wait_for(t.raw_name, "start", t0),
                "ready_engine": engine_ready_time(t.engine_api, t.raw_name, t0),
                "seen": t0 + record["start"]["total"],
            }
            record["stop"] = driver.stop(t.raw_name, timeout)
            t0 = record["stop"]["t0"]
            record["stop"]["stages"] = {
                "kill_event": t.events.wait_for(t.raw_name, "kill", t0),
                "die_event": t.events.wait_for(t.raw_name, "die", t0),
                "seen": t0 + record["stop"]["total"],
            }
        except Exception as exc:  # any failure of a raw round is recorded, then the container is reset
            self._failed(record, exc)
            with contextlib.suppress(Exception):
                t.engine_api.kill(t.raw_name)
        self.records.append(record)
