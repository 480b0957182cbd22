"""Setting the lifecycle benchmark up: its two targets (the local and the SSH node), the panel's
rows (through bench/adapter.py), the panel's processes and the two servers' installs."""

from pathlib import Path
from urllib.parse import urlsplit

from bench import adapter
from bench.harness import (
    VENV_BIN,
    Aborted,
    api_session,
    check_bench_services,
    env,
    port_is_free,
    start_web_and_worker,
    wait_until,
    wait_web_and_worker,
)
from bench.lifecycle.common import Target


class Setup:
    """The Bench's setup steps (a mixin of bench.lifecycle.run.Bench)."""

    def check_environment(self) -> None:
        check_bench_services()
        ssh = urlsplit(env("HEARTH_TEST_SSH2_URL"))
        if ssh.hostname != "127.0.0.1":
            raise Aborted("The SSH node must be on 127.0.0.1.")
        for name in ("HEARTH_TEST_DOCKER1_URL", "HEARTH_TEST_DOCKER2_URL"):
            if not env(name).startswith("unix://"):
                raise Aborted(f"{name} must be a unix:// socket.")
        # Ports below Linux's ephemeral range (32768+), so no outgoing connection can be holding one
        # when Docker publishes it, and not used by the tests.
        everything = {
            "local": Target(
                "local",
                f"Local node — engine 1 over {env('HEARTH_TEST_DOCKER1_URL')}",
                env("HEARTH_TEST_DOCKER1_URL"),
                env("HEARTH_TEST_DOCKER1_URL"),
                env("HEARTH_TEST_NODE1_DATA_DIR"),
                "30500-30509",
                30510,
            ),
            "ssh": Target(
                "ssh",
                f"SSH node — engine 2 over {env('HEARTH_TEST_SSH2_URL')} (paramiko)",
                env("HEARTH_TEST_SSH2_URL"),
                env("HEARTH_TEST_DOCKER2_URL"),
                env("HEARTH_TEST_NODE2_DATA_DIR"),
                "30600-30609",
                30610,
            ),
        }
        self.targets = [everything[key] for key in self.args.nodes]
        busy = [
            port
            for t in self.targets
            for port in (int(t.ports.split("-")[0]), t.raw_port)
            if not port_is_free(port)
        ]
        if busy:
            raise Aborted(f"Ports {busy} on 127.0.0.1 are in use; the benchmark needs them.")

    def seed(self) -> None:
        self.admin, self.password, template = adapter.seed_panel()
        location = adapter.location_create("bench")
        for t in self.targets:
            ssh = t.docker_url.startswith("ssh://")
            t.node = adapter.node_online(
                ports=t.ports,
                ssh_host_key=env("HEARTH_TEST_SSH2_HOSTKEY") if ssh else "",
                name=f"bench-{t.key}",
                location=location,
                docker_url=t.docker_url,
                hostname="127.0.0.1",
                public_address="127.0.0.1",
                data_dir=t.data_dir,
                max_memory_mb=4096,
                max_cpu_cores=2,
                ssh_private_key=Path(env("HEARTH_TEST_SSH_KEY")).read_text() if ssh else "",
            )
            t.server = adapter.server_create(
                actor=self.admin,
                template=template,
                name=f"bench-{t.key}",
                node=t.node,
                allocated_memory_mb=256,
                allocated_cpu_cores=1,
                allocated_disk_mb=1024,
            )
            self.leftovers.container(t.engine_socket, t.server.container_name)
            self.leftovers.container(t.engine_socket, f"hearth-install-{t.server.pk}")
            self.leftovers.directory(f"{t.data_dir.rstrip('/')}/servers/{t.server.pk}")

    def start_processes(self) -> None:
        from config import heartbeat

        self.base_url = start_web_and_worker(self.processes, self.args.worker_loglevel)
        self.processes.start("monitor", [str(VENV_BIN / "python"), "manage.py", "monitor"])
        wait_web_and_worker(self.processes, self.base_url)

        def monitor_up():
            self.processes.check()
            return heartbeat.status()["monitor"] == "running"

        wait_until("the monitor's heartbeat", monitor_up, 60)

    def install(self) -> None:
        """Install both servers with the worker; a failed install is retried (up to 3 attempts each),
        since something outside the benchmark (the tests' clean-up) may remove the install container."""
        Server = adapter.server_model()
        attempts = {t.server.pk: 1 for t in self.targets}
        for t in self.targets:
            adapter.server_install(t.server, self.admin)

        def installed():
            self.processes.check()
            for t in self.targets:
                server = Server.objects.get(pk=t.server.pk)
                if server.status == Server.Status.INSTALL_FAILED:
                    if attempts[server.pk] >= 3:
                        raise Aborted(f"Installing {server.name} failed 3 times: {server.status_reason}")
                    print(
                        f"  ! install of {server.name} failed ({server.status_reason[:120]}); again",
                        flush=True,
                    )
                    self.install_retries += 1
                    attempts[server.pk] += 1
                    adapter.server_install(server, self.admin, reinstall=True)
            statuses = Server.objects.filter(pk__in=attempts).values_list("status", flat=True)
            return all(s == Server.Status.STOPPED for s in statuses)

        wait_until("both installs", installed, 600, 0.5)
        for t in self.targets:
            t.server = Server.objects.select_related("node", "template").get(pk=t.server.pk)

    def login(self) -> None:
        self.http, _ = api_session(self.base_url, self.password)
