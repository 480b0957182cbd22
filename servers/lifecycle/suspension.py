"""Suspending a server (staff): every action but unsuspend answers 423 until it is lifted."""

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.models import User
from config.tasks import queue
from servers import console
from servers.models import Server
from servers.states import transition

S = Server.Status


def server_suspend(*, server: Server, actor: User, reason: str = "", request=None) -> Server:
    """Suspend, and kill the container if it was running."""
    from servers.lifecycle.power import power_job_queue
    from servers.tasks import files_helper_remove_task

    with transaction.atomic():
        previous = transition(
            server,
            action="suspend",
            to=S.SUSPENDED,
            suspended_at=timezone.now(),
            suspended_by=actor,
            suspension_reason=reason,
        )
        audit("server.suspend", actor=actor, request=request, resource=server, reason=reason)
        console.write_on_commit(server.pk, f"Server suspended{': ' + reason if reason else ''}.")
        if previous in (S.RUNNING, S.STARTING, S.STOPPING):
            power_job_queue(server, "kill", actor)
        queue(files_helper_remove_task, server.pk)  # a files session opened before must not outlive it
    server.refresh_from_db()
    return server


def server_unsuspend(*, server: Server, actor: User, request=None) -> Server:
    with transaction.atomic():
        transition(
            server,
            action="unsuspend",
            to=S.STOPPED,
            suspended_at=None,
            suspended_by=None,
            suspension_reason="",
        )
        audit("server.unsuspend", actor=actor, request=request, resource=server)
        console.write_on_commit(server.pk, "Server unsuspended.")
    server.refresh_from_db()
    return server
