"""The SFTP session, packet by packet, between the customer's client and sftp-server in the server's
helper container (nodes/client/files.py: the container is what contains; nothing here is needed for
that).

Client to helper, each request is checked when it arrives against the permission it needs (a lookup
in the session's cached grants, servers/sftp/session.py): a refused one is answered here with
SSH_FX_PERMISSION_DENIED for its id and never forwarded; unknown extensions are refused the same way.
Paths are shown with `/` as the server's root: requests get the helper's mount put in front (after
normalizing, so `..` stops at `/`), and the answers that name paths (REALPATH, READLINK,
expand-path) get it taken off. Everything else (READ, WRITE, DATA: the bulk) is forwarded as the
bytes that came, in runs, never re-encoded. Confirmed changes are handed to the session for the audit.

SFTP v3 framing: uint32 length, byte type, uint32 request id (INIT/VERSION carry a version instead).
"""

import contextlib
import posixpath
import struct
import threading

from servers.files.quota import over_limit
from servers.sftp.protection import Protection
from servers.sftp.session import DELETE, READ, WRITE

INIT, VERSION, OPEN, CLOSE, READ_, WRITE_, LSTAT, FSTAT, SETSTAT, FSETSTAT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME, READLINK, SYMLINK = range(11, 21)
STATUS, HANDLE, NAME, EXTENDED = 101, 102, 104, 200
FX_OK, FX_FAILURE, FX_PERMISSION_DENIED = 0, 4, 3
OPEN_CHANGES = 0x02 | 0x04 | 0x08 | 0x10 | 0x20  # WRITE, APPEND, CREAT, TRUNC, EXCL
ATTR_PERMISSIONS = 0x04
MAX_PACKET = 256 * 1024 + 1024  # sftp-server's own limit (SFTP_MAX_MSG_LENGTH) and a little
RECV = 1024 * 1024
# Requests whose answer the proxy reads (to record a change, or to show a path) travel under an id of
# the proxy's own, this bit set: a client reusing an id cannot have another request's answer taken for
# theirs (a failed READ's STATUS consuming a REMOVE's audit). Clients' ids never have it (they count up).
OURS = 0x80000000

# Requests on an open handle, with no path in them: the permission they need.
BY_HANDLE = {CLOSE: READ, READ_: READ, FSTAT: READ, READDIR: READ, WRITE_: WRITE, FSETSTAT: WRITE}
# type: (permission, how many leading path strings to rewrite)
REQUESTS = {
    **{kind: (permission, 0) for kind, permission in BY_HANDLE.items()}, LSTAT: (READ, 1), STAT: (READ, 1), OPENDIR: (READ, 1), REALPATH: (READ, 1),
    READLINK: (READ, 1), SETSTAT: (WRITE, 1), MKDIR: (WRITE, 1), RENAME: (WRITE, 2),
    REMOVE: (DELETE, 1), RMDIR: (DELETE, 1),
}  # fmt: skip
EXTENSIONS = {
    b"posix-rename@openssh.com": (WRITE, 2), b"hardlink@openssh.com": (WRITE, 2),
    b"lsetstat@openssh.com": (WRITE, 1), b"fsync@openssh.com": (WRITE, 0),
    b"statvfs@openssh.com": (READ, 1), b"fstatvfs@openssh.com": (READ, 0), b"limits@openssh.com": (READ, 0),
    b"expand-path@openssh.com": (READ, 1), b"users-groups-by-id@openssh.com": (READ, 0),
}  # fmt: skip
# copy-data is not offered: sftp-server copies between two handles itself, bytes the disk limit never
# sees (and a length of 0 means "to the end": doubling a file each time).
AUDITED = {REMOVE: "sftp.delete", RMDIR: "sftp.delete", MKDIR: "sftp.mkdir", RENAME: "sftp.rename"}
NAMES_ANSWER = {REALPATH, READLINK}


class ProtocolError(Exception):
    """The client broke SFTP's framing: the session ends."""


def _string(data, at: int) -> tuple[bytes, int]:
    if at + 4 > len(data):
        raise ProtocolError("truncated packet")
    size = int.from_bytes(data[at : at + 4], "big")
    end = at + 4 + size
    if end > len(data):
        raise ProtocolError("truncated string")
    return bytes(data[at + 4 : end]), end


def _pack_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _packet(kind: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, kind) + body


