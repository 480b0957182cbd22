"""Jobs: the row that records a long operation on a node (install, power, delete, transfer, later
backups and restores): who may run it, how far it got, what it printed and how it ended. Tasks are
queued with `config.tasks.queue`.

A task may be delivered twice (acks_late, a worker lost mid-task): `job_claim` is the compare-and-set
that lets exactly one delivery run the job. An operation that needs an owner token (a transfer, which a
reaper may take over) passes `owner=`, and its progress and finish then only land while it still holds
the job.
"""

from django.db import transaction
from django.utils import timezone

from servers.models import Job

# Lines of a job's log kept on the row: an install script can print without end.
LOG_LINES = 500


def job_create(*, server, kind: str, actor=None, **fields) -> Job:
    """A pending job for `server`; `detail` and other Job fields (heartbeat_at…) may be given."""
    return Job.objects.create(server=server, server_name=server.name, kind=kind, actor=actor, **fields)


def _mine(job_id, owner: str | None):
    """The job row while it runs (and, with `owner`, while that owner holds it)."""
    rows = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING)
    return rows.filter(lease_owner=owner) if owner is not None else rows


def job_claim(job_id, *, owner: str = "") -> bool:
    """Move a pending job to running; False when another delivery (or a reaper) already has it."""
    now = timezone.now()
    fields = {"status": Job.Status.RUNNING, "started_at": now}
    if owner:
        fields.update(lease_owner=owner, heartbeat_at=now)
    return bool(Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(**fields))


def job_claimed_with_server(job_id, server_id):
    """(job, server) when this delivery claimed the job (job_claim) and its server still exists, with its
    node and template; None otherwise (another delivery has it, or the job has failed: server deleted)."""
    from servers.models import Server

    if not job_claim(job_id):
        return None
    job = Job.objects.select_related("actor").get(pk=job_id)
    server = Server.objects.select_related("node", "template").filter(pk=server_id).first()
    if server is None:
        job_failed(job_id, "The server was deleted.")
        return None
    return job, server


def job_progress(
    job_id, progress: int | None = None, *, step: str | None = None, owner: str | None = None
) -> bool:
    """Record how far the job got (percent, and the step it is in, kept in detail["step"]).

    With `owner`, also proves the owner alive (heartbeat); returns False when the job is not running
    (or not that owner's) any more, so the caller stops."""
    fields = {}
    if progress is not None:
        fields["progress"] = progress
    if owner is not None:
        fields["heartbeat_at"] = timezone.now()
    rows = _mine(job_id, owner)
    if step is not None:
        with transaction.atomic():
            job = rows.select_for_update().first()
            if job is None:
                return False
            return bool(rows.update(detail={**job.detail, "step": step}, **fields))
    return bool(rows.update(**fields)) if fields else rows.exists()


def job_log(job_id, lines: list[str]) -> None:
    """Append `lines` to the job's log, keeping the last LOG_LINES."""
    if not lines:
        return
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return
        kept = (job.log.splitlines() if job.log else []) + list(lines)
        Job.objects.filter(pk=job_id).update(log="\n".join(kept[-LOG_LINES:]))


def job_succeeded(job_id) -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, error="", progress=100, finished_at=timezone.now()
    )


def job_failed(job_id, reason: str) -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.FAILED, error=reason, progress=100, finished_at=timezone.now()
    )
