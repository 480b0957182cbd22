"""One owner of a transfer job at a time: a lease token on the job row, re-checked under its lock.

The worker claims a pending job with a token of its own; the reaper takes over a job whose owner went
quiet by writing its own token, in one locked update that skips a row held by an owner mid-step. From
then on the old owner's heartbeat and every fenced step of it find a token that is not theirs, and stop.
"""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from servers import console, jobs
from servers.models import Job, Server

LIVE = (Job.Status.PENDING, Job.Status.RUNNING)


class LeaseLost(Exception):
    """Someone else owns the job now (the reaper took it over, or it is finished): stop, touch nothing."""


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: str

    def beat(self, *, progress: int | None = None, line: str | None = None) -> None:
        """Prove the owner is alive (and still the owner); raises LeaseLost when it is not."""
        # One conditional UPDATE: PostgreSQL re-checks the token on the row a concurrent takeover wrote.
        if not jobs.job_progress(self.job_id, progress, owner=self.token):
            raise LeaseLost(self.job_id)
        if line:
            server_id = Job.objects.filter(pk=self.job_id).values_list("server_id", flat=True).first()
            if server_id:
                console.write(server_id, line)

    @contextlib.contextmanager
    def fenced(self):
        """Lock the job (then its server) and check the lease: a destructive step runs inside this block,
        so the reaper cannot take the job over until the step has finished and been recorded."""
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=self.job_id).first()
            if job is None or job.status != Job.Status.RUNNING or job.lease_owner != self.token:
                raise LeaseLost(self.job_id)
            server = None
            if job.server_id:
                server = Server.objects.select_for_update().filter(pk=job.server_id).first()
            yield job, server


def claim(job_id: str) -> Lease | None:
    """The worker's claim on a pending job; None when another delivery (or the reaper) has it."""
    token = f"worker:{uuid.uuid4().hex}"
    return Lease(str(job_id), token) if jobs.job_claim(job_id, owner=token) else None


def last_sign_of_life(job: Job) -> datetime:
    return job.heartbeat_at or job.started_at or job.created_at


def take_over(job_id, *, cutoff: datetime) -> Lease | None:
    """The reaper's lease on a job that has been quiet since before `cutoff`; None if it is not (any
    more), or if its owner is inside a fenced step right now (a live owner: its row is locked)."""
    token = f"reaper:{uuid.uuid4().hex}"
    with transaction.atomic():
        job = Job.objects.select_for_update(skip_locked=True).filter(pk=job_id, status__in=LIVE).first()
        if job is None or last_sign_of_life(job) >= cutoff:
            return None
        now = timezone.now()
        # A pending job becomes running too, so that a late delivery of its task cannot claim it.
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.RUNNING, lease_owner=token, heartbeat_at=now, started_at=job.started_at or now
        )
    return Lease(str(job_id), token)
