"""The compress and decompress jobs' work (servers/files/archives.py says what they do and why).

Each is claimed once (a redelivered task finds it claimed and returns), re-checks that its actor may
still write the server's files, reports progress (bytes done of the total: the files' sizes for
compress, the archive's size for decompress) on the job row and as console lines, and ends
succeeded, or failed with the reason (its HTTP status kept in detail["errorStatus"], for the
endpoint that waits for it).
"""

import contextlib
import logging
import posixpath
import time

from config.errors import DomainError, InvalidInput
from nodes.client import FileRefused, NodeUnavailable
from servers import console, jobs
from servers.files import archives_pack, quota
from servers.files.access import check_files_access
from servers.files.archives import as_error, check_target, name_in_archive
from servers.files.archives_extract import Extraction, Limits, tar_members, zip_members
from servers.files.archives_stream import Pipe
from servers.files.denylist import protects
from servers.files.helper import helper_for, session
from servers.files.paths import inside, outside
from servers.models import Job

logger = logging.getLogger(__name__)
MB = 1024 * 1024
REPORT_EVERY_SECONDS = 2.0
SKIPPED_KEPT = 100  # skipped entries named in the job's detail (the log has them all, to its limit)


class Progress:
    """Bytes done of `total`, reported at most every REPORT_EVERY_SECONDS: the job's progress and
    detail (bytesDone, bytesTotal), and a console line for the server's WebSocket subscribers."""

    def __init__(self, job: Job, total: int, verb: str):
        self.job, self.total, self.verb = job, max(total, 0), verb
        self.done = 0
        self._last = time.monotonic()

    def add(self, size: int) -> None:
        self.done += size
        if time.monotonic() - self._last >= REPORT_EVERY_SECONDS:
            self.report()

    def report(self) -> None:
        self._last = time.monotonic()
        percent = min(99, self.done * 100 // self.total) if self.total else 0
        Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(
            progress=percent, detail={**self.job.detail, "bytesDone": self.done, "bytesTotal": self.total}
        )
        console.write(
            self.job.server_id, f"{self.verb}: {self.done // MB} MB of {self.total // MB} MB ({percent}%)"
        )


def _claimed(job_id) -> Job | None:
    if not jobs.job_claim(job_id):
        return None  # another delivery already has it
    job = Job.objects.select_related("server__node", "server__template", "actor").get(pk=job_id)
    if job.server is None:
        jobs.job_failed(job_id, "The server was deleted.")
        return None
    return job


def _run(job: Job, work, *, verb: str) -> None:
    """Run `work(job)` (which returns the lines for the log), ending the job either way."""
    mount = helper_for(job.server).mount
    try:
        if job.actor is None:
            raise InvalidInput("The user who asked for this no longer exists.")
        check_files_access(job.actor, job.server, "file.write")  # still a member? not suspended since?
        lines = work(job)
    except (DomainError, FileRefused, NodeUnavailable) as exc:
        error = as_error(exc, mount) if isinstance(exc, FileRefused) else exc
        reason = getattr(error, "message", None) or str(error)
        return _failed(job, reason, getattr(error, "status", 503), verb)
    except Exception as exc:
        logger.exception("%s job %s failed", verb, job.pk)
        return _failed(
            job, f"{verb} failed unexpectedly ({exc.__class__.__name__}); it was logged.", 500, verb
        )
    jobs.job_log(job.pk, lines)
    jobs.job_succeeded(job.pk)
    console.write(job.server_id, f"{verb}: done.")


def _failed(job: Job, reason: str, status: int, verb: str) -> None:
    """End the job failed; its HTTP status is kept for the endpoint that waits for it."""
    detail = Job.objects.filter(pk=job.pk).values_list("detail", flat=True).first() or {}
    Job.objects.filter(pk=job.pk).update(detail={**detail, "errorStatus": status})
    jobs.job_failed(job.pk, reason)
    console.write(job.server_id, f"{verb} failed: {reason}")


# ---- compress ----------------------------------------------------------------------------------------


def archive_compress_execute(*, job_id) -> None:
    job = _claimed(job_id)
    if job is not None:
        _run(job, _compress, verb=f"Compressing {job.detail['archivePath']}")


def _compress(job: Job) -> list[str]:
    detail, server = job.detail, job.server
    mount = helper_for(server).mount
    roots = [(inside(mount, root), name_in_archive(root, detail["base"])) for root in detail["paths"]]
    limits = Limits.from_settings()
    with session(server) as reading, session(server) as writing:
        sources, notes = archives_pack.walk(
            reading, roots, fmt=detail["format"], max_entries=limits.max_entries
        )
        progress = Progress(job, sum(s.entry.size for s in sources if s.entry.is_regular), "Compressing")
        budget = quota.budget(server)
        packer = archives_pack.Packer(reading, sources, detail["format"])
        pipe = Pipe()
        thread = archives_pack.start(packer, pipe)
        try:
            writing.write(
                inside(mount, detail["archivePath"]),
                _reported(budget.metered(pipe.chunks()), packer, progress),
                exclusive=True,
            )
        finally:
            pipe.cancelled.set()
            thread.join(30)
    progress.report()
    skipped = notes + packer.notes
    return [f"Archived {len(sources)} entries into {detail['archivePath']}."] + [
        f"Skipped {n}" for n in skipped
    ]


def _reported(chunks, packer, progress: Progress):
    for chunk in chunks:
        progress.add(packer.done - progress.done)
        yield chunk


# ---- decompress --------------------------------------------------------------------------------------


def archive_decompress_execute(*, job_id) -> None:
    job = _claimed(job_id)
    if job is not None:
        _run(job, _decompress, verb=f"Extracting {job.detail['archivePath']}")


def _decompress(job: Job) -> list[str]:
    detail, server = job.detail, job.server
    mount = helper_for(server).mount
    archive, target = inside(mount, detail["archivePath"]), inside(mount, detail["targetPath"])
    limits = Limits.from_settings()
    with session(server) as reading, session(server) as writing:
        size = reading.stat(archive).size
        progress = Progress(job, size, "Extracting")
        budget = quota.budget(server)
        staging, made = _staging(writing, target, job)
        try:
            landing = protects(writing)  # entries that would land on protected paths are left out
            extraction = Extraction(
                writing,
                staging,
                budget,
                limits,
                size,
                denied=lambda name, d: landing(posixpath.join(target, name), d),
            )
            if detail["format"] == "zip":
                members = zip_members(reading, archive, limits, size, progress.add)
            else:
                members = tar_members(reading, archive, detail["format"], limits, size, progress.add)
            extraction.run(members)
            if made is None:
                merge(writing, staging, target, mount)
                writing.remove_tree(staging)
            else:
                writing.rename(staging, target)
        except BaseException:
            _clean_up(writing, staging, made or [])
            raise
    progress.done = size
    progress.report()
    skipped = extraction.skipped
    Job.objects.filter(pk=job.pk).update(
        detail={
            **detail,
            "bytesDone": size,
            "bytesTotal": size,
            "bytesWritten": extraction.written,
            "entries": extraction.entries,
            "skipped": skipped[:SKIPPED_KEPT],
            "skippedCount": len(skipped),
        }
    )
    job.refresh_from_db(fields=["detail"])
    summary = (
        f"Extracted {extraction.entries} entries ({extraction.written} bytes) into {detail['targetPath']}."
    )
    return [summary] + [f"Skipped {note}" for note in skipped]


def _staging(files, target: str, job: Job) -> tuple[str, list[str] | None]:
    """Our extraction directory, and the parents made for a missing target (None: the target exists,
    and the staging directory is inside it)."""
    name = f".hearth-extract-{str(job.pk)[:8]}"
    if files.exists(target):
        check_target(files.lstat(target), outside(helper_for(job.server).mount, target))
        staging = posixpath.join(target, name)
        files.mkdir(staging, 0o755)
        return staging, None
    made = _make_parents(files, posixpath.dirname(target))
    staging = posixpath.join(posixpath.dirname(target), name)
    files.mkdir(staging, 0o755)
    return staging, made


def _make_parents(files, directory: str) -> list[str]:
    """mkdir -p `directory`; the directories made, outermost first."""
    missing = []
    while directory not in ("", "/") and not files.exists(directory):
        missing.append(directory)
        directory = posixpath.dirname(directory)
    for path in reversed(missing):
        files.mkdir(path, 0o755)
    return list(reversed(missing))


def _clean_up(files, staging: str, made: list[str]) -> None:
    with contextlib.suppress(Exception):
        files.remove_tree(staging)
    for path in reversed(made):
        with contextlib.suppress(Exception):
            files.rmdir(path)  # only if still empty: someone else's files stay


def merge(files, staging: str, target: str, mount: str) -> None:
    """Move what `staging` holds into `target`; every conflict is found before anything is moved."""
    moves: list[tuple[str, str, str]] = []
    _plan(files, staging, target, moves, mount)
    for how, source, destination in moves:
        if how == "move":
            files.rename(source, destination)
        else:
            files.replace(source, destination)


def _plan(files, source_dir: str, target_dir: str, moves: list, mount: str) -> None:
    existing = {entry.name: entry for entry in files.list(target_dir)}
    for child in files.list(source_dir):
        source, destination = posixpath.join(source_dir, child.name), posixpath.join(target_dir, child.name)
        here = existing.get(child.name)
        shown = outside(mount, destination)
        if here is None:
            moves.append(("move", source, destination))
        elif here.is_symlink:
            raise InvalidInput(
                f"{shown} is a symbolic link: the archive's entry would be written through it, so nothing "
                "was extracted. Remove the link or extract elsewhere."
            )
        elif child.is_directory and here.is_directory:
            _plan(files, source, destination, moves, mount)
        elif child.is_regular and here.is_regular:
            moves.append(("replace", source, destination))
        else:
            kind = "directory" if here.is_directory else "file"
            raise InvalidInput(
                f"{shown} is a {kind}, but the archive has something else there: nothing was extracted."
            )
