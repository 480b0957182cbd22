"""Pull a file from a URL into a server's directory: a job (kind PULL) run by a task, the download made
through config/outbound.py (no private address, at connect time and at every redirect; capped in
bytes and time) and written through FileSession.write (temporary name, renamed when complete) with the
disk limit counted as the bytes arrive. The URL is checked up front too, so an obviously refused one is
a 400 with no job at all."""

import logging
import posixpath
import time
from urllib.parse import unquote, urlsplit

from django.db import transaction

from accounts.audit import audit
from config import outbound
from config.errors import InvalidInput, refusal_text
from config.tasks import queue
from nodes.client import FileRefused
from servers import console, jobs
from servers.files import paths, quota
from servers.files.access import check_files_access, file_job_create
from servers.files.denylist import check_writable, for_server
from servers.files.helper import session
from servers.files.service import refusals
from servers.files.transfer import refused
from servers.models import Job, Server

logger = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 1.0  # the job row is updated at most this often while bytes arrive


def name_from_url(url: str) -> str:
    """The URL's last path segment, percent-decoded (`/mods/a%20b.jar` → `a b.jar`)."""
    segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    if not segment:
        raise InvalidInput({"name": "The URL does not end in a file name: give one in name."})
    return segment


def server_files_pull(*, server: Server, actor, request=None, url, path, name=None) -> Job:
    """Check the URL and the target, then queue the download as a job; the job."""
    from servers.tasks import server_files_pull_task

    directory = paths.clean(path)
    outbound.check_url(url)
    file_name = paths.name(name if name else name_from_url(url), field="name")
    target = posixpath.join(directory, file_name)
    if for_server(server):  # refused now (403), not by the job once the bytes have come
        with session(server) as files, refusals(server.template.data_path):
            check_writable(files, paths.inside(server.template.data_path, target))
    with transaction.atomic():
        job = file_job_create(
            server=server, kind=Job.Kind.PULL, actor=actor, detail={"url": url, "path": target}
        )
        audit("file.pull", actor=actor, request=request, resource=server, url=url, path=target)
        queue(server_files_pull_task, server.pk, job.pk)
    return job


def server_files_pull_execute(*, server_id, job_id) -> None:
    """Download the job's URL to its path. Safe to deliver twice (the claim)."""
    if (claimed := jobs.job_claimed_with_server(job_id, server_id)) is None:
        return
    job, server = claimed
    target = job.detail["path"]
    try:
        check_files_access(job.actor, server, "file.write")  # again: the member may have lost it since
        written = _download(server, job, target)
    except Exception as exc:
        reason = refusal_text(exc) or exc.__class__.__name__
        logger.info("Pull of %s into %s failed: %s", job.detail["url"], server_id, reason)
        console.write(server_id, f"Download of {target} failed: {reason}")
        return jobs.job_failed(job_id, reason)
    jobs.job_log(job_id, [f"Wrote {written} bytes to {target}."])
    console.write(server_id, f"Downloaded {target} ({written} bytes).")
    jobs.job_succeeded(job_id)


def _download(server: Server, job: Job, target: str) -> int:
    mount = server.template.data_path
    with outbound.stream(job.detail["url"]) as (response, chunks):
        if not 200 <= response.status < 300:
            raise outbound.OutboundFailed(f"The URL answered {response.status}.")
        budget = quota.budget(server, incoming=response.length or 0)
        jobs.job_progress(job.pk, 0, step="downloading")
        jobs.job_log(job.pk, [f"Downloading {response.url} ({response.length or 'unknown'} bytes)."])
        try:
            server.refresh_from_db()  # the download took a while: suspended or moved meanwhile?
            check_files_access(job.actor, server, "file.write")
            with session(server) as files:
                directory = paths.inside(mount, posixpath.dirname(target))
                if not files.stat(directory).is_directory:
                    raise InvalidInput({"path": f"{posixpath.dirname(target)} is not a directory."})
                counted = _reporting(job.pk, budget.metered(chunks), response.length)
                return files.write(paths.inside(mount, target), counted)
        except FileRefused as exc:
            raise refused(exc, mount) from exc


def _reporting(job_id, chunks, total: int | None):
    """`chunks`, recording on the job the bytes so far (detail) and the percent when the total is known."""
    received, reported = 0, 0.0
    for chunk in chunks:
        received += len(chunk)
        now = time.monotonic()
        if now - reported >= PROGRESS_EVERY_SECONDS:
            reported = now
            _progress(job_id, received, total)
        yield chunk
    _progress(job_id, received, total)


def _progress(job_id, received: int, total: int | None) -> None:
    with transaction.atomic():
        row = Job.objects.select_for_update().filter(pk=job_id, status=Job.Status.RUNNING).first()
        if row is None:
            return
        fields = {"detail": {**row.detail, "bytes": received, "total": total}}
        if total:
            fields["progress"] = min(99, received * 100 // total)
        Job.objects.filter(pk=job_id).update(**fields)
