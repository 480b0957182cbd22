"""The steps of the check, in order (bench/prod_check/__init__.py says what they show)."""

import os
import re
import shutil
import tarfile
import time
from pathlib import Path

import docker

from bench.harness import OUT, ROOT, Aborted, env, wait_until
from bench.prod_check.panel import Panel, http_redirect
from bench.prod_check.stack import BASE, GAME_PORTS, HTTP_PORT, PROJECT, Relay, Stack, log


def timed(what: str, action):
    started = time.monotonic()
    result = action()
    elapsed = time.monotonic() - started
    log(f"{what}: {elapsed:.1f} s")
    return result, elapsed


class Check:
    def __init__(self, args):
        self.args = args
        self.figures: dict[str, object] = {}
        self.steps: list[str] = []
        self.workdir = OUT / "prod-check"
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "docker-compose.yml").write_text((ROOT / "docker-compose.yml").read_text())
        self.stack = Stack(self.workdir, args.compose.split())
        self.engine2 = docker.DockerClient(base_url=env("HEARTH_TEST_DOCKER2_URL"))
        self.relay = None
        self.server_id = ""

    def step(self, text: str) -> None:
        self.steps.append(text)
        log(f"ok: {text}")

    def run(self) -> None:
        self.stack.down()
        try:
            self.start_stack()
            self.add_node_and_server()
            self.console_from_both_replicas("before the upgrade")
            self.upgrade()
            self.back_up_the_panel()
            self.lose_a_replica_and_a_worker()
            self.scale_workers(3)
        finally:
            self.clean_up()

    def start_stack(self) -> None:
        self.stack.write_env(self.args.previous_image, self.args.previous_proxy_image)
        started = time.monotonic()
        # The network first (with the database and Redis), so that the relay listens on its gateway
        # before any worker needs it. (`up --no-start` would wait forever on Compose v1 for migrate.)
        self.stack.run("up", "-d", "postgres", "redis")
        ssh_port = int(env("HEARTH_TEST_SSH2_URL").rsplit(":", 1)[1])
        # The host's own address on the compose network (Docker gives it the range's first address).
        networks = self.stack.containers("postgres")[0].attrs["NetworkSettings"]["Networks"]
        self.gateway = next(iter(networks.values()))["Gateway"]
        self.relay = Relay((self.gateway, ssh_port), ("127.0.0.1", ssh_port))
        self.relay.start()
        self.stack.run("up", "-d")
        cafile = self.workdir / "proxy-cert.pem"
        wait_until("the proxy's certificate", lambda: self._fetch_cert(cafile), 60, interval=0.5)
        self.panel = Panel(cafile)
        wait_until("the panel to answer through the proxy", self.panel.up, 180, interval=0.5)
        self.figures["cold_start_s"] = round(time.monotonic() - started, 1)
        wait_until("every service healthy", lambda: not self.stack.unhealthy(), 240, interval=2)
        self.figures["all_healthy_s"] = round(time.monotonic() - started, 1)
        self.step(
            f"stack up on {self.args.previous_image}: the panel answered over HTTPS after "
            f"{self.figures['cold_start_s']} s, every service healthy after {self.figures['all_healthy_s']} s"
        )
        output = self.stack.run(
            "run", "--rm", "migrate", "python", "manage.py", "bootstrap", "--no-local-node"
        )
        password = re.search(r"password:\s+(\S+)", output)
        if not password:
            raise Aborted(f"bootstrap printed no password:\n{output}")
        login = self.panel.ok(
            "POST", "/api/auth/login", {"email": "admin@hearth.local", "password": password[1]}
        )
        self.panel.token = login["token"]
        status, _, _ = self.panel.call("GET", "/api/nodes", None)
        self.step(
            f"administrator created with manage.py bootstrap, signed in over HTTPS (GET /api/nodes: {status})"
        )
        plain = http_redirect(f"http://127.0.0.1:{HTTP_PORT}/api/health")
        if plain != f"{BASE}/api/health":
            raise Aborted(f"plain HTTP redirected to {plain!r}, not to {BASE}/api/health")
        self.step(f"plain HTTP on :{HTTP_PORT} answers 301 to {plain}")

    def _fetch_cert(self, cafile: Path) -> bool:
        containers = self.stack.containers("proxy")
        if not containers:
            return False
        code, output = containers[0].exec_run(["cat", "/etc/hearth-tls/cert.pem"])
        if code != 0 or b"BEGIN CERTIFICATE" not in output:
            return False
        cafile.write_bytes(output)
        return True

    def add_node_and_server(self) -> None:
        location = self.panel.ok("POST", "/api/locations", {"name": "check"})
        ssh_port = int(env("HEARTH_TEST_SSH2_URL").rsplit(":", 1)[1])
        node = self.panel.ok(
            "POST",
            "/api/nodes",
            {
                "name": "remote",
                "locationId": location["id"],
                "hostname": self.gateway,
                "publicAddress": "127.0.0.1",
                "dockerUrl": f"ssh://hearth@{self.gateway}:{ssh_port}",
                "dataDir": env("HEARTH_TEST_NODE2_DATA_DIR"),
                "maxMemoryMb": 2048,
                "maxCpuCores": 2,
                "sshPrivateKey": Path(env("HEARTH_TEST_SSH_KEY")).read_text(),
                "sshHostKey": env("HEARTH_TEST_SSH2_HOSTKEY"),
            },
        )
        report = self.panel.ok("POST", f"/api/nodes/{node['id']}/test")
        self.panel.ok(
            "POST", f"/api/nodes/{node['id']}/allocations", {"ip": "127.0.0.1", "ports": GAME_PORTS}
        )
        self.step(
            f"remote node added over SSH ({report.get('loginUser')}@{self.gateway}:{ssh_port}, Docker "
            f"{report.get('dockerVersion')}, {report.get('latencyMs')} ms), its host key pinned"
        )
        templates = self.panel.ok("GET", "/api/templates?limit=100")
        test_game = next(t for t in templates if t["name"] == "Test Game")
        server = self.panel.ok(
            "POST",
            "/api/servers",
            {
                "name": "prod-check",
                "templateId": test_game["id"],
                "nodeId": node["id"],
                "allocatedMemoryMb": 256,
                "allocatedCpuCores": 1,
                "allocatedDiskMb": 512,
                "install": True,
            },
        )
        self.server_id = server["id"]
        self.panel.wait_status(self.server_id, "stopped", 120)
        self.panel.ok("POST", f"/api/servers/{self.server_id}/start")
        self.panel.wait_status(self.server_id, "running", 60)
        self.started_at = self._container()["State"]["StartedAt"]
        self.step("Test Game server created, installed and started on the remote node")

    def _container(self) -> dict:
        found = self.engine2.containers.list(all=True, filters={"label": f"hearth.server={self.server_id}"})
        found = [c for c in found if c.labels.get("hearth.role") == "game"]
        if not found:
            raise Aborted("the server's container is not on engine 2")
        return found[0].attrs

    def console_from_both_replicas(self, when: str) -> None:
        replicas: set[str] = set()
        for attempt in range(12):
            replicas.add(self.panel.console(self.server_id, f"check-{when.split()[0]}-{attempt}"))
            if len(replicas) >= 2:
                break
        if len(replicas) < 2:
            raise Aborted(f"every console connection went to {replicas}: the proxy does not spread them")
        self.step(
            f"console read and written over WSS {when} through both web replicas ({', '.join(sorted(replicas))})"
        )

    def upgrade(self) -> None:
        self.stack.write_env(self.args.image, self.args.proxy_image)

        def up():
            self.stack.run("up", "-d")
            wait_until("the upgraded panel to answer", self.panel.up, 180, interval=0.5)

        _, self.figures["upgrade_s"] = timed("upgrade", up)
        wait_until("every upgraded service healthy", lambda: not self.stack.unhealthy(), 240, interval=2)
        for service in ("web", "worker", "beat", "monitor", "sftp"):
            images = {c.image.tags[0] if c.image.tags else c.image.id for c in self.stack.containers(service)}
            if images != {self.args.image}:
                raise Aborted(f"{service} runs {images} after the upgrade, not {self.args.image}")
        (migrate,) = self.stack.containers("migrate", stopped=True)
        migrated = migrate.attrs["State"]
        if migrate.attrs["Config"]["Image"] != self.args.image or migrated["ExitCode"] != 0:
            raise Aborted(
                f"migrate did not run on {self.args.image}: {migrate.attrs['Config']['Image']}, {migrated}"
            )
        said = migrate.logs().decode(errors="replace").strip().splitlines()
        if self.panel.status(self.server_id) != "running":
            raise Aborted("the server is not running after the upgrade")
        if self._container()["State"]["StartedAt"] != self.started_at:
            raise Aborted("the server's container was restarted by the upgrade")
        self.step(
            f"upgraded to {self.args.image} in {self.figures['upgrade_s']:.1f} s: migrate ran once on it "
            f"({said[-1] if said else 'no output'}), every Hearth service was recreated on it; "
            "the server kept running, its container never restarted"
        )
        self.console_from_both_replicas("after the upgrade")

    def back_up_the_panel(self) -> None:
        backups = self.workdir / "panel-backups"
        if backups.exists():
            shutil.rmtree(backups)
        backups.mkdir()
        os.chown(backups, 999, 999)  # the image's user hearth
        self.stack.run(
            "run",
            "--rm",
            "-v",
            f"{backups}:/backups",
            "migrate",
            "python",
            "manage.py",
            "panel_backup",
            "--output",
            "/backups",
        )
        archives = list(backups.glob("hearth-panel-*.tar.gz"))
        if len(archives) != 1 or archives[0].stat().st_mode & 0o777 != 0o600:
            raise Aborted(f"panel_backup wrote {[(a.name, oct(a.stat().st_mode)) for a in archives]}")
        with tarfile.open(archives[0]) as archive:
            names = sorted(archive.getnames())
        self.step(
            f"panel backed up into a host directory: {archives[0].name}, mode 0600, holding {', '.join(names)}"
        )

    def lose_a_replica_and_a_worker(self) -> None:
        web, worker = self.stack.containers("web")[0], self.stack.containers("worker")[0]
        web.kill()
        worker.kill()
        answered = [self.panel.call("GET", "/api/servers")[0] for _ in range(20)]
        if any(status != 200 for status in answered):
            raise Aborted(f"with one web replica killed the panel answered {answered}")
        self.panel.console(self.server_id, "one-replica-left")
        self.panel.ok("POST", f"/api/servers/{self.server_id}/stop")
        self.panel.wait_status(self.server_id, "stopped", 90)
        self.step(
            f"killed {web.name} and {worker.name}: 20 of 20 API calls answered 200, the console stayed live, "
            "and the server stopped through the remaining worker"
        )

    def scale_workers(self, count: int) -> None:
        self.stack.run("up", "-d", "--no-deps", "--scale", f"worker={count}", "worker")

        def answering() -> int:
            workers = self.stack.containers("worker")
            if not workers:
                return 0
            code, output = workers[0].exec_run(["celery", "-A", "config", "inspect", "ping", "-t", "5"])
            return output.decode(errors="replace").count("pong") if code == 0 else 0

        wait_until(f"{count} workers to answer a ping", lambda: answering() == count, 120, interval=2)
        self.step(
            f"scaled to {count} workers (docker-compose up -d --scale worker={count}): {count} answer a ping"
        )

    def clean_up(self) -> None:
        if self.args.keep:
            log(
                f"left running (--keep): docker-compose -p {PROJECT} -f {self.workdir}/docker-compose.yml down -v"
            )
            return
        self.stack.down()
        if self.relay is not None:
            self.relay.close()
        if self.server_id:
            for container in self.engine2.containers.list(
                all=True, filters={"label": f"hearth.server={self.server_id}"}
            ):
                container.remove(force=True)
