"""The tools image: bash, GNU tar, zstd, gzip, openssl (sha256) and a few coreutils, with the libraries they
load, nothing else. Backups and restores (nodes/client/backups.py) run in short-lived containers of it.

Like the files image (files_image.py says why), it is built from the panel's own binaries and imported
on the node over its connection, never pulled; its tag names its content. One image serves every
uid:gid: nothing in it asks the passwd who a numeric user is.
"""

import functools
import hashlib
import io
import re
import shutil
import subprocess
import tarfile

from nodes.client.files_image import _add_parents, _read

IMAGE_REPOSITORY = "hearth/tools"
# (path inside the image, program looked up on the panel's PATH). tar runs its compressor through
# /bin/sh -c, so the image's /bin/sh is bash too.
_PROGRAMS = (
    ("/bin/bash", "bash"),
    ("/bin/sh", "bash"),
    ("/usr/bin/tar", "tar"),
    ("/usr/bin/zstd", "zstd"),
    ("/usr/bin/gzip", "gzip"),
    ("/usr/bin/openssl", "openssl"),
    ("/usr/bin/nproc", "nproc"),
    ("/usr/bin/cat", "cat"),
    ("/usr/bin/head", "head"),
    ("/usr/bin/chmod", "chmod"),
    ("/usr/bin/nice", "nice"),
    ("/usr/bin/mv", "mv"),
    ("/usr/bin/rm", "rm"),
    ("/usr/bin/mkdir", "mkdir"),
    ("/usr/bin/rmdir", "rmdir"),
    ("/usr/bin/sleep", "sleep"),
    ("/usr/bin/stat", "stat"),
    ("/usr/bin/tail", "tail"),
)
PATH = "/usr/bin:/bin"


class ToolsImageMissing(Exception):
    """The panel's machine lacks a program the tools image is made of (zstd, say)."""


@functools.cache
def _binaries() -> tuple[tuple[str, bytes], ...]:
    files: dict[str, str] = {}
    for inside, program in _PROGRAMS:
        source = shutil.which(program)
        if source is None:
            raise ToolsImageMissing(
                f"{program} is missing on the panel's machine: install it (Debian: apt-get install "
                f"{program if program in ('zstd', 'openssl') else 'coreutils tar gzip bash'}) to make backups."
            )
        files[inside] = source
        listing = subprocess.run(["ldd", source], capture_output=True, text=True, check=False).stdout
        for library in re.findall(r"(/\S+\.so[.\d]*)", listing):
            files.setdefault(library, library)
    return tuple((inside, _read(real)) for inside, real in sorted(files.items()))


@functools.cache
def tools_tag() -> str:
    digest = hashlib.sha256()
    for path, content in _binaries():
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return f"{IMAGE_REPOSITORY}:{digest.hexdigest()[:12]}"


def tools_archive() -> bytes:
    """The root filesystem as a tar for `docker import`: the programs and libraries, read-only."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        made: set = set()
        for path, content in _binaries():
            _add_parents(archive, path, made)
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o755
            archive.addfile(info, io.BytesIO(content))
        for directory in ("data", "backups"):  # the mount points
            _add_parents(archive, f"/{directory}/x", made)
    return buffer.getvalue()
