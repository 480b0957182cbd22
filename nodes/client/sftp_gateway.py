"""The SFTP gateway's SSH side: a paramiko server that authenticates through callbacks and hands an
authenticated `sftp` subsystem channel to Hearth (servers/sftp), which decides everything else.

The split keeps the door rule honest: this module knows SSH (transports, host keys, ciphers, auth
methods, channel requests) and nothing of users, servers or permissions; servers/sftp knows those and
treats the channel as a plain socket (recv/sendall/close), so it imports no paramiko.

Hostile clients cost one thread and at most `timeout` seconds each: every connection has a deadline by
which it must be authenticated and have asked for the sftp subsystem, whatever it sends (garbage, a
banner and nothing, a kex that never ends); only `max_unauthenticated` connections (and
`per_address` from one address) may be in that state at once, the rest are closed on accept. Nothing a
connection does reaches the accept loop.
"""

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nodes.client.keys import host_key_line

logger = logging.getLogger(__name__)

# AES-GCM first (one pass for cipher and MAC), then CTR: the fastest paramiko does; no CBC or 3DES.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
# A larger window than paramiko's 2 MB keeps a fast client streaming instead of waiting for acks.
WINDOW_SIZE = 16 * 1024 * 1024
MAX_PACKET = 64 * 1024  # an SFTP WRITE of 32 KB (and its header) fits one SSH packet
MAX_AUTH_FAILURES = 6  # per connection, as OpenSSH's MaxAuthTries


class GatewayAuthority(Protocol):
    """What Hearth answers the gateway. A login is any object Hearth gives back; None refuses."""

    def login_password(self, username: str, password: str, address: str) -> object | None: ...

    def login_publickey(self, username: str, key_line: str, address: str) -> object | None: ...

    def serve(self, login: object, channel, hangup: Callable[[], None]) -> None:
        """Run the sftp subsystem on `channel` (recv/sendall/close) until it ends; `hangup()` drops
        the whole connection (revocation)."""


def load_host_key(path: str) -> paramiko.PKey:
    """The gateway's host key, generated (ed25519, mode 0600) on first use and the same ever after, so
    clients' known_hosts stay valid across restarts."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    os.chmod(path, 0o600)
    for key_class in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        with contextlib.suppress(paramiko.SSHException, ValueError):
            return key_class.from_private_key_file(path)
    raise ValueError(f"{path} is not an OpenSSH ed25519, RSA or ECDSA private key.")


class _Interface(paramiko.ServerInterface):
    """One connection's answers: auth through the authority, one session channel, only `sftp`."""

    def __init__(self, authority: GatewayAuthority, address: str, transport: paramiko.Transport):
        self.authority, self.address, self.transport = authority, address, transport
        self.login = None
        self.failures = 0
        self.channel_id = None
        self.subsystem = threading.Event()

    def get_allowed_auths(self, username):
        return "publickey,password"

    def _result(self, login) -> int:
        if self.transport.is_authenticated():
            return paramiko.AUTH_FAILED  # one login per connection: a later one never replaces it
        if login is None:
            self.failures += 1
            if self.failures >= MAX_AUTH_FAILURES:
                self.transport.close()
            return paramiko.AUTH_FAILED
        self.login = login
        return paramiko.AUTH_SUCCESSFUL

    def check_auth_password(self, username, password):
        return self._result(self.authority.login_password(username, password, self.address))

    def check_auth_publickey(self, username, key):
        # Called for the unsigned query too (paramiko checks the signature before the second call).
        return self._result(self.authority.login_publickey(username, host_key_line(key), self.address))

    def check_channel_request(self, kind, chanid):
        if kind != "session" or self.login is None or self.channel_id is not None:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.channel_id = chanid
        return paramiko.OPEN_SUCCEEDED

    def check_channel_subsystem_request(self, channel, name):
        if name != "sftp" or self.subsystem.is_set():
            return False
        self.subsystem.set()
        return True

    # Everything else a client may ask for is refused: paramiko's defaults say no to shells, exec,
    # ptys, X11, agent and port forwarding; spelled out so no upgrade changes it silently.
    def check_channel_shell_request(self, channel):
        return False

    def check_channel_exec_request(self, channel, command):
        return False

    def check_channel_pty_request(self, *args):
        return False

    def check_channel_x11_request(self, *args):
        return False

    def check_channel_forward_agent_request(self, channel):
        return False

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_port_forward_request(self, address, port):
        return False

    def check_global_request(self, kind, msg):
        return False


