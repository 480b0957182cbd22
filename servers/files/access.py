"""Who may touch a server's files, checked when each operation runs (the API, the web UI, the SFTP
gateway): the server is visible (else NotFound, 404), the user holds the permission on it (NotAllowed,
403), it is not suspended (Suspended, 423) and its files are not being replaced (IllegalTransition, 409)."""

from datetime import timedelta

from django.utils import timezone

from accounts.permissions import can
from config.errors import IllegalTransition, NotAllowed, Suspended
from servers import jobs
from servers.models import Job, Server
from servers.selectors import visible_server

S = Server.Status
# While these run, the server's directory is someone else's: an installer's, a transfer's, a restore's.
BUSY = {S.INSTALLING: "installing", S.TRANSFERRING: "being transferred", S.RESTORING: "being restored"}


def check_files_access(user, server: Server, permission: str) -> None:
    """Raise unless `user` may do what `permission` (file.read, file.write, file.delete) allows on `server`."""
    if not can(user, permission, server):
        raise NotAllowed(f"You do not have permission to perform this action (requires {permission})")
    if server.status == S.SUSPENDED:
        raise Suspended("Server is suspended: its files cannot be read or changed until staff unsuspend it.")
    if server.status in BUSY:
        raise IllegalTransition(
            f"The server is {BUSY[server.status]}: try its files again once that is done.",
            current_state=server.status,
        )


# Long file jobs (compress, decompress, pull) a server may have waiting or running at once: they share
# the workers with everyone's installs and power actions. One older than STALE_AFTER no longer counts
# (a worker killed under it; issue 20 recovers those).
FILE_JOBS_PER_SERVER = 2
STALE_AFTER = timedelta(hours=1)


def file_job_create(*, server: Server, kind: str, actor, detail: dict) -> Job:
    """A pending file job, or IllegalTransition (409) when the server has FILE_JOBS_PER_SERVER already.
    Call inside a transaction: the server's row is locked so two requests cannot both take the last one."""
    Server.objects.select_for_update().filter(pk=server.pk).first()
    active = file_jobs_under_way(server).count()
    if active >= FILE_JOBS_PER_SERVER:
        raise IllegalTransition(
            f"The server already has {active} archive or download jobs under way: wait for one to finish.",
            current_state=server.status,
        )
    return jobs.job_create(server=server, kind=kind, actor=actor, detail=detail)


def file_jobs_under_way(server: Server):
    """The server's compress, decompress and pull jobs waiting or running (and not stale)."""
    return Job.objects.filter(
        server=server,
        kind__in=(Job.Kind.COMPRESS, Job.Kind.DECOMPRESS, Job.Kind.PULL, Job.Kind.PLUGIN),
        status__in=(Job.Status.PENDING, Job.Status.RUNNING),
        created_at__gte=timezone.now() - STALE_AFTER,
    )


def files_server(user, server_id, permission: str) -> Server:
    """The server `user` may see with `permission` on its files (see check_files_access)."""
    server = visible_server(user, server_id)
    check_files_access(user, server, permission)
    return server