def status(request_id: int, code: int, message: str) -> bytes:
    body = struct.pack(">II", request_id, code) + _pack_string(message.encode()) + _pack_string(b"")
    return _packet(STATUS, body)


class Paths:
    """The client's paths (`/` is the server's root) to the helper's (under `mount`) and back."""

    def __init__(self, mount: str):
        self.mount = mount.rstrip("/").encode() or b"/"

    def inside(self, path: bytes) -> bytes:
        normal = posixpath.normpath(b"/" + path.lstrip(b"/"))  # `..` cannot rise above `/`
        return self.mount if normal == b"/" else self.mount + normal

    def outside(self, path: bytes) -> bytes:
        if path == self.mount:
            return b"/"
        if path.startswith(self.mount + b"/"):
            return path[len(self.mount) :]
        return path  # a link's target elsewhere: shown as it is (it resolves inside the helper)


class Proxy:
    def __init__(self, client, helper, session, mount: str):
        self.client, self.helper, self.session = client, helper, session
        self.paths = Paths(mount)
        self.protection = Protection(session, mount)  # the template's file denylist
        self.over = over_limit(session.server) if session.server is not None else ""
        self._send_lock = threading.Lock()  # both directions answer the client
        self._rename: set[int] = set()  # our ids whose NAME answer names a path
        self._audits: dict[int, tuple[str, str]] = {}  # our ids whose success is a change to record
        self._ids: dict[int, int] = {}  # our id -> the client's, for requests whose answer we read
        self._next_id = 0

    def run(self) -> None:
        answers = threading.Thread(target=self._answers, name="sftp-answers", daemon=True)
        answers.start()
        try:
            self._requests()
        except (ProtocolError, OSError, EOFError) as exc:
            self.session.end(f"the session broke: {exc}")
        finally:
            self.helper.close()
            self.protection.close()
            answers.join(5)

    def _to_client(self, data) -> None:
        with self._send_lock:
            self.client.sendall(data)

    # Client to helper.

    def _requests(self) -> None:
        buffer = bytearray()
        while not self.session.ended.is_set():
            chunk = self.client.recv(RECV)
            if not chunk:
                return
            buffer += chunk
            consumed, out = self._route(buffer)
            if out:
                self.helper.send(b"".join(out))
            del buffer[:consumed]

    def _route(self, buffer: bytearray) -> tuple[int, list[bytes]]:
        """Forward the complete packets in `buffer`: runs of untouched ones as they are, rewritten or
        refused ones in between. Bytes consumed, and what to send to the helper."""
        out, at, run_start, total = [], 0, 0, len(buffer)
        while total - at >= 5:
            size = int.from_bytes(buffer[at : at + 4], "big")
            if size < 1 or size > MAX_PACKET:
                raise ProtocolError(f"a packet of {size} bytes")
            end = at + 4 + size
            if end > total:
                break
            kind = buffer[at + 4]
            if kind != INIT and size >= 5 and buffer[at + 5] & 0x80:
                raise ProtocolError("a request id of the proxy's own range")
            permission = BY_HANDLE.get(kind)
            if permission is not None and self.session.allows(permission):
                if kind != WRITE_ or self.session.spend(size):
                    at = end  # the bulk (READ, WRITE…): no path in it, forwarded in the run
                    continue
                out.append(bytes(buffer[run_start:at]))
                self._to_client(status(int.from_bytes(buffer[at + 5 : at + 9], "big"), FX_FAILURE, self.over))
                at = run_start = end
                continue
            replacement = self._request(bytes(buffer[at:end]))
            if replacement is not None:
                out.append(bytes(buffer[run_start:at]))
                if replacement:
                    out.append(replacement)
                run_start = end
            at = end
        if run_start < at:
            out.append(bytes(buffer[run_start:at]))
        return at, [part for part in out if part]

    def _request(self, packet: bytes) -> bytes | None:
        """None: forward as it is; b"": answered here; else the rewritten packet."""
        kind = packet[4]
        if kind == INIT:
            return None
        if len(packet) < 9:
            raise ProtocolError("a request without an id")
        request_id = int.from_bytes(packet[5:9], "big")
        rule = REQUESTS.get(kind)
        if kind == OPEN:
            return self._open(packet, request_id)
        if kind == SYMLINK:
            denied = self._checked(request_id, WRITE)
            return denied if denied is not None else self._symlink(packet, request_id)
        if kind == EXTENDED:
            return self._extended(packet, request_id)
        if rule is None:
            return self._deny(request_id, "This request is not supported by the gateway.")
        permission, paths = rule
        if not self.session.allows(permission):
            return self._deny(request_id, f"You do not have permission to do this (requires {permission}).")
        if paths == 0:
            return None
        refused = self._protected(kind, request_id, packet, 9, paths)
        if refused is not None:
            return refused
        rewritten, names = self._rewrite(packet, 9, paths)
        forwarded_id = self._note(kind, request_id, names, packet)
        return _packet(kind, struct.pack(">I", forwarded_id) + rewritten)

    def _checked(self, request_id: int, permission: str) -> bytes | None:
        if self.session.allows(permission):
            return None
        return self._deny(request_id, f"You do not have permission to do this (requires {permission}).")

    def _deny(self, request_id: int, message: str) -> bytes:
        self._to_client(status(request_id, FX_PERMISSION_DENIED, message))
        return b""

    def _protected(self, request, request_id: int, packet: bytes, at: int, count: int) -> bytes | None:
        """Answered here (refused) when the request's paths are protected by the template's denylist."""
        inside = []
        for _ in range(count):
            path, at = _string(packet, at)
            inside.append(self.paths.inside(path))
        message = self.protection.refusal(request, inside)
        return None if message is None else self._deny(request_id, message)

    def _rewrite(self, packet: bytes, at: int, count: int) -> tuple[bytes, list[bytes]]:
        """The packet's body from `at` with its first `count` strings as the helper's paths."""
        parts, names = [], []
        for _ in range(count):
            path, at = _string(packet, at)
            names.append(self.paths.outside(self.paths.inside(path)))
            parts.append(_pack_string(self.paths.inside(path)))
        return b"".join(parts) + bytes(packet[at:]), names

    def _track(self, request_id: int) -> int:
        """An id of our own for a request whose answer we will read (see OURS)."""
        self._next_id = (self._next_id + 1) & 0x7FFFFFFF
        ours = OURS | self._next_id
        self._ids[ours] = request_id
        return ours

    def _note(self, kind: int, request_id: int, names: list[bytes], packet: bytes) -> int:
        """Remember what the answer to this request needs (its paths shown, or its change audited);
        the id to forward it under."""
        action = AUDITED.get(kind)
        if kind == SETSTAT:
            action = "sftp.chmod" if self._sets_mode(packet, 9) else "sftp.write"
        if kind not in NAMES_ANSWER and not action:
            return request_id
        ours = self._track(request_id)
        if kind in NAMES_ANSWER:
            self._rename.add(ours)
        if action:
            self._audits[ours] = (action, " -> ".join(n.decode(errors="replace") for n in names))
        return ours

    def _sets_mode(self, packet: bytes, at: int) -> bool:
        _, at = _string(packet, at)
        return at + 4 <= len(packet) and bool(int.from_bytes(packet[at : at + 4], "big") & ATTR_PERMISSIONS)

    def _open(self, packet: bytes, request_id: int) -> bytes | None:
        _, at = _string(packet, 9)
        if at + 4 > len(packet):
            raise ProtocolError("OPEN without flags")
        changes = int.from_bytes(packet[at : at + 4], "big") & OPEN_CHANGES
        denied = self._checked(request_id, WRITE if changes else READ)
        if denied is None:
            denied = self._protected(OPEN, request_id, packet, 9, 1)
        if denied is not None:
            return denied
        rewritten, names = self._rewrite(packet, 9, 1)
        if changes:
            request_id = self._track(request_id)
            self._audits[request_id] = ("sftp.write", names[0].decode(errors="replace"))
        return _packet(OPEN, struct.pack(">I", request_id) + rewritten)

    def _symlink(self, packet: bytes, request_id: int) -> bytes:
        """SYMLINK as OpenSSH sends it: target, then the link's path. A relative target stays as it
        is (it means the same inside); an absolute one is put under the mount, like every path."""
        target, at = _string(packet, 9)
        denied = self._protected(SYMLINK, request_id, packet, at, 1)  # the link's own path
        if denied is not None:
            return denied
        link, at = _string(packet, at)
        target = self.paths.inside(target) if target.startswith(b"/") else target
        name = self.paths.outside(self.paths.inside(link)).decode(errors="replace")
        ours = self._track(request_id)
        self._audits[ours] = ("sftp.write", name)
        body = struct.pack(">I", ours) + _pack_string(target) + _pack_string(self.paths.inside(link))
        return _packet(SYMLINK, body + bytes(packet[at:]))

    def _extended(self, packet: bytes, request_id: int) -> bytes | None:
        name, at = _string(packet, 9)
        if name == b"home-directory":  # everyone's home is the server's root
            self._to_client(
                _packet(NAME, struct.pack(">II", request_id, 1) + _pack_string(b"/") * 2 + b"\0" * 4)
            )
            return b""
        rule = EXTENSIONS.get(name)
        if rule is None:
            return self._deny(request_id, f"The extension {name.decode(errors='replace')} is not supported.")
        permission, paths = rule
        denied = self._checked(request_id, permission)
        if denied is None and paths:
            denied = self._protected(name, request_id, packet, at, paths)
        if denied is not None or paths == 0:
            return denied
        if name == b"expand-path@openssh.com":  # `~` is the server's root too
            path, rest = _string(packet, at)
            packet = _pack_string(path.lstrip(b"~")) + packet[rest:]
            at = 0
            request_id = self._track(request_id)
            self._rename.add(request_id)
        rewritten, names = self._rewrite(packet, at, paths)
        if name in (b"posix-rename@openssh.com", b"hardlink@openssh.com"):
            action = "sftp.rename" if name.startswith(b"posix") else "sftp.write"
            request_id = self._track(request_id)
            self._audits[request_id] = (action, " -> ".join(n.decode(errors="replace") for n in names))
        elif name == b"lsetstat@openssh.com":
            action = "sftp.chmod" if self._sets_mode(packet, at) else "sftp.write"
            request_id = self._track(request_id)
            self._audits[request_id] = (action, names[0].decode(errors="replace"))
        body = struct.pack(">I", request_id) + _pack_string(name) + rewritten
        return _packet(EXTENDED, body)

    # Helper to client.

    def _answers(self) -> None:
        buffer = bytearray()
        try:
            while True:
                chunk = self.helper.recv(RECV)
                if not chunk:
                    break
                buffer += chunk
                consumed, out = self._answer_run(buffer)
                if out:
                    self._to_client(b"".join(out))
                del buffer[:consumed]
        except (OSError, EOFError) as exc:
            self.session.end(f"the files helper went away: {exc}")
        finally:
            self.session.end("the files helper ended the session")

    def _answer_run(self, buffer: bytearray) -> tuple[int, list[bytes]]:
        out, at, run_start, total = [], 0, 0, len(buffer)
        watching = bool(self._ids)
        while total - at >= 9:
            end = at + 4 + int.from_bytes(buffer[at : at + 4], "big")
            if end > total:
                break
            if watching:
                replacement = self._answer(buffer, at, end)
                if replacement is not None:
                    out.append(bytes(buffer[run_start:at]))
                    out.append(replacement)
                    run_start = end
            at = end
        if run_start < at:
            out.append(bytes(buffer[run_start:at]))
        return at, out

    def _answer(self, buffer: bytearray, at: int, end: int) -> bytes | None:
        kind = buffer[at + 4]
        if kind == VERSION:
            return None
        request_id = int.from_bytes(buffer[at + 5 : at + 9], "big")
        client_id = self._ids.pop(request_id, None)
        if client_id is None:
            return None  # a request of the client's own id: nothing to read in its answer
        audited = self._audits.pop(request_id, None)
        if audited and (
            kind == HANDLE or (kind == STATUS and int.from_bytes(buffer[at + 9 : at + 13], "big") == FX_OK)
        ):
            self.session.record(*audited)
        packet = bytes(buffer[at:end])
        answer = packet[:5] + struct.pack(">I", client_id) + packet[9:]
        if request_id in self._rename:
            self._rename.discard(request_id)
            if kind == NAME and int.from_bytes(packet[9:13], "big") >= 1:
                with contextlib.suppress(ProtocolError):
                    path, at = _string(packet, 13)
                    body = (
                        struct.pack(">I", client_id)
                        + bytes(packet[9:13])
                        + _pack_string(self.paths.outside(path))
                    )
                    return _packet(NAME, body + bytes(packet[at:]))
        return answer
