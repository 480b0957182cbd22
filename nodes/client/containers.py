"""Containers on a node: create from our spec, start, signal, wait, remove, inspect and list."""

import time

import docker.errors

from nodes.client.errors import ContainerNotFound
from nodes.client.spec import create_from_spec
from nodes.client.types import ContainerState


class Containers:
    """The container half of NodeClient (mixed into it; `self.guard` and `self._api` come from ClientBase)."""

    def create_container(self, spec: dict) -> str:
        """Create a container from our own spec (see nodes.client.spec); its id."""
        with self.guard("creating a container", container=spec["name"]):
            return create_from_spec(self._api, spec)["Id"]

    def start_container(self, container: str) -> None:
        with self.guard("starting a container", container=container):
            self._api.start(container)

    def remove_container(self, container: str) -> bool:
        """Remove a container, running or not; False when there was none."""
        with self.guard("removing a container", container=container):
            try:
                self._api.remove_container(container, force=True)
            except docker.errors.NotFound:
                return False
        return True

    def inspect(self, container: str) -> ContainerState:
        """The container's state; ContainerNotFound when the engine has none by that id or name."""
        with self.guard("inspecting a container", container=container):
            return ContainerState.from_inspect(self._api.inspect_container(container))

    def container_state(self, container: str) -> ContainerState | None:
        """The container's state, None when it is gone."""
        try:
            return self.inspect(container)
        except ContainerNotFound:
            return None

    def list_containers(self, *, labels: list[str]) -> list[ContainerState]:
        """Every container (running or not) that has all of `labels` ("key" or "key=value")."""
        with self.guard("listing containers"):
            found = self._api.containers(all=True, filters={"label": labels}, quiet=True)
        listed = []
        for summary in found:
            if (state := self.container_state(summary["Id"])) is not None:  # else removed meanwhile
                listed.append(state)
        return listed

    def signal(self, container: str, signal: str) -> bool:
        """Send `signal` to the container's main process; False when it is not running (or gone)."""
        with self.guard(f"sending {signal}", container=container):
            try:
                self._api.kill(container, signal=signal)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if "is not running" in str(exc):
                    return False
                raise
        return True

    def wait_exit(self, container: str, timeout: float, *, poll: float = 0.2) -> int | None:
        """Wait up to `timeout` seconds for the container to stop; its exit code, or None if it still runs.

        Polls the engine's state rather than holding a `wait` request open: a read timeout on a stream
        behaves differently over SSH and over the socket, and it would drop the cached connection."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.container_state(container)
            if state is None:
                return 0
            if not state.running:
                return state.exit_code
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(poll, remaining))
