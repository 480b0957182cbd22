"""The file manager's operations on a server's files (the API, the web UI, the admin): list, create,
read and write for the editor, delete and chmod; rename and copy are in servers/files/operations.py.

Callers have checked access (servers.files.access). Every operation runs through one FileSession in
the server's helper container (servers.files.helper), so containment holds whatever the customer
planted; what this module adds is the contract's answers: customers' paths in, refusals with clear
messages out (refusals()), the disk limit on every write (servers.files.quota), and the audit log."""

import contextlib
import posixpath
from datetime import UTC, datetime

from django.conf import settings

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound, TooLarge
from nodes.client import FileRefused
from servers.files import paths, quota
from servers.files.helper import session
from servers.models import Server

ROOT = "/"
PERMISSION_BITS = 0o777


class Place:
    """One customer path on one server, and the helper's name for it (`inside`)."""

    def __init__(self, server: Server, path, *, field: str = "path"):
        self.server, self.field = server, field
        self.path = paths.clean(path, field=field)
        self.mount = server.template.data_path

    @property
    def inside(self) -> str:
        return paths.inside(self.mount, self.path)

    @property
    def is_root(self) -> bool:
        return self.path == ROOT

    def child(self, name: str) -> "Place":
        return Place(self.server, posixpath.join(self.path, name), field=self.field)

    def within(self, other: "Place") -> bool:
        """Is this `other` itself or somewhere under it?"""
        return self.path == other.path or self.path.startswith(other.path.rstrip("/") + "/")


@contextlib.contextmanager
def refusals(mount: str):
    """sftp-server's refusals as the contract's errors, naming the customer's path."""
    try:
        yield
    except FileRefused as exc:
        raise refusal(exc, mount) from exc


def refusal(exc: FileRefused, mount: str):
    path = paths.outside(mount, exc.path)
    if exc.reason == FileRefused.MISSING:
        return NotFound(f"No such file or directory: {path}")
    if exc.reason == FileRefused.EXISTS:
        return IllegalTransition(f"A file or directory already exists at {path}.", current_state="exists")
    if exc.reason == FileRefused.DENIED:
        return NotAllowed(f"The server's files deny this: permissions on disk ({path}).")
    return InvalidInput(f"{path}: {exc.detail or 'the operation failed'}.")


def exists(place: "Place") -> IllegalTransition:
    return IllegalTransition(f"A file or directory already exists at {place.path}.", current_state="exists")


def entry_answer(entry) -> dict:
    """One listing entry as the API shows it."""
    return {
        "name": entry.name,
        "size": 0 if entry.is_directory else entry.size,  # as the contract shows directories
        "is_directory": entry.is_directory,
        "is_symlink": entry.is_symlink,
        "modified": iso(entry.modified),
        "mode": mode_text(entry.mode),
    }


def iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mode_text(mode: int) -> str:
    return format(mode, "03o")


# ---- reading ---------------------------------------------------------------------------------------------


def files_list(*, server: Server, path, denylist: bool = True) -> list[dict]:
    """The directory's entries: directories first, then by name. A symlink to a directory is listed
    through (inside the helper, so only ever within the server's files). `denylist` False: staff's
    view, not bound by the template's file denylist."""
    place = Place(server, path)
    with session(server, denylist=denylist) as files, refusals(place.mount):
        if not files.stat(place.inside).is_directory:
            raise InvalidInput({"path": f"{place.path} is not a directory."})
        entries = files.list(place.inside)
    entries.sort(key=lambda entry: (not entry.is_directory, entry.name))
    return [entry_answer(entry) for entry in entries]


def file_read_text(*, server: Server, path) -> dict:
    """A regular file's text for the editor: refused over FILES_EDITOR_MAX_BYTES (413), when it is not a
    regular file (400) or not UTF-8 (400: download it instead)."""
    place = Place(server, path)
    cap = settings.FILES_EDITOR_MAX_BYTES
    with session(server) as files, refusals(place.mount):
        entry = files.stat(place.inside)
        require_regular(place, entry)
        if entry.size > cap:
            raise too_large(place, cap)
        data = bytearray()
        for chunk in files.read(place.inside):
            data += chunk
            if len(data) > cap:  # it grew since the stat
                raise too_large(place, cap)
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput({"path": f"{place.path} is a binary file: download it instead."}) from None
    return {"path": place.path, "content": content, "size": len(data), "mode": mode_text(entry.mode)}


def require_regular(place: Place, entry) -> None:
    if entry.is_directory:
        raise InvalidInput({place.field: f"{place.path} is a directory, not a file."})
    if not entry.is_regular:
        raise InvalidInput({place.field: f"{place.path} is not a regular file (a device, socket or pipe)."})


def too_large(place: Place, cap: int) -> TooLarge:
    return TooLarge(
        f"{place.path} is larger than the editor's limit of {cap // 1024} KB: download it instead."
    )


