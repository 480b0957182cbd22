"""What the node client raises: our own errors, never the Docker SDK's or paramiko's."""

import socket

import docker.errors
import paramiko
import requests

from config.errors import Unavailable
from nodes.client.keys import fingerprint

_TRANSPORT_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    paramiko.SSHException,
    socket.timeout,
    TimeoutError,
    OSError,
    EOFError,
)


class NodeUnavailable(Unavailable):
    """The node's engine or SSH daemon could not be reached (or refused us)."""

    def __init__(self, node_name: str, reason: str):
        self.node_name, self.reason = node_name, reason
        super().__init__(f"Node '{node_name}' is unreachable: {reason}")


class HostKeyMismatch(NodeUnavailable):
    """The node presented a different SSH host key than the one pinned: possible interception."""

    def __init__(self, node_name: str, expected: str, presented: str):
        self.expected, self.presented = expected, presented
        super().__init__(
            node_name,
            f"its SSH host key changed (pinned {fingerprint(expected)}, presented {fingerprint(presented)}). "
            "If the node was reinstalled, replace the key with the node's host-key action (admin, or "
            "POST /api/nodes/:id/host-key); otherwise investigate before reconnecting.",
        )


class NodeCommandFailed(Exception):
    def __init__(self, node_name: str, command: str, code: int, stderr: str):
        self.code, self.stderr = code, stderr
        super().__init__(f"'{command}' failed on node '{node_name}' (exit {code}): {stderr[:300]}")


class FileTooLarge(Exception):
    """A file in a container is larger (apparent size) than the caller will read into memory."""

    def __init__(self, path: str, size: int, limit: int):
        self.path, self.size, self.limit = path, size, limit
        super().__init__(f"{path} is {size} bytes, over the {limit} bytes read into memory")


class NotARegularFile(Exception):
    """The path in a container is a directory, a symlink or a device: never read nor followed."""


class ImagePullFailed(Exception):
    """The engine could not pull an image (registry unreachable, unknown image, refused credentials)."""

    def __init__(self, image: str, reason: str):
        self.image, self.reason = image, reason
        super().__init__(f"Could not pull {image}: {reason}")


class ContainerNotFound(Exception):
    """The engine has no such container (never created, or removed meanwhile)."""

    def __init__(self, node_name: str, container: str, explanation: str = ""):
        self.node_name, self.container = node_name, container
        self.explanation = explanation or f"No container {container} on node '{node_name}'."
        super().__init__(self.explanation)


class EngineRefused(Exception):
    """The node's engine answered but refused the request (a conflict, a bad parameter, an image it
    does not have…); `explanation` is the engine's own words."""

    def __init__(self, node_name: str, explanation: str, *, status: int | None = None):
        self.node_name, self.explanation, self.status = node_name, explanation, status
        super().__init__(f"The engine of node '{node_name}' refused: {explanation}")
