"""A template's file denylist (Template.file_denylist): gitignore-style patterns, read as Wings reads
an egg's `file_denylist` (the last matching pattern decides, `!` re-includes, `dir/` is a directory
and everything under it, `/name` only at the root). Through the files API and the SFTP gateway, the
files they name cannot be read, written, created, renamed (away or onto), deleted, chmodded,
downloaded, archived, extracted onto or listed into. Staff's admin views are not bound.

A path is checked as the customer wrote it and as it resolves in the server's helper (sftp-server's
realpath): a symlink the customer planted, to the file or to a directory above it, leads to the same
refusal. A directory that is moved, deleted or copied is checked with everything in it: moving
`config/` away would free the `config/secret.cfg` inside. Names are case-sensitive, as the files are.

What this cannot see (said in the README): a hard link the game itself made to a protected file (a
second name for the same bytes: SFTP v3 shows neither link counts nor inodes), and a link swapped by
a running program in the instant between the check and the operation (sftp-server has no openat:
the check and the open are two requests)."""

import posixpath

import pathspec

from config.errors import NotAllowed
from nodes.client import FileRefused
from servers.files import paths


class Denylist:
    def __init__(self, patterns):
        lines = [p for p in patterns or [] if isinstance(p, str) and p.strip()]
        lines = [p for p in lines if _valid(p)]  # git skips a line that is no pattern ("!"); so do we
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None

    def __bool__(self) -> bool:
        return self.spec is not None

    def denies(self, path: str, *, directory: bool = False) -> bool:
        """Does a pattern name the customer's `path` (`/a/b`)? The root itself never."""
        relative = posixpath.normpath("/" + path).strip("/")
        if not self.spec or not relative:
            return False
        # pathspec's regexes use `.`, which never matches a newline: a name holding one (`x\ny/a.jar`)
        # would escape `*.jar`. NUL is matched by every wildcard and by no pattern's literal text (no
        # file name, and no pattern, can hold one), so it stands in for the newline losslessly.
        relative = relative.replace("\n", "\x00")
        return self.spec.match_file(relative) or (directory and self.spec.match_file(relative + "/"))


