"""The stdin and stdout of an exec in a files helper, as the socket paramiko's SFTP client (and the
SFTP gateway's proxy) read and write: the engine's multiplexed frames taken apart."""

import contextlib
import select
import socket

from nodes.client.sdk import raw_socket

CHUNK = 256 * 1024


class ExecStream:
    """The stdin and stdout of a process exec'd in a container, as a socket for paramiko's SFTPClient:
    `send` writes stdin, `recv` reads stdout out of the engine's multiplexed frames (stderr is kept,
    the last 4 KB, for errors). Works the same over the engine's unix socket and over SSH."""

    def __init__(self, attached, *, timeout: float | None):
        self._attached = attached
        self._socket = raw_socket(attached)
        self._socket.settimeout(timeout)
        self._buffer = bytearray()
        self._frame_left, self._frame_type = 0, 1
        self.stderr = b""

    def send(self, data) -> int:
        self._socket.sendall(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        """At most `size` bytes of stdout; b"" once the process has ended."""
        while not self._buffer:
            if self._frame_left == 0:
                header = self._read_exactly(8)
                if header is None:
                    return b""
                self._frame_type, self._frame_left = header[0], int.from_bytes(header[4:8], "big")
                continue
            chunk = self._socket.recv(min(self._frame_left, CHUNK))
            if not chunk:
                return b""
            self._frame_left -= len(chunk)
            if self._frame_type == 1:
                self._buffer += chunk
            else:
                self.stderr = (self.stderr + chunk)[-4096:]
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def _read_exactly(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self._socket.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def recv_ready(self) -> bool:
        """Is there stdout (or a frame of it) to read without waiting? (paramiko's pipelined writes ask.)"""
        if self._buffer:
            return True
        if hasattr(self._socket, "recv_ready"):  # a paramiko channel
            return self._socket.recv_ready()
        return bool(select.select([self._socket], [], [], 0)[0])

    def get_name(self) -> str:  # paramiko's SFTP logs name their channel
        return "files"

    def close_stdin(self) -> None:
        """End the process's stdin (EOF), keeping its stdout to read: the engine passes a half-close on."""
        if hasattr(self._socket, "shutdown_write"):  # a paramiko channel
            self._socket.shutdown_write()
        else:
            self._socket.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Shut the connection down first: closing a socket does not wake a thread blocked reading
        it (the gateway's answer thread), shutting it down does."""
        with contextlib.suppress(Exception):
            self._socket.shutdown(socket.SHUT_RDWR)
        for closing in (self._socket, self._attached):
            with contextlib.suppress(Exception):
                closing.close()


class BulkExecStream(ExecStream):
    """An ExecStream whose `recv` reads the connection in large pieces and takes every whole frame
    out of each (the SFTP gateway's answers). ExecStream reads an 8-byte header and then a frame's
    body, two reads a frame: over SSH each read of a paramiko channel deletes from the front of its
    buffer (an array), so small reads of a full window cost a copy of the window each. For readers
    that only call `recv` (recv_ready does not see what was read ahead)."""

    def __init__(self, stream: ExecStream):
        self.__dict__.update(stream.__dict__)
        self._link = raw_socket(self._attached)  # what ExecStream reads from, by a name of our own
        self._raw = bytearray()  # read, not yet taken apart into frames

    def recv(self, size: int) -> bytes:
        while not self._buffer:
            self._take_frames()
            if self._buffer:
                break
            chunk = self._link.recv(1024 * 1024)
            if not chunk:
                return b""
            self._raw += chunk
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def _take_frames(self) -> None:
        raw, at = self._raw, 0
        while True:
            if self._frame_left == 0:
                if len(raw) - at < 8:
                    break
                self._frame_type, self._frame_left = raw[at], int.from_bytes(raw[at + 4 : at + 8], "big")
                at += 8
                continue
            piece = raw[at : at + self._frame_left]
            if not piece:
                break
            at += len(piece)
            self._frame_left -= len(piece)
            if self._frame_type == 1:
                self._buffer += piece
            else:
                self.stderr = (self.stderr + piece)[-4096:]
        del raw[:at]
