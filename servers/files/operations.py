"""Moving and copying within a server's files (servers/files/service.py has the rest of the manager).

Both run inside the server's helper, so a destination "through" a symlink resolves within the server's
directory whatever the link says. Copy never follows a symlink: it copies the link."""

import contextlib
import posixpath

from accounts.audit import audit
from config.errors import InvalidInput, NotFound
from servers.files import quota
from servers.files.denylist import check_copy
from servers.files.helper import session
from servers.files.service import Place, exists, refusals
from servers.models import Server


def _source_and_target(server: Server, source, target) -> tuple[Place, Place]:
    origin, destination = Place(server, source, field="from"), Place(server, target, field="to")
    if origin.is_root:
        raise InvalidInput({"from": "The server's root directory cannot be moved or copied."})
    if destination.is_root:
        raise InvalidInput({"to": "/ is the server's root directory: name a path inside it."})
    if destination.within(origin):
        raise InvalidInput({"to": f"{destination.path} is {origin.path} itself or inside it."})
    return origin, destination


def _require_parent(files, destination: Place) -> None:
    parent = Place(destination.server, posixpath.dirname(destination.path), field="to")
    if not files.exists(parent.inside):
        raise NotFound(f"No such directory: {parent.path}")
    if not files.stat(parent.inside).is_directory:
        raise InvalidInput({"to": f"{parent.path} is not a directory."})


def file_rename(*, server: Server, actor, source, target, request=None) -> dict:
    """Move `source` to `target` (a new name, or another directory's); 409 when `target` exists."""
    origin, destination = _source_and_target(server, source, target)
    with session(server) as files, refusals(origin.mount):
        files.lstat(origin.inside)  # 404 for the source before anything about the target
        _require_parent(files, destination)
        files.rename(origin.inside, destination.inside)
    audit("file.rename", actor=actor, request=request, resource=server, path=origin.path, to=destination.path)
    return {"from": origin.path, "to": destination.path}


def file_copy(*, server: Server, actor, source, target, request=None) -> dict:
    """Copy a file, a symlink (as a link) or a directory with everything in it to `target` (409 when it
    exists). Every byte counts against the disk limit; a copy that fails midway is removed whole."""
    origin, destination = _source_and_target(server, source, target)
    with session(server) as files, refusals(origin.mount):
        files.lstat(origin.inside)
        _require_parent(files, destination)
        check_copy(files, origin.inside, destination.inside)
        if files.exists(destination.inside):
            raise exists(destination)
        copier = Copier(files, quota.budget(server))
        try:
            copied = copier.copy(origin.inside, destination.inside)
        except BaseException:
            if copier.started:  # ours alone: never what someone made at `target` meanwhile
                with contextlib.suppress(Exception):
                    files.remove_tree(destination.inside)
            raise
    audit("file.copy", actor=actor, request=request, resource=server, path=origin.path, to=destination.path)
    return {"from": origin.path, "to": destination.path, "copied": copied}


class Copier:
    """Copies paths within one session, spending the bytes from `budget`; `started` once the top-level
    target exists (what a failed copy must remove)."""

    def __init__(self, files, budget):
        self.files, self.budget, self.started = files, budget, False

    def copy(self, source: str, target: str) -> int:
        """Copy one path (recursively); paths copied."""
        files = self.files
        entry = files.lstat(source)
        if entry.is_symlink:
            files.symlink(files.readlink(source), target)
            self.started = True
            return 1
        if entry.is_directory:
            files.mkdir(target, entry.mode | 0o700)  # writable while we fill it
            self.started = True
            copied = 1
            for child in files.list(source):
                copied += self.copy(posixpath.join(source, child.name), posixpath.join(target, child.name))
            if entry.mode | 0o700 != entry.mode:
                files.chmod(target, entry.mode)
            return copied
        if not entry.is_regular:
            return 0  # a device, pipe or socket has no bytes to copy
        # exclusive: the name is ours only once the whole file is written (and fails if it is not free)
        files.write(target, self.budget.metered(files.read(source)), mode=entry.mode, exclusive=True)
        self.started = True
        return 1