def _valid(pattern: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([pattern])
    except ValueError:
        return False
    return True


def for_server(server) -> Denylist:
    return Denylist(getattr(server.template, "file_denylist", None))


def protected(path: str, *, inside: str | None = None) -> NotAllowed:
    what = f"{inside} holds {path}, which" if inside and inside != path else path
    return NotAllowed(
        f"{what} is protected by the server's template (its file denylist): it cannot be read, "
        "changed, moved or deleted through the file manager or SFTP."
    )


def unresolvable(path: str) -> NotAllowed:
    return NotAllowed(
        f"{path} goes through too many symbolic links to be checked against the server's protected "
        "files: point the link at its target directly."
    )


def too_large(path: str, limit: int) -> NotAllowed:
    return NotAllowed(
        f"{path} holds too many files to be checked against the server's protected files here "
        f"(more than {limit:,} entries, a directory counting {LISTING_COST}): move it through the "
        "panel's file manager, or in smaller parts."
    )


# What listing one directory costs in a tree's walk, in entries: a round trip to the helper (about
# 2 ms, where an entry listed costs about 0.1 ms), so a tree of empty directories is capped too.
LISTING_COST = 10


class Checker:
    """Checks helper paths of one server against its denylist, resolving them through `files` (a
    FileSession in the server's helper). Raises NotAllowed (403)."""

    def __init__(self, files, denylist: Denylist, mount: str):
        self.files, self.denylist, self.mount = files, denylist, mount

    def path(self, inside: str, *, follow: bool = True, directory: bool | None = None) -> None:
        """Refuse `inside` when it, or what it resolves to, is denied. `follow`: the operation acts
        on what a final symlink points to (open, list, chmod); else on the entry itself (remove,
        rename, mkdir, symlink). `directory` None: look (a `dir/` pattern names directories only)."""
        shown = paths.outside(self.mount, inside)
        resolved = self.resolve(inside) if follow else self.entry(inside)
        if directory is None:
            directory = self._is_directory(inside if follow else resolved, follow)
        for candidate in dict.fromkeys((shown, paths.outside(self.mount, resolved))):
            if self.denylist.denies(candidate, directory=directory):
                raise protected(shown)

    def tree(self, inside: str, *, to: str | None = None, limit: int | None = None) -> None:
        """Refuse when `inside` or anything under it (never following a symlink) is denied, and,
        for a move to `to`, when anything would land on a denied path there. `limit`: refuse a tree
        whose walk would cost more (an entry costs 1, a directory listed LISTING_COST) than that."""
        self.path(inside, follow=False)
        if to is not None:
            self.path(to, follow=False, directory=self._is_directory(inside, False))
        top = paths.outside(self.mount, inside)
        try:
            entry = self.files.lstat(inside)
        except FileRefused as exc:
            if exc.reason == FileRefused.MISSING:
                return  # nothing there to move or delete: the operation itself says so
            raise
        if not entry.is_directory:
            return
        pending = [(self.entry(inside), to and self.entry(to))]
        cost = 0
        while pending:
            source, target = pending.pop()
            children = self.files.list(source)
            cost += LISTING_COST + len(children)
            if limit is not None and cost > limit:
                raise too_large(top, limit)
            for child in children:
                here = posixpath.join(source, child.name)
                there = target and posixpath.join(target, child.name)
                for candidate in (here, there):
                    shown = candidate and paths.outside(self.mount, candidate)
                    if shown and self.denylist.denies(shown, directory=child.is_directory):
                        raise protected(shown, inside=top)
                if child.is_directory and not child.is_symlink:
                    pending.append((here, there))

    def resolve(self, inside: str) -> str:
        """`inside` with every symlink resolved (in the helper); the missing tail kept as written.
        sftp-server answers "no such file" both for a missing name and for a chain of links longer
        than its realpath follows (32; the kernel follows 40): a name that lstat still reaches is
        such a chain, and is refused rather than checked as written."""
        try:
            return self.files.realpath(inside)
        except FileRefused as exc:
            if exc.reason != FileRefused.MISSING:
                raise
        if self._reachable(inside):
            raise unresolvable(paths.outside(self.mount, inside))
        parent = posixpath.dirname(inside)
        if parent == inside:
            return inside
        return posixpath.join(self.resolve(parent), posixpath.basename(inside))

    def _reachable(self, inside: str) -> bool:
        try:
            self.files.lstat(inside)
        except FileRefused as exc:
            if exc.reason != FileRefused.MISSING:
                raise
            return False
        return True

    def entry(self, inside: str) -> str:
        """The entry's own path: its directory resolved, its name kept (a link is not followed)."""
        parent = posixpath.dirname(inside)
        if parent == inside:
            return inside
        return posixpath.join(self.resolve(parent), posixpath.basename(inside))

    def _is_directory(self, inside: str, follow: bool) -> bool:
        try:
            entry = self.files.stat(inside) if follow else self.files.lstat(inside)
        except FileRefused:
            return False
        return entry.is_directory


class GuardedFiles:
    """A FileSession whose operations refuse what the server's denylist protects; everything else is
    the session's own (stat, lstat, exists and readlink only describe, and are passed through)."""

    def __init__(self, files, checker: Checker):
        self._files, self.check = files, checker

    def __getattr__(self, name):
        return getattr(self._files, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._files.close()

    def list(self, path: str):
        self.check.path(path, directory=True)
        return self._files.list(path)

    def read(self, path: str, **options):
        self.check.path(path, directory=False)
        return self._files.read(path, **options)

    def read_windowed(self, path: str, **options):
        self.check.path(path, directory=False)
        return self._files.read_windowed(path, **options)

    def open_reader(self, path: str):
        self.check.path(path, directory=False)
        return self._files.open_reader(path)

    def write(self, path: str, chunks, **options) -> int:
        self.check.path(path, directory=False)
        return self._files.write(path, chunks, **options)

    def mkdir(self, path: str, *args) -> None:
        self.check.path(path, follow=False, directory=True)
        self._files.mkdir(path, *args)

    def remove(self, path: str) -> None:
        self.check.path(path, follow=False)
        self._files.remove(path)

    def rmdir(self, path: str) -> None:
        self.check.path(path, follow=False, directory=True)
        self._files.rmdir(path)

    def remove_tree(self, path: str) -> int:
        self.check.tree(path)  # before anything goes: a refusal midway would leave half a tree
        return self._files.remove_tree(path)

    def rename(self, source: str, target: str) -> None:
        self.check.tree(source, to=target)
        self._files.rename(source, target)

    def replace(self, source: str, target: str) -> None:
        self.check.tree(source, to=target)
        self._files.replace(source, target)

    def chmod(self, path: str, mode: int) -> None:
        self.check.path(path)
        self._files.chmod(path, mode)

    def symlink(self, target: str, path: str) -> None:
        self.check.path(path, follow=False, directory=False)
        self._files.symlink(target, path)


def check_readable(files, inside: str) -> None:
    """Refuse now (NotAllowed) to read `inside`, for reads that start later (a streamed download)."""
    if isinstance(files, GuardedFiles):
        files.check.path(inside, directory=False)


def check_writable(files, inside: str) -> None:
    """Refuse now (NotAllowed) to write `inside`, for writes that happen later (a pull's job)."""
    if isinstance(files, GuardedFiles):
        files.check.path(inside, directory=False)


def check_copy(files, source: str, target: str) -> None:
    """Refuse a copy of `source` (or of anything in it) that is protected, or that lands on a
    protected path under `target`, before anything is written."""
    if isinstance(files, GuardedFiles):
        files.check.tree(source, to=target)


def protects(files):
    """`protects(inside, directory)`: would the session's denylist refuse that entry? (Always False
    for an unbound session.) For the archive jobs, which leave such entries out as Wings does."""
    check = getattr(files, "check", None)
    if not isinstance(check, Checker):
        return lambda inside, directory: False

    def denied(inside: str, directory: bool) -> bool:
        try:
            check.path(inside, follow=False, directory=directory)
        except NotAllowed:
            return True
        return False

    return denied


def guarded(files, server, mount: str):
    """`files` bound by the server's denylist (itself when the template has none)."""
    denylist = for_server(server)
    return GuardedFiles(files, Checker(files, denylist, mount)) if denylist else files
