"""The files image: OpenSSH's `sftp-server`, the C library it needs and a one-line passwd, nothing else.

Every operation on a server's files (the API, the SFTP gateway, archives, restores, installs from the
marketplace) runs as a `sftp-server` inside a short-lived helper container of this image, which mounts
the server's directory and nothing else of the node (nodes/client/files.py says why). The image is built
here from the panel's own `sftp-server` (Debian's openssh-sftp-server) and imported on the node over its
connection: never pulled from a registry. One image per uid:gid, as `sftp-server` refuses to run for a
user the image's passwd does not name.
"""

import functools
import hashlib
import io
import os
import re
import subprocess
import tarfile

from django.conf import settings

IMAGE_REPOSITORY = "hearth/files"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"  # the path inside the image


class FilesImageMissing(Exception):
    """The panel's machine has no sftp-server to build the files image from."""


@functools.cache
def _binaries() -> tuple[tuple[str, bytes], ...]:
    """(path in the image, content) of sftp-server and every shared library `ldd` says it loads."""
    source = settings.FILES_SFTP_SERVER
    if not os.path.isfile(source):
        raise FilesImageMissing(
            f"{source} is missing on the panel's machine: install Debian's openssh-sftp-server "
            "(or set HEARTH_FILES_SFTP_SERVER to OpenSSH's sftp-server)."
        )
    listing = subprocess.run(["ldd", source], capture_output=True, text=True, check=True).stdout
    libraries = sorted(set(re.findall(r"(/\S+\.so[.\d]*)", listing)))
    files = [(SFTP_SERVER, source)] + [(path, path) for path in libraries]
    return tuple((inside, _read(real)) for inside, real in files)


def _read(path: str) -> bytes:
    with open(os.path.realpath(path), "rb") as handle:
        return handle.read()


def image_tag(owner: str) -> str:
    """The image for uid:gid `owner`: its tag names the content, so a changed sftp-server is a new image."""
    digest = hashlib.sha256()
    for path, content in _binaries():
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    uid, gid = owner.split(":")
    return f"{IMAGE_REPOSITORY}:{digest.hexdigest()[:12]}-{uid}-{gid}"


def image_archive(owner: str) -> bytes:
    """The root filesystem as a tar for `docker import`: binaries read-only, passwd and group naming
    `owner` as the user "container" (home /home/container, no shell)."""
    uid, gid = (int(part) for part in owner.split(":"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        made = set()
        files = [
            *_binaries(),
            ("/etc/passwd", f"container:x:{uid}:{gid}::/home/container:/sbin/nologin\n".encode()),
        ]
        files.append(("/etc/group", f"container:x:{gid}:\n".encode()))
        for path, content in files:
            _add_parents(archive, path, made)
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o755 if "/etc/" not in path else 0o644
            archive.addfile(info, io.BytesIO(content))
        for directory in ("home", "home/container"):
            _add_parents(archive, f"/{directory}/x", made)
    return buffer.getvalue()


def _add_parents(archive: tarfile.TarFile, path: str, made: set) -> None:
    parts = path.strip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        directory = "/".join(parts[:depth])
        if directory not in made:
            made.add(directory)
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
