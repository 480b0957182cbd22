"""What the archive tests share: archives built in the test, files put through the helper, the jobs
run as a worker would, and the host's view of a server's directory (no tests here)."""

import functools
import hashlib
import io
import os
import tarfile
import zipfile

import zstandard

from servers import runtime
from servers.files.archives import archive_compress, archive_decompress
from servers.files.archives_jobs import archive_compress_execute, archive_decompress_execute
from servers.files.helper import helper_for, session
from servers.models import Job

ENGINES = [(1, "unix"), (2, "ssh")]


def put(server, path: str | None = None, data: bytes = b"", **more: bytes) -> None:
    """Write `data` at the customer's `path` (parents made) through the server's helper; `more` maps
    further paths to their bytes (put(server, **{"/a": b"1", "/b/c": b"2"})), in the same session."""
    mount = helper_for(server).mount
    files_to_write = ({path: data} if path else {}) | more
    with session(server) as files:
        for where, content in files_to_write.items():
            parts = where.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = f"{mount}/{'/'.join(parts[:depth])}"
                if not files.exists(directory):
                    files.mkdir(directory)
            files.write(f"{mount}/{where.strip('/')}", [content])


def host_tree(server) -> dict[str, object]:
    """The server's directory as the node's host sees it: relative path → bytes, "dir" or ("link", target)."""
    root = runtime.server_dir(server)
    found: dict[str, object] = {}
    for directory, dirs, names in os.walk(root):
        for name in dirs + names:
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, root)
            if os.path.islink(full):
                found[relative] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                found[relative] = "dir"
            else:
                with open(full, "rb") as handle:
                    found[relative] = handle.read()
    return found


def escaped(server, token: str) -> list[str]:
    """Where on the host a name containing `token` turned up outside the server's directory: beside it,
    in the node's data dir, /etc, /tmp or / (an escaping entry would land there). Names are unique to a
    test, since other test runs share the nodes' directories."""
    servers = os.path.dirname(runtime.server_dir(server))
    places = [servers, os.path.dirname(servers), "/etc", "/tmp", "/"]
    return [f"{place}/{name}" for place in places for name in os.listdir(place) if token in name]


def digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def decompress(server, actor, archive_path: str, target_path: str) -> Job:
    """The request, then the job run as the worker runs it; the job as it ended."""
    job = archive_decompress(server=server, actor=actor, archive_path=archive_path, target_path=target_path)
    archive_decompress_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def compress(server, actor, paths: list[str], name: str, **options) -> tuple[Job, str]:
    job, archive_path = archive_compress(
        server=server, actor=actor, paths=paths, archive_name=name, **options
    )
    archive_compress_execute(job_id=job.pk)
    job.refresh_from_db()
    return job, archive_path


# ---- archives built here --------------------------------------------------------------------------


def tar_bytes(entries: list[tarfile.TarInfo | tuple[str, bytes]], *, compression: str = "") -> bytes:
    """A tar (compression "", "gz" or "zst") of `entries`: (name, data) files or TarInfos as given."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz" if compression == "gz" else "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    return zstandard.ZstdCompressor().compress(data) if compression == "zst" else data


def link_info(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = (tarfile.LNKTYPE if hard else tarfile.SYMTYPE), target
    return info


def special_info(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info


def zip_bytes(entries: list[tuple[str, bytes]], *, symlinks: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return raw.getvalue()


class Zeros:
    """`size` zero bytes as a file, for bombs built without holding them."""

    def __init__(self, size: int):
        self.left = size

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


@functools.cache
def tar_gz_of_zeros(name: str, size: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, Zeros(size))
    return raw.getvalue()


@functools.cache
def tar_zst_of_zeros(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    raw = io.BytesIO()
    compressor = zstandard.ZstdCompressor(level=1)
    with (
        compressor.stream_writer(raw, closefd=False) as compressed,
        tarfile.open(fileobj=compressed, mode="w|") as tar,
    ):
        info = tarfile.TarInfo(name)
        info.size, info.type = size, kind
        tar.addfile(info, Zeros(size))
    return raw.getvalue()
