"""The console benchmark's raw containers (docker-py, the panel's own spec) and what the engine
itself recorded of a flood or a ticker (its log timestamps)."""

import contextlib
import subprocess
import uuid
from pathlib import Path

from bench import adapter
from bench.console.common import BENCH_LABEL, RAW_PORT_BASE, SUITE, SUITE_LABEL, TICK_FILE
from bench.console.readers import FLOOD, TICK
from bench.harness import parse_docker_time, wait_until
from bench.rawdocker import create_from_spec


class RawContainers:
    """The Bench's raw containers and engine reads (a mixin of bench.console.run.Bench)."""

    def connect(self) -> None:
        import docker

        self.api = docker.APIClient(base_url=self.docker_url, timeout=self.args.timeout)

    def prepare_raw(self) -> None:
        """The raw containers are the panel's own spec (image, command, user, stdin, limits, init, tmpfs,
        log driver and size) with another port and name, on a copy of a server's directory, labelled
        hearth.bench instead of hearth.server."""
        source = adapter.server_dir(self.servers[0])
        self.raw_dir = f"{self.data_dir.rstrip('/')}/servers/{uuid.uuid4()}"
        self.leftovers.directory(self.raw_dir)
        subprocess.run(["cp", "-a", source, self.raw_dir], check=True, timeout=60)
        Path(self.raw_dir, TICK_FILE).unlink(missing_ok=True)
        self.raw_spec = adapter.container_spec(self.servers[0])

    def create_raw(self) -> str:
        spec = self.raw_spec
        port = RAW_PORT_BASE + self.raw_count % 10
        name = f"hearth-bench-console-raw-{self.stamp.lower()}-{self.raw_count}"
        self.raw_count += 1
        self.leftovers.container(self.docker_url, name)
        inner = next(iter(spec["port_bindings"])).split("/")[0]
        create_from_spec(  # the panel's own spec, with this baseline's name, copy and port
            self.api,
            spec,
            name=name,
            volumes={self.raw_dir: {"bind": spec["working_dir"], "mode": "rw"}},
            port_bindings={f"{inner}/{proto}": ("127.0.0.1", port) for proto in ("tcp", "udp")},
            ports=[f"{inner}/{proto}" for proto in ("tcp", "udp")],
            labels={BENCH_LABEL: self.stamp, SUITE_LABEL: SUITE},
        )
        self.api.start(name)

        def ready():
            return b"Done (" in self.api.logs(name, stdout=True, stderr=False, tail=20)

        wait_until(f"{name}'s ready line", ready, 30, 0.1)
        return name

    def remove_raw(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.api.remove_container(name, force=True)

    def raw_command(self, name: str, text: str) -> None:
        sock = self.api.attach_socket(name, params={"stdin": 1, "stream": 1})
        try:
            getattr(sock, "_sock", sock).sendall(f"{text}\n".encode())
        finally:
            sock.close()

    def engine_flood_times(self, name: str, since: float) -> tuple[float | None, float | None]:
        """The engine's own timestamps (when dockerd took the line) of the flood's first and last line."""
        raw = self.api.logs(name, stdout=True, stderr=False, timestamps=True, since=since - 1).decode(
            errors="replace"
        )
        first, last = raw.find(f" {FLOOD}"), raw.rfind(f" {FLOOD}")
        if first < 0:
            return None, None

        def stamp(pos):
            start = raw.rfind("\n", 0, pos) + 1
            return parse_docker_time(raw[start:pos])

        return stamp(first), stamp(last)

    def engine_ticks(self, name: str, start: float, end: float) -> int:
        """How many tick lines the container wrote with a time inside [start, end] (what a reader of
        that server should receive)."""
        raw = self.api.logs(name, stdout=True, stderr=False, since=start - 2).decode(errors="replace")
        count = 0
        for line in raw.splitlines():
            if line.startswith(TICK):
                with contextlib.suppress(ValueError):
                    count += start <= float(line[len(TICK) :]) <= end
        return count

    def engine_tick_times(self, name: str, start: float) -> dict[str, float]:
        """tick text → the engine's timestamp of that line."""
        raw = self.api.logs(name, stdout=True, stderr=False, timestamps=True, since=start - 2).decode(
            errors="replace"
        )
        out = {}
        for line in raw.splitlines():
            stamp, _, text = line.partition(" ")
            if text.startswith(TICK):
                with contextlib.suppress(ValueError):
                    out[text[len(TICK) :]] = parse_docker_time(stamp)
        return out
