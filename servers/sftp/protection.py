"""The template's file denylist in the SFTP gateway (servers/files/denylist.py says what it protects):
each request naming a path is checked before it is forwarded, through a FileSession of the gateway's
own in the same helper (opened on the first check, only for a server whose template has a denylist),
where links resolve as sftp-server will resolve them. A refused request is answered
SSH_FX_PERMISSION_DENIED with the reason; a file already open stays open (handles carry no path)."""

import contextlib

from config.errors import DomainError, NotAllowed
from nodes.client import FileRefused, NodeUnavailable
from servers.files import paths
from servers.files.denylist import Checker, Denylist
from servers.files.helper import open_session

# Request: how its paths are checked. "open": follow links (the request acts on what a link points
# to); "entry": the name itself (the request acts on the link); "tree": a move, with what is inside.
OPEN, OPENDIR, SETSTAT, REMOVE, MKDIR, RMDIR, RENAME, SYMLINK = 3, 11, 9, 13, 14, 15, 18, 20
CHECKS = {
    OPEN: ("open", False),
    OPENDIR: ("open", True),
    SETSTAT: ("open", None),
    REMOVE: ("entry", False),
    RMDIR: ("entry", True),
    MKDIR: ("entry", True),
    RENAME: ("tree", None),
    SYMLINK: ("entry", False),  # the link's own path (what it points to is checked when used)
    b"posix-rename@openssh.com": ("tree", None),
    b"hardlink@openssh.com": ("link", None),  # a second name for protected bytes: refused
    b"lsetstat@openssh.com": ("entry", None),
}

# The walk before a move runs in the session's request thread, which answers nothing meanwhile:
# measured on the local node, 2,000 files in one directory take 0.15 s, 20,000 files 2.6-3 s, 200
# directories of 10 files 0.6 s. A larger tree is refused with a reason rather than stall the session.
TREE_LIMIT = 10_000


class Protection:
    """The checks of one SFTP session (`session.server` is re-read by the watcher: a template's new
    denylist applies from its next round)."""

    def __init__(self, session, mount: str):
        self.session, self.mount = session, mount
        self._files = None
        self._compiled: tuple = (None, None)

    @property
    def denylist(self) -> Denylist | None:
        server = self.session.server
        patterns = tuple(getattr(server.template, "file_denylist", None) or ()) if server is not None else ()
        if self._compiled[0] != patterns:
            self._compiled = (patterns, Denylist(patterns))
        return self._compiled[1]

    def refusal(self, request, helper_paths: list[bytes]) -> str | None:
        """Why `request` (a packet type, or an extension's name) on these helper paths is refused by
        the denylist; None to forward it."""
        how = CHECKS.get(request)
        if not self.denylist or how is None:
            return None
        try:
            names = [path.decode() for path in helper_paths]
        except UnicodeDecodeError:
            return "A name that is not UTF-8 cannot be checked against the server's protected files."
        try:
            self._check(how, names)
        except NotAllowed as exc:
            return exc.message
        except FileRefused as exc:
            # A path the check cannot read on disk is refused, never forwarded unchecked: `chmod
            # /data 000` would otherwise let `rename /data /d2` carry a protected file out of its
            # name. (A missing name is no refusal: the checks treat it as a name to be created.)
            shown = paths.outside(self.mount, exc.path)
            return f"The server's protected files cannot be checked for {shown}: {exc.detail or exc.reason}."
        except (NodeUnavailable, DomainError) as exc:
            return f"The server's protected files cannot be checked now: {exc}"
        return None

    def _check(self, how: tuple, names: list[str]) -> None:
        kind, directory = how
        check = self._checker()
        if kind == "open":
            check.path(names[0], directory=directory)
        elif kind == "entry":
            check.path(names[0], follow=False, directory=directory)
        elif kind == "tree":
            check.tree(names[0], to=names[1], limit=TREE_LIMIT)
        else:  # a hard link: the bytes it names, and the new name
            check.path(names[0])
            check.path(names[0], follow=False)
            check.path(names[1], follow=False)

    def _checker(self) -> Checker:
        if self._files is None:
            self._files = open_session(self.session.server, denylist=False)
        return Checker(self._files, self.denylist, self.mount)

    def close(self) -> None:
        if self._files is not None:
            with contextlib.suppress(Exception):
                self._files.close()