def _hang_up(sock: socket.socket, transport: paramiko.Transport) -> None:
    """End the connection now, from any thread (shutdown wakes whoever is blocked on the socket)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    transport.close()


class SFTPGateway:
    """Listens on (host, port) and serves each connection in its own thread. `serve()` blocks until
    `stop()`; `port` is the bound port (0 in `bind` picks a free one)."""

    def __init__(
        self,
        host: str,
        port: int,
        host_key: paramiko.PKey,
        authority: GatewayAuthority,
        *,
        timeout: float = 20.0,
        max_unauthenticated: int = 64,
        per_address: int = 16,
    ):
        self.host_key, self.authority, self.timeout = host_key, authority, timeout
        self.max_unauthenticated, self.per_address = max_unauthenticated, per_address
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}  # unauthenticated connections per address
        self._listener = socket.create_server((host, port), reuse_port=False, backlog=128)
        self._listener.settimeout(0.5)
        self.port = self._listener.getsockname()[1]

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    break
                time.sleep(0.05)  # out of descriptors, say: never spin, never die
                continue
            address = peer[0]
            with contextlib.suppress(OSError):  # request and answer, one packet each: never wait for more
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._admit(address):
                logger.warning("sftp: too many unauthenticated connections; closed one from %s", address)
                with contextlib.suppress(OSError):
                    sock.close()
                continue
            threading.Thread(
                target=self._connection, args=(sock, address), name=f"sftp-{address}", daemon=True
            ).start()
        with contextlib.suppress(OSError):
            self._listener.close()

    def stop(self) -> None:
        self.stopping.set()

    def _admit(self, address: str) -> bool:
        with self._lock:
            if sum(self._pending.values()) >= self.max_unauthenticated:
                return False
            if self._pending.get(address, 0) >= self.per_address:
                return False
            self._pending[address] = self._pending.get(address, 0) + 1
            return True

    def _release(self, address: str) -> None:
        with self._lock:
            left = self._pending.get(address, 0) - 1
            if left > 0:
                self._pending[address] = left
            else:
                self._pending.pop(address, None)

    def _connection(self, sock: socket.socket, address: str) -> None:
        pending = True
        transport = None
        try:
            transport = self._transport(sock)
            interface = _Interface(self.authority, address, transport)
            transport.start_server(event=threading.Event(), server=interface)
            channel = self._await_sftp(transport, interface)
            if channel is None:
                return
            self._release(address)
            pending = False
            self.authority.serve(interface.login, channel, lambda: _hang_up(sock, transport))
            with contextlib.suppress(Exception):
                channel.send_exit_status(0)
        except Exception:
            logger.info("sftp: connection from %s dropped", address, exc_info=True)
        finally:
            if pending:
                self._release(address)
            if transport is not None:
                transport.close()
            with contextlib.suppress(OSError):
                sock.close()

    def _transport(self, sock: socket.socket) -> paramiko.Transport:
        transport = paramiko.Transport(
            sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET
        )
        transport.local_version = "SSH-2.0-Hearth"
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = self.timeout
        options = transport.get_security_options()
        options.ciphers = [c for c in CIPHERS if c in options.ciphers]
        transport.add_server_key(self.host_key)
        return transport

    def _await_sftp(self, transport: paramiko.Transport, interface: _Interface):
        """The channel once the client is authenticated and asked for sftp; None at the deadline or
        when the transport dies first (garbage, a failed kex, a client that gave up)."""
        deadline = time.monotonic() + self.timeout
        channel = None
        while time.monotonic() < deadline and transport.is_active():
            if channel is None:
                channel = transport.accept(timeout=0.25)
            elif interface.subsystem.wait(0.25):
                return channel
        return None
