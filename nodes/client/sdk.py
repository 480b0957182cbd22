"""The few places the node client reaches past docker-py's public API (and into the HTTP transport
under it). Nothing else, in nodes/client or outside it, touches a private attribute of docker-py,
requests, urllib3 or paramiko; each use below says why the public API will not do. (One more
seam, in ssh.py: PinnedSSHAdapter overrides docker-py's `_create_paramiko_client` hook, the only way
to give its SSH transport our key, timeouts and host-key policy instead of ~/.ssh.)
"""

import contextlib
import socket

import docker
import docker.utils


def ssh_api(adapter, *, version: str, timeout: float) -> docker.APIClient:
    """An APIClient speaking through our own SSH adapter (pinned host key, our key and timeouts).

    docker-py builds its SSH adapter itself from `base_url` and would read ~/.ssh; mounting ours means
    replacing its default adapters the way its own constructor does (`_unmount`, `_custom_adapter`)."""
    api = docker.APIClient(base_url="tcp://127.0.0.1:1", version=version, timeout=timeout)
    api.mount("http+docker://ssh", adapter)
    api._unmount("http://", "https://")
    api.base_url = "http+docker://ssh"
    api._custom_adapter = adapter
    return api


def logs_response(api: docker.APIClient, container: str, params: dict):
    """An open, untimed HTTP response of a container's log stream.

    `APIClient.logs` rounds `since` to whole (or float) seconds; the monitor needs Docker's exact
    nanoseconds ("seconds.nanoseconds" as text), and it reads the multiplexed frames itself (streams.py)."""
    response = api._get(api._url("/containers/{0}/logs", container), params=params, stream=True)
    api._raise_for_status(response)
    with contextlib.suppress(Exception):  # the stream stays open for as long as the game runs
        api._disable_socket_timeout(api._get_raw_response_socket(response))
    return response


def archive_stat(api: docker.APIClient, container: str, path: str) -> dict | None:
    """The engine's stat of a path in a container (a HEAD: no body), None when missing.

    docker-py only offers `get_archive`, which reads the whole archive before we could see its size."""
    head = api.head(
        api._url("/containers/{0}/archive", container), params={"path": path}, timeout=api.timeout
    )
    if head.status_code == 404:
        return None
    api._raise_for_status(head)
    return docker.utils.decode_json_header(head.headers["X-Docker-Container-Path-Stat"])


def archive_response(api: docker.APIClient, container: str, path: str) -> tuple[dict, object] | None:
    """The engine's stat of a path and its archive as a streamed response, not yet read, so the caller
    can look at what the path is before reading any of it and stop at a limit; None when missing."""
    response = api._get(api._url("/containers/{0}/archive", container), params={"path": path}, stream=True)
    try:
        if response.status_code == 404:
            response.close()
            return None
        api._raise_for_status(response)
        return docker.utils.decode_json_header(response.headers["X-Docker-Container-Path-Stat"]), response
    except Exception:
        response.close()
        raise


def events_response(events):
    """The HTTP response under docker-py's event stream: its own `close()` refuses SSH streams."""
    return events._response


def raw_socket(attached):
    """What to `sendall` on for an attach: the socket behind docker-py's SocketIO wrapper locally (whose
    `write` may send part of the data), the paramiko channel itself over SSH."""
    return getattr(attached, "_sock", attached)


def nonblocking_body(response) -> tuple[object, bytes]:
    """The connection under a streamed response, switched to non-blocking reads, and what http.client
    had already read past the headers: one thread can then read many streams through a selector
    (nodes.client.streams.LiveLog). The connection is reachable only through http.client's private
    `_fp`, and what it buffered only through BufferedReader.peek or paramiko's `_rbuffer`.

    Locally a socket (`recv` raises BlockingIOError while nothing waits); over SSH a paramiko channel,
    whose `fileno` is a pipe paramiko keeps readable while data waits (`recv` raises socket.timeout)."""
    fp = response.raw._fp.fp
    if channel := getattr(fp, "channel", None):
        channel.setblocking(False)
        return channel, fp.read(len(fp._rbuffer)) if fp._rbuffer else b""
    sock = getattr(fp.raw, "_sock", fp.raw)
    sock.setblocking(False)
    buffered = fp.peek()  # with nothing buffered, one read that finds nothing: b""
    return sock, fp.read(len(buffered)) if buffered else b""


def shut_down(response) -> None:
    """Unblock a thread reading `response` from another thread: shut the connection down (closing the
    response alone would not). The socket is reachable only through http.client's private `_fp`."""
    fp = response.raw._fp.fp
    if channel := getattr(fp, "channel", None):  # over SSH, a paramiko channel
        channel.close()
    else:
        sock = getattr(fp.raw, "_sock", fp.raw)
        sock.shutdown(socket.SHUT_RDWR)


def stop_reading(response) -> None:
    """Wake a thread that selects on `response`'s connection (nonblocking_body) with its end, and keep
    what it watches open: locally the socket's shutdown; over SSH the channel's incoming buffer closed
    (its pipe turns readable, `recv` answers b"") and EOF sent, where closing the channel would close
    the pipe under the selector."""
    fp = response.raw._fp.fp
    if channel := getattr(fp, "channel", None):
        channel.in_buffer.close()
        channel.shutdown(2)
    else:
        sock = getattr(fp.raw, "_sock", fp.raw)
        sock.shutdown(socket.SHUT_RDWR)
