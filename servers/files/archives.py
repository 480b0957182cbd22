"""Compress and decompress a server's files: the requests (checked at once, answered with a job) and
the jobs' work (servers/files/archives_jobs.py), run by Celery tasks with progress on the job row and
as console lines over the server's WebSocket group, as installs report theirs.

Compress `paths` into `archiveName` (tar.gz or zip, by `format` or the name's extension), written in
`directory` (default: the paths' common parent) under a temporary name and renamed into place when
complete, counted against the disk limit; an existing archive of that name is refused (409). Entry
names are relative to the paths' common parent (`/world` and `/plugins` hold `world/…`, `plugins/…`).

Decompress `archivePath` (tar, tar.gz, tar.zst or zip, told by its content) into `targetPath` (made
if missing). Nothing half-written: the entries are extracted into a new directory of ours
(`.hearth-extract-<job>`: inside the target when it exists, beside it when not) and only once every
entry is written are they moved into place: a missing target is that one rename; into an existing
one the entries are moved one by one after checking, before moving anything, that none would land
on a symlink or on something of another kind (a directory where the archive has a file). Files of
the same name are replaced, directories merged. A failure removes our directory and every parent
the job made. (The one window left: the node lost while entries are being moved into an existing
target leaves those already moved, each of them complete.) See servers/files/archives_extract.py
for the rules on entries and the limits.
"""

import posixpath

from django.db import transaction

from accounts.audit import audit
from config.errors import IllegalTransition, InvalidInput, NotFound
from config.tasks import queue
from nodes.client import FileRefused
from servers import jobs
from servers.files import paths as customer_paths
from servers.files.archives_extract import OURS, detect
from servers.files.archives_pack import format_for
from servers.files.helper import helper_for, session
from servers.models import Job, Server

MAX_PATHS = 100
HEAD = 64 * 1024  # enough of an archive to tell its format (and, compressed, that a tar is inside)


def archive_compress(
    *,
    server: Server,
    actor,
    paths: list,
    archive_name: str,
    format: str | None = None,
    directory: str | None = None,
    request=None,
) -> tuple[Job, str]:
    """Check the request against the server's files now (404 for a missing path, 409 for an existing
    archive) and queue the job; (job, the archive's path)."""
    roots = _compress_roots(paths)
    name = customer_paths.name(archive_name, field="archiveName")
    if name.startswith(OURS):
        raise InvalidInput(
            {"archiveName": f"archiveName may not start with {OURS}: Hearth keeps those names."}
        )
    fmt = format_for(name, format)
    base = common_parent(roots)
    folder = customer_paths.clean(directory, field="directory") if directory else base
    archive_path = posixpath.join(folder, name)
    mount = helper_for(server).mount
    with session(server) as files, refused_as_errors(mount):
        for path in roots:
            _must_exist(files, mount, path, field="paths")
        if not files.stat(customer_paths.inside(mount, folder)).is_directory:
            raise InvalidInput({"directory": f"{folder} is not a directory."})
        if files.exists(customer_paths.inside(mount, archive_path)):
            raise IllegalTransition(
                f"{archive_path} already exists: choose another archiveName or delete it."
            )
    detail = {"paths": roots, "base": base, "archivePath": archive_path, "format": fmt}
    from servers.tasks import server_files_compress_task

    with transaction.atomic():
        job = jobs.job_create(server=server, kind=Job.Kind.COMPRESS, actor=actor, detail=detail)
        audit("file.compress", actor=actor, request=request, resource=server, jobId=str(job.pk), **detail)
        queue(server_files_compress_task, job.pk)
    return job, archive_path


def archive_decompress(*, server: Server, actor, archive_path, target_path, request=None) -> Job:
    """Check that `archive_path` is an archive we read and `target_path` a directory (or missing),
    and queue the job."""
    archive = customer_paths.clean(archive_path, field="archivePath")
    target = customer_paths.clean(target_path, field="targetPath")
    mount = helper_for(server).mount
    with session(server) as files, refused_as_errors(mount):
        entry = _must_exist(files, mount, archive, field="archivePath", follow=True)
        if not entry.is_regular:
            raise InvalidInput({"archivePath": f"{archive} is not a file."})
        reader = files.open_reader(customer_paths.inside(mount, archive))
        try:
            fmt = detect(reader.read(HEAD))
        finally:
            reader.close()
        if fmt is None:
            raise InvalidInput(
                {"archivePath": f"{archive} is not an archive Hearth extracts (tar, tar.gz, tar.zst or zip)."}
            )
        if files.exists(customer_paths.inside(mount, target)):
            check_target(files.lstat(customer_paths.inside(mount, target)), target)
    detail = {"archivePath": archive, "targetPath": target, "format": fmt, "archiveSize": entry.size}
    from servers.tasks import server_files_decompress_task

    with transaction.atomic():
        job = jobs.job_create(server=server, kind=Job.Kind.DECOMPRESS, actor=actor, detail=detail)
        audit("file.decompress", actor=actor, request=request, resource=server, jobId=str(job.pk), **detail)
        queue(server_files_decompress_task, job.pk)
    return job


def check_target(entry, target: str) -> None:
    if entry.is_symlink:
        raise InvalidInput({"targetPath": f"{target} is a symbolic link: give the directory itself."})
    if not entry.is_directory:
        raise InvalidInput({"targetPath": f"{target} is a file, not a directory."})


def _compress_roots(paths) -> list[str]:
    """The cleaned paths, without any inside another (already archived with it)."""
    if not isinstance(paths, list) or not paths:
        raise InvalidInput({"paths": "paths must be a non-empty list of paths such as /world."})
    if len(paths) > MAX_PATHS:
        raise InvalidInput({"paths": f"paths may name at most {MAX_PATHS} paths: archive their parent."})
    cleaned = sorted({customer_paths.clean(path, field="paths") for path in paths})
    roots: list[str] = []
    for path in cleaned:  # sorted: a parent comes before what is inside it
        if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots):
            roots.append(path)
    return roots


def common_parent(roots: list[str]) -> str:
    """The directory the entries' names start from: the paths' common parent (`/` for `/`)."""
    return posixpath.commonpath([posixpath.dirname(root) if root != "/" else "/" for root in roots])


def name_in_archive(root: str, base: str) -> str:
    """`root`'s entry name: relative to `base` ("" for the server's root itself)."""
    return "" if root == "/" else posixpath.relpath(root, base)


def _must_exist(files, mount: str, path: str, *, field: str, follow: bool = False):
    try:
        helper_path = customer_paths.inside(mount, path)
        return files.stat(helper_path) if follow else files.lstat(helper_path)
    except FileRefused as exc:
        if exc.reason == FileRefused.MISSING:
            raise NotFound(f"{path} does not exist ({field}).") from exc
        raise


class refused_as_errors:
    """FileRefused during a request becomes the domain's error (404 missing, 409 exists, else 400),
    naming the customer's path."""

    def __init__(self, mount: str):
        self.mount = mount

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if not isinstance(exc, FileRefused):
            return False
        raise as_error(exc, self.mount) from exc


def as_error(exc: FileRefused, mount: str):
    path = customer_paths.outside(mount, exc.path)
    if exc.reason == FileRefused.MISSING:
        return NotFound(f"{path} does not exist.")
    if exc.reason == FileRefused.EXISTS:
        return IllegalTransition(f"{path} already exists.")
    return InvalidInput(f"{path}: {exc.detail or exc.reason}.")
