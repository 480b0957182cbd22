"""The compose stack under check, and the relay that lets its containers reach the test environment's sshd."""

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path

import docker

from bench.harness import Aborted

PROJECT = "hearthcheck"
HTTPS_PORT, HTTP_PORT, SFTP_PORT = 18443, 18080, 12022
SUBNET, SUBNET_RANGE, PROXY_ADDRESS = "172.29.77.0/24", "172.29.77.128/25", "172.29.77.10"
BASE = f"https://127.0.0.1:{HTTPS_PORT}"
GAME_PORTS = "30700-30704"


def log(message: str) -> None:
    print(f"prod-check: {message}", file=sys.stderr, flush=True)


class Relay(threading.Thread):
    """A TCP relay from the compose network's gateway to the test environment's sshd on 127.0.0.1: the
    stack's workers and monitor reach the SSH node as they would reach a remote machine."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        super().__init__(daemon=True, name="relay")
        self.target = target
        self.server = socket.create_server(listen, reuse_port=False)

    def run(self):
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.server.accept()
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.server.close()


class Stack:
    """docker-compose on this checkout's docker-compose.yml, with its own project, ports and network."""

    def __init__(self, workdir: Path, compose: list[str]):
        self.workdir, self.compose = workdir, compose
        self.engine = docker.from_env()
        self.password = secrets.token_urlsafe(24)
        self.secret_key = secrets.token_urlsafe(48)

    def write_env(self, image: str, proxy_image: str) -> None:
        values = {
            "HEARTH_IMAGE": image,
            "HEARTH_PROXY_IMAGE": proxy_image,
            "HEARTH_POSTGRES_IMAGE": os.environ.get("HEARTH_POSTGRES_IMAGE", "postgres:15-bookworm"),
            "HEARTH_REDIS_IMAGE": os.environ.get("HEARTH_REDIS_IMAGE", "redis:7-bookworm"),
            "HEARTH_PUBLIC_URL": BASE,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": BASE,
            "SECRET_KEY": self.secret_key,
            "POSTGRES_PASSWORD": self.password,
            "HEARTH_TLS_NAMES": "127.0.0.1,localhost",
            "HEARTH_BIND_ADDRESS": "127.0.0.1",
            "HEARTH_HTTPS_PORT": str(HTTPS_PORT),
            "HEARTH_HTTP_PORT": str(HTTP_PORT),
            "HEARTH_SFTP_PORT": str(SFTP_PORT),
            "HEARTH_SUBNET": SUBNET,
            "HEARTH_SUBNET_RANGE": SUBNET_RANGE,
            "HEARTH_PROXY_ADDRESS": PROXY_ADDRESS,
            "HEARTH_PROXY_UPSTREAM_HEADER": "1",
            "HEARTH_WORKER_CONCURRENCY": "2",
        }
        (self.workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        result = subprocess.run(
            [*self.compose, "-p", PROJECT, "-f", str(self.workdir / "docker-compose.yml"), *args],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise Aborted(
                f"docker-compose {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result.stdout + result.stderr

    def containers(self, service: str, *, stopped: bool = False) -> list:
        return self.engine.containers.list(
            all=stopped,
            filters={
                "label": [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={service}"]
            },
        )

    def unhealthy(self) -> list[str]:
        """The services' containers that are not (yet) healthy."""
        waiting = []
        for container in self.engine.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={PROJECT}"}
        ):
            service = container.labels.get("com.docker.compose.service")
            if service == "migrate":
                continue
            health = (container.attrs["State"].get("Health") or {}).get("Status", container.status)
            if health not in ("healthy",):
                waiting.append(f"{container.name}: {health}")
        return waiting

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", check=False)
