"""Setting the files benchmark up: its two nodes and the sshd in front of each, the panel's rows
(through bench/adapter.py), the panel's processes (the web server, a Celery worker for the archive jobs, the
SFTP gateway) and the client's keys."""

import os
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from bench import adapter
from bench.files.common import MB, Target
from bench.files.measure import ProcessWatch
from bench.harness import (
    VENV_BIN,
    Aborted,
    api_session,
    check_bench_services,
    env,
    free_port,
    wait_until,
    wait_web_and_worker,
    web_argv,
    worker_argv,
)
from bench.rawsftp import ParamikoSftp, host_key, known_hosts_line

PORTS = {"local": "30700-30704", "ssh": "30800-30804"}  # below the ephemeral range; unused by the tests


def _target(key: str, n: int, docker_url: str) -> Target:
    ssh = urlsplit(env(f"HEARTH_TEST_SSH{n}_URL"))
    if ssh.hostname != "127.0.0.1":
        raise Aborted(f"The sshd in front of engine {n} must be on 127.0.0.1.")
    title = (
        f"Local node — engine 1 over {docker_url}; raw baselines through the sshd on 127.0.0.1:{ssh.port}"
        if key == "local"
        else f"SSH node — engine 2 over {docker_url} (paramiko); raw baselines through the same sshd"
    )
    target = Target(
        key=key,
        title=title,
        docker_url=docker_url,
        engine_socket=env(f"HEARTH_TEST_DOCKER{n}_URL"),
        data_dir=env(f"HEARTH_TEST_NODE{n}_DATA_DIR"),
        sshd_port=ssh.port,
        host_key=env(f"HEARTH_TEST_SSH{n}_HOSTKEY"),
    )
    target.node_user, target.pinned = ssh.username, host_key(target.host_key)
    return target


class Setup:
    """The Bench's setup steps (a mixin of bench.files.run.Bench)."""

    def check_environment(self) -> None:
        check_bench_services()
        everything = {
            "local": lambda: _target("local", 1, env("HEARTH_TEST_DOCKER1_URL")),
            "ssh": lambda: _target("ssh", 2, env("HEARTH_TEST_SSH2_URL")),
        }
        self.targets = [everything[key]() for key in self.args.nodes]
        self.args.ssh_key = env("HEARTH_TEST_SSH_KEY")
        self.args.known_hosts = env("HEARTH_TEST_SSH_KNOWN_HOSTS")
        for t in self.targets:  # the raw baselines' directory, beside the servers' (same file system)
            t.raw_dir = f"{t.data_dir.rstrip('/')}/servers/{uuid.uuid4()}"

    def record_raw_dirs(self) -> None:
        """Written to the leftovers file only once a killed run's file has been read (clean_previous)."""
        for t in self.targets:
            self.leftovers.directory(t.raw_dir)

    def seed(self) -> None:
        """The administrator (who uses the API and the gateway), the nodes and one never-installed
        server per node, with room for the data set; the client's key registered for SFTP."""
        self.admin, self.password, template = adapter.seed_panel()
        location = adapter.location_create("bench")
        disk_mb = max(2048, 3 * (self.data.big_bytes + self.data.small_bytes) // MB + 512)
        for t in self.targets:
            ssh = t.docker_url.startswith("ssh://")
            t.node = adapter.node_online(
                ports=PORTS[t.key],
                ssh_host_key=t.host_key if ssh else "",
                name=f"bench-{t.key}",
                location=location,
                docker_url=t.docker_url,
                hostname="127.0.0.1",
                public_address="127.0.0.1",
                data_dir=t.data_dir,
                max_memory_mb=4096,
                max_cpu_cores=2,
                ssh_private_key=Path(self.args.ssh_key).read_text() if ssh else "",
            )
            t.server = adapter.server_create(
                actor=self.admin,
                template=template,
                name=f"bench-files-{t.key}",
                node=t.node,
                allocated_memory_mb=256,
                allocated_cpu_cores=1,
                allocated_disk_mb=disk_mb,
            )
            self.leftovers.container(t.engine_socket, f"hearth-files-{t.server.pk}")
            self.leftovers.directory(adapter.server_dir(t.server))
        self.client_key = self.tmp / "client_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hearth-bench", "-f", str(self.client_key)],
            check=True,
        )
        try:
            adapter.sftp_key_add(self.admin, "bench", (self.tmp / "client_ed25519.pub").read_text().strip())
        except Aborted as exc:
            self.notes.append(f"gateway-openssh cannot log in: {exc}")

    def start_processes(self) -> None:
        """The web process (allowed an upload the size of the big file) and the worker, then the
        gateway on a free port of 127.0.0.1; the watch follows the web process and the gateway."""
        os.environ["HEARTH_FILES_UPLOAD_MAX_BYTES"] = str(self.data.big_bytes + 64 * MB)
        port = free_port()
        argv = web_argv(port)
        self.web_server = Path(argv[0]).name
        self.processes.start("web", argv)
        self.processes.start("worker", worker_argv(self.args.worker_loglevel))
        self.base_url = f"http://127.0.0.1:{port}"
        if self.uses_gateway:
            self.gateway_port = free_port()
            self.processes.start(
                "sftp",
                [str(VENV_BIN / "python"), "manage.py", "sftp"],
                {"HEARTH_SFTP_BIND": f"127.0.0.1:{self.gateway_port}"},
            )
        wait_web_and_worker(self.processes, self.base_url)
        if self.uses_gateway:
            wait_until("the SFTP gateway's heartbeat", self._gateway_up, 60)
        watched = ("web", "sftp") if self.uses_gateway else ("web",)
        self.watch = ProcessWatch({name: self.processes.pid(name) for name in watched})

    def fresh_web(self, method: str) -> None:
        """A newly started web process (untimed) for each API method: what one method leaves in it
        (memory, a pool it exhausted) is not charged to the next."""
        port = int(self.base_url.rsplit(":", 1)[1])
        argv = web_argv(port)
        self.processes.restart("web", argv)
        wait_web_and_worker(self.processes, self.base_url)
        self.watch.groups["web"] = self.processes.pid("web")
        self.web_servers[method] = Path(argv[0]).name

    @property
    def uses_gateway(self) -> bool:
        return any(m.startswith("gateway-") for m in self.args.methods)

    def _gateway_up(self) -> bool:
        """The gateway's heartbeat (it beats once its socket is bound and served; probing the port
        with a connection that closes at once would only make it log a failed handshake)."""
        from config import heartbeat

        self.processes.check()
        return heartbeat.status().get("sftp") == "running"

    def login(self) -> None:
        """The API's JWT, and the gateway's host key (pinned for every later connection, OpenSSH's too)."""
        self.http, _ = api_session(self.base_url, self.password)
        if not self.uses_gateway:
            return
        t = self.targets[0]
        with ParamikoSftp(self.gateway_port, self.gateway_username(t), password=self.password) as first:
            self.gateway_key = first.server_key
        self.gateway_known_hosts = self.tmp / "gateway_known_hosts"
        self.gateway_known_hosts.write_text(known_hosts_line(self.gateway_port, self.gateway_key))

    def gateway_username(self, t) -> str:
        return adapter.sftp_username(self.admin, t.server)

    def describe_versions(self) -> dict:
        sftp = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
        import paramiko
        import requests

        return {
            "openssh": (sftp.stderr or sftp.stdout).strip(),
            "paramiko": paramiko.__version__,
            "requests": requests.__version__,
            "started": time.strftime("%H:%M:%S", time.gmtime()),
        }
