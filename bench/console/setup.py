"""Setting the console benchmark up: the panel's rows (through bench/adapter.py), its processes,
the servers' installs, and the power and tick switches the scenarios use."""

import time
from pathlib import Path

from bench import adapter
from bench.console.common import PORT_BASE, RAW_PORT_BASE, TEMPLATE_NAME, TICK_FILE, TICKER_START
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


class Setup:
    """The Bench's setup steps (a mixin of bench.console.run.Bench)."""

    def check_environment(self) -> None:
        check_bench_services()
        self.docker_url = env("HEARTH_TEST_DOCKER1_URL")
        if not self.docker_url.startswith("unix://"):
            raise Aborted("HEARTH_TEST_DOCKER1_URL must be a unix:// socket.")
        self.socket_path = self.docker_url.removeprefix("unix://")
        self.data_dir = env("HEARTH_TEST_NODE1_DATA_DIR")
        count = self.args.servers
        busy = [
            p
            for p in [*range(PORT_BASE, PORT_BASE + count), *range(RAW_PORT_BASE, RAW_PORT_BASE + 10)]
            if not port_is_free(p)
        ]
        if busy:
            raise Aborted(f"Ports {busy} on 127.0.0.1 are in use; the benchmark needs them.")

    def seed(self) -> None:
        self.admin, self.password, game = adapter.seed_panel()
        self.template = adapter.template_variant(game, name=TEMPLATE_NAME, start_command=TICKER_START)
        location = adapter.location_create("bench")
        count = self.args.servers
        self.node = adapter.node_online(
            ports=f"{PORT_BASE}-{PORT_BASE + count - 1}",
            name="bench-console",
            location=location,
            docker_url=self.docker_url,
            hostname="127.0.0.1",
            public_address="127.0.0.1",
            data_dir=self.data_dir,
            max_memory_mb=16384,
            max_cpu_cores=128,
        )
        for i in range(count):
            server = adapter.server_create(
                actor=self.admin,
                template=self.template,
                name=f"bench-console-{i:02d}",
                node=self.node,
                allocated_memory_mb=64,
                allocated_cpu_cores=1,
                allocated_disk_mb=128,
            )
            self.servers.append(server)
            self.leftovers.container(self.docker_url, server.container_name)
            self.leftovers.container(self.docker_url, f"hearth-install-{server.pk}")
            self.leftovers.directory(adapter.server_dir(server))
            self.names[str(server.pk)] = server.container_name

    def start_processes(self) -> None:
        self.base_url = start_web_and_worker(self.processes, "WARNING")
        self.ws_url = self.base_url.replace("http://", "ws://", 1) + "/ws"
        self.start_monitor(self.args.raised_throttle)
        wait_web_and_worker(self.processes, self.base_url)

    def start_monitor(self, lines_per_100ms: int | None) -> None:
        """(Re)start `manage.py monitor`, with HEARTH_CONSOLE_LINES_PER_100MS when given, and wait for
        its first heartbeat."""
        from django.core.cache import cache

        argv = [str(VENV_BIN / "python"), "manage.py", "monitor"]
        if self.args.sample_monitor:  # where its CPU goes: bench/sampled.py
            argv[1:1] = ["-m", "bench.sampled", str(self.logdir / "monitor-stacks.txt")]
        extra = {"HEARTH_CONSOLE_LINES_PER_100MS": str(lines_per_100ms)} if lines_per_100ms else {}
        started = time.time()
        if "monitor" in self.processes.procs:
            self.processes.restart("monitor", argv, extra)
        else:
            self.processes.start("monitor", argv, extra)
        self.throttle = lines_per_100ms or self.default_throttle

        def beating():
            self.processes.check()
            return (cache.get("heartbeat:monitor") or 0) > started

        wait_until("the monitor's heartbeat", beating, 60)
        time.sleep(1.0)  # its first reconcile

    @property
    def default_throttle(self) -> int:
        from django.conf import settings

        return settings.CONSOLE_LINES_PER_100MS

    def install(self) -> None:
        """Install every server with the worker; a failed install is tried again (3 attempts each)."""
        Server = adapter.server_model()
        attempts = {s.pk: 1 for s in self.servers}
        for server in self.servers:
            adapter.server_install(server, self.admin)

        def installed():
            self.processes.check()
            for server in Server.objects.filter(pk__in=attempts, status=Server.Status.INSTALL_FAILED):
                if attempts[server.pk] >= 3:
                    raise Aborted(f"Installing {server.name} failed 3 times: {server.status_reason}")
                print(f"  ! install of {server.name} failed ({server.status_reason[:120]}); again")
                attempts[server.pk] += 1
                adapter.server_install(server, self.admin, reinstall=True)
            statuses = Server.objects.filter(pk__in=attempts).values_list("status", flat=True)
            return all(s == Server.Status.STOPPED for s in statuses)

        wait_until(f"{len(self.servers)} installs", installed, 60 + 20 * len(self.servers), 0.5)

    def login(self) -> None:
        self.http, self.token = api_session(self.base_url, self.password)

    def power(self, servers: list, action: str) -> None:
        """POST …/start or …/stop for each server, then wait until every one is running / stopped."""
        Server = adapter.server_model()
        want = Server.Status.RUNNING if action == "start" else Server.Status.STOPPED
        todo = [s for s in servers if Server.objects.get(pk=s.pk).status != want]
        for server in todo:
            response = self.http.post(f"{self.base_url}/api/servers/{server.pk}/{action}", timeout=60)
            if response.status_code != 200:
                raise Aborted(
                    f"{action} {server.name} answered {response.status_code}: {response.text[:200]}"
                )

        def reached():
            self.processes.check()
            statuses = Server.objects.filter(pk__in=[s.pk for s in servers]).values_list("status", flat=True)
            bad = [s for s in statuses if s in (Server.Status.CRASHED, Server.Status.INSTALL_FAILED)]
            if bad:
                raise Aborted(f"A server became {bad[0]} during {action}.")
            return all(s == want for s in statuses)

        wait_until(f"{len(servers)} servers to {action}", reached, 30 + 3 * len(todo), 0.3)

    def tick(self, servers: list, on: bool) -> None:
        for server in servers:
            path = Path(adapter.server_dir(server)) / TICK_FILE
            if on:
                path.write_text("")
            else:
                path.unlink(missing_ok=True)
