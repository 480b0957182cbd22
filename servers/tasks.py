"""Celery tasks: each loads its ids and calls one service, which claims the work and is safe to run twice."""

import contextlib

from celery import shared_task

from config.tasks import first_delivery
from servers.models import Server


@shared_task(bind=True, acks_late=True)
def server_install_task(self, server_id: str, job_id: str) -> None:
    from servers.lifecycle.install import server_install_execute

    server_install_execute(server_id=server_id, job_id=job_id)


@shared_task(acks_late=True)
def server_power_task(
    server_id: str, action: str, timeout: int | None = None, job_id: str | None = None
) -> None:
    """`job_id` is absent from messages queued before power actions had jobs: those run on the state
    check alone."""
    from servers.lifecycle.power import server_power_execute

    server_power_execute(server_id=server_id, action=action, timeout=timeout, job_id=job_id)


@shared_task(bind=True, acks_late=True)
def server_command_task(self, server_id: str, command: str) -> None:
    from servers.lifecycle.command import server_command_execute

    if first_delivery(self.request):  # a command typed once reaches the game once
        server_command_execute(server_id=server_id, command=command)


@shared_task(bind=True, acks_late=True)
def server_delete_task(self, server_id: str, job_id: str) -> None:
    from servers.lifecycle.delete import server_delete_execute

    server_delete_execute(server_id=server_id, job_id=job_id)


@shared_task(ignore_result=True)
def servers_check_disk_task() -> None:
    """Beat: measure each installed server's directory; warn when over the limit, stop on the next check."""
    from config.tasks import queue

    for server_id in Server.objects.exclude(installed_at=None).values_list("pk", flat=True):
        queue(server_check_disk_task, server_id)


@shared_task(bind=True, ignore_result=True, soft_time_limit=300)
def server_check_disk_task(self, server_id: str) -> None:
    from servers.disk import server_check_disk_execute

    if first_delivery(self.request):  # a redelivery is not "the next check", which stops the server
        server_check_disk_execute(server_id=server_id)


@shared_task(acks_late=True)
def server_transfer_task(server_id: str, job_id: str) -> None:
    from servers.transfer import server_transfer_execute

    server_transfer_execute(server_id=server_id, job_id=job_id)


@shared_task(ignore_result=True)
def transfers_reap_task() -> None:
    from servers.transfer import transfers_reap

    transfers_reap()


@shared_task(ignore_result=True)
def metrics_prune_task() -> None:
    from servers.stats import metrics_prune

    metrics_prune()


@shared_task(acks_late=True)
def server_files_compress_task(job_id: str) -> None:
    from servers.files.archives_jobs import archive_compress_execute

    archive_compress_execute(job_id=job_id)


@shared_task(acks_late=True)
def server_files_decompress_task(job_id: str) -> None:
    from servers.files.archives_jobs import archive_decompress_execute

    archive_decompress_execute(job_id=job_id)


@shared_task(ignore_result=True)
def files_helpers_reap_task() -> None:
    """Beat: remove files helpers idle longer than FILES_HELPER_IDLE_SECONDS (and those of servers
    suspended, deleted or having their files replaced)."""
    from servers.files.helper import helpers_reap

    helpers_reap()


@shared_task(ignore_result=True)
def files_helper_remove_task(server_id: str) -> None:
    """Remove one server's files helper now (on suspension: no session may outlive it). A node that does
    not answer leaves it to the beat's reaper, which removes a suspended server's helper on sight."""
    from nodes.client import NodeUnavailable, client_for

    server = Server.objects.select_related("node").filter(pk=server_id).first()
    if server is None:
        return
    with contextlib.suppress(NodeUnavailable):
        client_for(server.node).remove_files_helper(server.pk)


@shared_task(acks_late=True, ignore_result=True)
def server_files_pull_task(server_id: str, job_id: str) -> None:
    from servers.files.pull import server_files_pull_execute

    server_files_pull_execute(server_id=server_id, job_id=job_id)


@shared_task(ignore_result=True, soft_time_limit=300)
def expiry_run_task() -> None:
    from servers.expiry import expiry_run

    expiry_run()
