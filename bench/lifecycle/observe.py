"""Observers of a lifecycle round, off the panel's path: the server's status row (polled), one
engine's container events (its own socket), the engine's log timestamps."""

import contextlib
import threading
import time

from bench.harness import parse_docker_time
from bench.lifecycle.common import READY, RoundFailed, now


class StatusPoller:
    """Polls the server's row with a plain psycopg connection (autocommit) every `interval` seconds."""

    SQL = "SELECT status, EXTRACT(EPOCH FROM updated_at)::float8 FROM servers_server WHERE id = %s"

    def __init__(self, dsn: str, interval: float):
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True)
        self.interval = interval

    def read(self, server_id) -> tuple[str, float]:
        with self.conn.cursor() as cur:
            cur.execute(self.SQL, (server_id,))
            return cur.fetchone()

    def wait(self, server_id, want: set[str], fail: set[str], timeout: float) -> tuple[float, float, float]:
        """Until the status is one of `want`: (perf_counter, unix time when seen, updated_at)."""
        deadline = time.perf_counter() + timeout
        while True:
            status, updated = self.read(server_id)
            seen, seen_wall = time.perf_counter(), now()
            if status in want:
                return seen, seen_wall, updated
            if status in fail:
                raise RoundFailed(f"status became {status}")
            if seen > deadline:
                raise RoundFailed(f"still {status} after {timeout:.0f} s")
            time.sleep(self.interval)

    def close(self):
        self.conn.close()


class EngineEvents(threading.Thread):
    """Container events of one engine, read from its own socket (an observer, not on the panel's path).
    Reconnects (from the last event seen) if the engine restarts under it."""

    def __init__(self, socket_url: str):
        super().__init__(daemon=True, name=f"events-{socket_url}")
        self.socket_url = socket_url
        self.events: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.stream = None
        self.since = now()
        self.opened = threading.Event()

    def run(self):
        import docker

        while not self.stopping.is_set():
            client = None
            with contextlib.suppress(Exception):  # the engine went away (or stop() closed the stream)
                client = docker.DockerClient(base_url=self.socket_url)
                since = f"{self.since + 1e-6 if self.events else self.since:.6f}"
                self.stream = client.events(decode=True, filters={"type": "container"}, since=since)
                self.opened.set()
                for event in self.stream:
                    name = event.get("Actor", {}).get("Attributes", {}).get("name", "")
                    at = event["timeNano"] / 1e9
                    with self.lock:
                        self.events.append((at, event.get("Action", ""), name))
                    self.since = at
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            self.stopping.wait(0.5)

    def between(self, name: str, start: float, end: float) -> list[tuple[float, str]]:
        with self.lock:
            return [(t, a) for t, a, n in self.events if n == name and start <= t <= end]

    def first(self, name: str, action: str, start: float, end: float) -> float | None:
        return next((t for t, a in self.between(name, start, end) if a == action), None)

    def wait_for(self, name: str, action: str, start: float, timeout: float = 2.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(name, action, start, now() + 1)
            if found is not None:
                return found
            time.sleep(0.01)
        return None

    def stop(self):
        self.stopping.set()
        with contextlib.suppress(Exception):
            self.stream.close()


def engine_ready_time(api, container: str, since: float) -> float | None:
    """When the engine received the ready line (the log's own timestamp), for output after `since`."""
    raw = api.logs(container, stdout=True, stderr=False, timestamps=True, since=since)
    for line in raw.decode(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        if READY in text:
            return parse_docker_time(stamp)
    return None
