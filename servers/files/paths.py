"""Customers' paths: `/` is the server's directory. A path is refused (InvalidInput, 400) rather than
guessed at: no NUL, no backslash, no `..`, not too long. This is for clear errors only; containment
does not rest on it (the helper container does that, nodes/client/files.py)."""

import posixpath

from config.errors import InvalidInput

MAX_PATH = 4096
MAX_NAME = 255


def clean(path, *, field: str = "path") -> str:
    """The customer's path normalized to `/a/b` (`""` and `.` mean `/`); InvalidInput naming `field`."""
    if not isinstance(path, str):
        raise InvalidInput({field: f"{field} must be a string such as /world/level.dat."})
    if "\x00" in path:
        raise InvalidInput({field: f"{field} contains a NUL byte."})
    if "\\" in path:
        raise InvalidInput({field: f"{field} contains a backslash: separate directories with /."})
    if len(path) > MAX_PATH:
        raise InvalidInput({field: f"{field} is longer than {MAX_PATH} characters."})
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidInput({field: f"{field} may not contain '..': give the path from the server's root, /."})
    if any(len(part.encode()) > MAX_NAME for part in parts):
        raise InvalidInput({field: f"{field} has a name longer than {MAX_NAME} bytes."})
    return "/" + "/".join(parts)


def name(value, *, field: str = "name") -> str:
    """One file name (no `/`), as for an archive's or a new file's name."""
    cleaned = clean(value, field=field)
    if cleaned == "/" or cleaned.count("/") != 1:
        raise InvalidInput({field: f"{field} must be a single file name, without '/'."})
    return cleaned[1:]


def inside(mount: str, path: str) -> str:
    """The helper's path for the customer's cleaned `path` (under the helper's `mount`)."""
    return mount if path == "/" else posixpath.join(mount, path.lstrip("/"))


def outside(mount: str, path: str) -> str:
    """The customer's path for one of the helper's (the reverse of `inside`)."""
    if path == mount:
        return "/"
    if path.startswith(mount.rstrip("/") + "/"):
        return path[len(mount.rstrip("/")) :]
    return path
