"""docker-py's SSH transport with the panel's own key, timeouts and host-key policy (never ~/.ssh)."""

import contextlib
import socket
from urllib.parse import urlparse

import paramiko
from docker.transport.sshconn import SSHHTTPAdapter

from nodes.client.keys import host_key_line, parse_host_key

# AES-GCM first (cipher and MAC in one call to OpenSSL), CTR after for sshds without it: paramiko's
# own order puts CTR (a separate HMAC per packet) first, a third slower for a file streamed to a
# node (150 MB put through the SFTP gateway: 39 -> 47 MB/s).
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr")
# paramiko's own window (2 MB) stays: a larger one made a file streamed from the node 4x slower, as a
# channel's buffer is an array paramiko deletes reads from the front of (the more buffered, the slower).


KEEPALIVE_SECONDS = 30


def _fast_transport(sock, **kwargs) -> paramiko.Transport:
    """SSHClient's transport_factory: its Transport with our cipher order, on a socket that sends
    at once (paramiko leaves Nagle on: a small request then waits for the node's delayed ack)."""
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    options.ciphers = [cipher for cipher in CIPHERS if cipher in options.ciphers]
    # A connection idle for long (no server on the node, nobody in its files) is dropped by firewalls,
    # NAT and sshd's ClientAlive checks; the next use then failed once with "Socket is closed".
    transport.set_keepalive(KEEPALIVE_SECONDS)
    return transport


class _RecordHostKey(paramiko.MissingHostKeyPolicy):
    """First contact: accept the key and remember it so the caller can pin it."""

    def __init__(self, adapter):
        self.adapter = adapter

    def missing_host_key(self, client, hostname, key):
        self.adapter.presented_host_key = host_key_line(key)


class PinnedSSHAdapter(SSHHTTPAdapter):
    """docker-py's SSH transport with our key, our timeouts and a pinned host key instead of ~/.ssh."""

    def __init__(self, base_url, *, pkey, pinned_host_key: str, connect_timeout: float, **kwargs):
        self._pkey, self._pinned, self._connect_timeout = pkey, pinned_host_key, connect_timeout
        self._base_url = base_url
        self.presented_host_key = pinned_host_key
        super().__init__(base_url, **kwargs)

    def _create_paramiko_client(self, base_url):
        url = urlparse(base_url)
        port = url.port or 22
        self.ssh_client = paramiko.SSHClient()
        self.ssh_params = {
            "hostname": url.hostname,
            "port": port,
            "username": url.username or "hearth",
            "pkey": self._pkey,
            "look_for_keys": False,
            "allow_agent": False,
            "timeout": self._connect_timeout,
            "banner_timeout": self._connect_timeout,
            "auth_timeout": self._connect_timeout,
            "transport_factory": _fast_transport,
        }
        if self._pinned:
            self.require_host_key(self._pinned)
        else:
            self.ssh_client.set_missing_host_key_policy(_RecordHostKey(self))

    def require_host_key(self, line: str) -> None:
        """From now on (reconnections too) the host must present `line`'s key."""
        url = urlparse(self._base_url)
        port = url.port or 22
        name = url.hostname if port == 22 else f"[{url.hostname}]:{port}"
        key = parse_host_key(line)
        self.ssh_client.get_host_keys().add(name, key.get_name(), key)
        self.ssh_client.set_missing_host_key_policy(paramiko.RejectPolicy())


def _causes(exc: BaseException):
    """`exc` and what it wraps (requests and urllib3 keep the transport's error in args or .reason)."""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(item for item in wrapped if isinstance(item, BaseException))


def remote_failure(exc: BaseException) -> str:
    """A fixed phrase for a failed SSH connection, never the far end's own words: a banner or an error
    page in the node test would make it a probe of any host and port staff type in."""
    causes = list(_causes(exc))
    if any(isinstance(cause, paramiko.AuthenticationException) for cause in causes):
        return "Authentication failed: the node did not accept the panel's SSH key"
    # A reset or broken pipe comes after the connection was made: the far end hung up mid-handshake.
    if any(
        isinstance(cause, paramiko.SSHException | EOFError | ConnectionResetError | BrokenPipeError)
        for cause in causes
    ):
        return "not an SSH server, or the SSH handshake failed"
    if any(isinstance(cause, OSError | TimeoutError) for cause in causes):
        return "could not connect (refused, timed out or no route to the host)"
    return "the Docker engine behind SSH did not answer"