# ---- writing ---------------------------------------------------------------------------------------------


def encoded(content, *, field: str = "content") -> bytes:
    if not isinstance(content, str):
        raise InvalidInput({field: f"{field} must be text."})
    data = content.encode("utf-8")
    cap = settings.FILES_EDITOR_MAX_BYTES
    if len(data) > cap:
        raise TooLarge(
            f"The content is larger than the editor's limit of {cap // 1024} KB: upload it instead."
        )
    return data


def file_write_text(*, server: Server, actor, path, content, request=None) -> dict:
    """Replace (or create) a file with `content`, all at once (FileSession.write: a temporary file renamed
    over it), keeping its mode. A symlink is refused rather than replaced by a file. The growth counts
    against the disk limit."""
    place = Place(server, path)
    data = encoded(content)
    if place.is_root:
        raise InvalidInput({"path": "/ is the server's root directory, not a file."})
    with session(server) as files, refusals(place.mount):
        old = files.lstat(place.inside) if files.exists(place.inside) else None
        if old is not None and old.is_symlink:
            raise InvalidInput({"path": f"{place.path} is a symbolic link: open the file it points to."})
        if old is not None:
            require_regular(place, old)
        quota.budget(server).spend(max(len(data) - (old.size if old else 0), 0))
        files.write(place.inside, [data], mode=old.mode if old else None)
    audit("file.write", actor=actor, request=request, resource=server, path=place.path, size=len(data))
    return {"path": place.path, "size": len(data)}


def file_create(*, server: Server, actor, path, content="", is_directory=False, request=None) -> dict:
    """A new file (with `content`) or directory at `path`, making missing parents; 409 when it exists."""
    place = Place(server, path)
    if place.is_root:
        raise IllegalTransition(
            "/ already exists: it is the server's root directory.", current_state="exists"
        )
    data = b"" if is_directory else encoded(content or "")
    with session(server) as files, refusals(place.mount):
        make_parents(files, place)
        if files.exists(place.inside):
            raise exists(place)
        if is_directory:
            files.mkdir(place.inside)
        else:
            budget = quota.budget(server, incoming=len(data))
            try:
                files.write(place.inside, budget.metered([data]), exclusive=True)
            except FileRefused:
                if files.exists(place.inside):  # made meanwhile: sftp-server's rename just says "Failure"
                    raise exists(place) from None
                raise
    audit(
        "file.create", actor=actor, request=request, resource=server, path=place.path, directory=is_directory
    )
    return {"path": place.path, "is_directory": bool(is_directory)}


def make_parents(files, place: Place) -> None:
    """Every missing directory above `place` (mkdir -p); 400 when one of them is a file."""
    parts = place.path.strip("/").split("/")[:-1]
    current = Place(place.server, ROOT)
    for part in parts:
        current = current.child(part)
        if not files.exists(current.inside):
            with contextlib.suppress(FileRefused):  # made meanwhile: the stat below decides
                files.mkdir(current.inside)
        if not files.stat(current.inside).is_directory:
            raise InvalidInput({place.field: f"{current.path} is not a directory."})


def file_delete(*, server: Server, actor, path, request=None) -> int:
    """Remove a file, a symlink (never what it points to) or a directory with everything in it."""
    place = Place(server, path)
    if place.is_root:
        raise InvalidInput({"path": "The server's root directory cannot be deleted: delete what is in it."})
    with session(server) as files, refusals(place.mount):
        removed = files.remove_tree(place.inside)
    audit("file.delete", actor=actor, request=request, resource=server, path=place.path, removed=removed)
    return removed


def parse_mode(value) -> int:
    """ "755", "0644" or "0o600" → the bits; only permission bits (no setuid, setgid or sticky)."""
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    text = text.removeprefix("0o")
    digits = text.lstrip("0") or "0"
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise InvalidInput({"mode": "mode must be octal permission bits such as 755 or 0644."})
    mode = int(digits, 8)
    if mode & ~PERMISSION_BITS:
        raise InvalidInput(
            {"mode": "mode may set only permission bits (000 to 777): no setuid, setgid or sticky."}
        )
    return mode


def file_chmod(*, server: Server, actor, path, mode, request=None) -> dict:
    """Set a file's or directory's permission bits; a symlink is refused (chmod would follow it)."""
    place = Place(server, path)
    bits = parse_mode(mode)
    if place.is_root:
        raise InvalidInput({"path": "The mode of the server's root directory is the panel's to set."})
    with session(server) as files, refusals(place.mount):
        if files.lstat(place.inside).is_symlink:
            raise InvalidInput({"path": f"{place.path} is a symbolic link: chmod the file it points to."})
        files.chmod(place.inside, bits)
    audit("file.chmod", actor=actor, request=request, resource=server, path=place.path, mode=mode_text(bits))
    return {"path": place.path, "mode": mode_text(bits)}
