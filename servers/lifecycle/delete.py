"""Deleting a server: the request (stopping, a job, a task), then the container and files removed on the
node, then the row — or, when the node refuses, the server kept and stopped again."""

from django.db import transaction
from django.dispatch import Signal

from accounts.audit import audit
from accounts.models import User
from config.tasks import queue
from nodes.client import client_for
from servers import console, jobs, runtime
from servers.models import Job, Server
from servers.states import set_status, transition

S = Server.Status

# Apps that stand on servers (backups) take part in a deletion without servers importing them.
# `delete_requested(server=)`: in the request's transaction, the server's row locked; a receiver raises a
# DomainError to refuse (a backup being made). `files_removed(server=)`: the node has removed the
# container and files and the row is about to go; a receiver removes what the server has elsewhere.
delete_requested = Signal()
files_removed = Signal()


def server_delete(*, server: Server, actor: User, request=None) -> Job:
    """Stopped servers only: the container and files are removed by a job, then the row."""
    from servers.tasks import server_delete_task

    with transaction.atomic():
        transition(server, action="delete", to=None)  # checks the state, and locks the row
        delete_requested.send(sender=Server, server=server)
        transition(server, action="delete", to=S.STOPPING)
        job = jobs.job_create(server=server, kind=Job.Kind.DELETE, actor=actor)
        audit("server.delete", actor=actor, request=request, resource=server, serverName=server.name)
        queue(server_delete_task, server.pk, job.pk)
    return job


def server_delete_execute(*, server_id, job_id) -> None:
    """Remove the container and files, then free the ports and delete the row. Safe to deliver twice."""
    if not jobs.job_claim(job_id):
        return  # another delivery already has it
    server = Server.objects.select_related("node", "template").filter(pk=server_id).first()
    if server is None:
        return jobs.job_succeeded(job_id)
    try:
        runtime.destroy(client_for(server.node), server)
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        with transaction.atomic():  # the server's status and its job's are seen together
            jobs.job_failed(job_id, reason)
            set_status(server_id, S.STOPPED, expect={S.STOPPING}, status_reason=f"Delete failed: {reason}")
        return console.write(server_id, f"Delete failed: {reason}. The server was kept; try again.")
    files_removed.send(sender=Server, server=server)
    with transaction.atomic():
        server.allocations.update(server=None, is_primary=False, container_port=None)
        server.delete()
    jobs.job_succeeded(job_id)
