"""One node's connection and the guard around every call: transport failures become NodeUnavailable,
the engine's refusals our own ContainerNotFound and EngineRefused."""

import contextlib
import logging

import docker.errors

from nodes.client.connections import _cache_key, _Connection, _connections, _connections_lock, _open, forget
from nodes.client.errors import _TRANSPORT_ERRORS, ContainerNotFound, EngineRefused, NodeUnavailable
from nodes.client.ssh import remote_failure

logger = logging.getLogger(__name__)


class ClientBase:
    def __init__(self, node):
        self.node = node

    def _connection(self) -> _Connection:
        with _connections_lock:
            conn = _connections.get(_cache_key(self.node))
        if conn is not None and (
            conn.ssh is None or (conn.ssh.get_transport() and conn.ssh.get_transport().is_active())
        ):
            return conn
        if conn is not None:
            forget(self.node)
        with self.guard("connecting"):
            conn = _open(self.node)
        with _connections_lock:  # keyed after opening: a first contact has just pinned the key
            _connections[_cache_key(self.node)] = conn
        return conn

    @property
    def _api(self) -> docker.APIClient:
        """docker-py's low-level client for this node: for the modules of nodes/client only."""
        return self._connection().api

    @contextlib.contextmanager
    def guard(self, doing: str, *, container: str = ""):
        """Turn transport failures into NodeUnavailable (dropping the broken connection) and the engine's
        refusals into ContainerNotFound / EngineRefused."""
        try:
            yield
        except NodeUnavailable:
            forget(self.node)
            raise
        except docker.errors.ImageNotFound as exc:  # a NotFound too, but about an image
            raise EngineRefused(self.node.name, _explain(exc), status=404) from exc
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(self.node.name, container, _explain(exc)) from exc
        except docker.errors.APIError as exc:  # the engine answered: not an availability problem
            raise EngineRefused(self.node.name, _explain(exc), status=exc.status_code) from exc
        except _TRANSPORT_ERRORS as exc:
            forget(self.node)
            if self.node.is_ssh:  # staff choose the address: say what failed, not what the far end said
                logger.info("Node %s: %s failed", self.node.name, doing, exc_info=exc)
                reason = remote_failure(exc)
            else:
                reason = str(exc) or exc.__class__.__name__
            raise NodeUnavailable(self.node.name, f"{doing} failed: {reason}") from exc

    def ping(self) -> None:
        with self.guard("ping"):
            self._api.ping()

    def info(self) -> dict:
        with self.guard("reading engine info"):
            return self._api.info()

    def network_names(self) -> list[str]:
        """The engine's Docker networks by name (doctor checks that `bridge` is there)."""
        with self.guard("listing networks"):
            return [network.get("Name", "") for network in self._api.networks()]

    @property
    def is_local(self) -> bool:
        return self.node.docker_url.startswith("unix://")


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return (explanation or str(exc)).strip()
