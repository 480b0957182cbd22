"""Celery tasks: load by id, claim the work, call the node. Safe to run twice."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from nodes.client import NodeUnavailable, client_for
from servers import console, install, runtime
from servers.models import Job, Server
from servers.states import set_status

logger = logging.getLogger(__name__)
S = Server.Status


def _load(server_id: str) -> Server | None:
    return Server.objects.select_related("node", "template").filter(pk=server_id).first()


def _claim(job_id: str) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(
            status=Job.Status.RUNNING, started_at=timezone.now()
        )
    )


def _finish(job_id: str, *, error: str = "") -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.FAILED if error else Job.Status.SUCCEEDED,
        error=error,
        progress=100,
        finished_at=timezone.now(),
    )


@shared_task(bind=True, acks_late=True)
def server_install_task(self, server_id: str, job_id: str) -> None:
    if not _claim(job_id):
        return  # another delivery already has it
    server = _load(server_id)
    if server is None:
        return _finish(job_id, error="The server was deleted.")
    lines: list[str] = []
    try:
        client = client_for(server.node)
        Job.objects.filter(pk=job_id).update(progress=10)
        runtime.ensure_image(client, server, server.docker_image)
        Job.objects.filter(pk=job_id).update(progress=30)
        install.run_install(client, server, on_output=lines.append)
        Job.objects.filter(pk=job_id).update(progress=80)
        runtime.ensure_container(client, server)
    except (runtime.InstallFailed, NodeUnavailable, Exception) as exc:  # every failure ends in install_failed
        reason = str(exc) or exc.__class__.__name__
        logger.warning("Install of %s failed: %s", server_id, reason)
        set_status(server_id, S.INSTALL_FAILED, expect={S.INSTALLING}, status_reason=reason)
        console.write(server_id, f"Installation failed: {reason}")
        Job.objects.filter(pk=job_id).update(log="\n".join(lines[-500:]))
        return _finish(job_id, error=reason)
    set_status(server_id, S.STOPPED, expect={S.INSTALLING}, installed_at=timezone.now(), status_reason="")
    console.write(server_id, "Installation complete. The server can be started.")
    Job.objects.filter(pk=job_id).update(log="\n".join(lines[-500:]))
    _finish(job_id)


@shared_task(acks_late=True)
def server_power_task(server_id: str, action: str, timeout: int | None = None) -> None:
    server = _load(server_id)
    if server is None:
        return
    client = client_for(server.node)
    timeout = timeout or settings.SERVER_STOP_TIMEOUT_SECONDS
    try:
        if action in ("stop", "restart"):
            runtime.stop(client, server, timeout=timeout)
            if action == "stop":
                set_status(server_id, S.STOPPED, expect={S.STOPPING})
                console.write(server_id, "Server stopped.")
                return
            set_status(server_id, S.STARTING, expect={S.STOPPING, S.STOPPED})
        if action in ("start", "restart"):
            server.refresh_from_db()
            if server.status != S.STARTING:
                return  # something newer (a stop, a suspension) won
            runtime.start(client, server)
            console.write(server_id, "Container started; waiting for the server to be ready.")
        elif action == "kill":
            runtime.kill(client, server)
            set_status(server_id, S.STOPPED, expect={S.STOPPING, S.SUSPENDED, S.RUNNING, S.STARTING})
            console.write(server_id, "Server killed.")
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        logger.warning("%s of %s failed: %s", action, server_id, reason)
        console.write(server_id, f"Could not {action} the server: {reason}")
        target = S.CRASHED if action in ("start", "restart") else S.STOPPED
        if isinstance(exc, NodeUnavailable) and action in ("stop", "kill"):
            target = S.RUNNING  # we do not know that it stopped
        set_status(server_id, target, expect={S.STARTING, S.STOPPING}, status_reason=reason)


@shared_task(acks_late=True)
def server_command_task(server_id: str, command: str) -> None:
    server = _load(server_id)
    if server is not None:
        try:
            runtime.send_stdin(client_for(server.node), server, command)
        except Exception as exc:  # the node or the container is gone: say so in the console
            console.write(server_id, f"Command not delivered: {exc}")


@shared_task(bind=True, acks_late=True)
def server_delete_task(self, server_id: str, job_id: str) -> None:
    if not _claim(job_id):
        return
    server = _load(server_id)
    if server is None:
        return _finish(job_id)
    try:
        runtime.destroy(client_for(server.node), server)
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        set_status(server_id, S.STOPPED, expect={S.STOPPING}, status_reason=f"Delete failed: {reason}")
        console.write(server_id, f"Delete failed: {reason}. The server was kept; try again.")
        return _finish(job_id, error=reason)
    with transaction.atomic():
        server.allocations.update(server=None, is_primary=False, container_port=None)
        server.delete()
    _finish(job_id)


@shared_task(ignore_result=True)
def servers_check_disk_task() -> None:
    """Beat: measure each installed server's directory; warn when over the limit, stop on the next check."""
    for server_id in Server.objects.exclude(installed_at=None).values_list("pk", flat=True):
        server_check_disk_task.delay(str(server_id))


@shared_task(ignore_result=True, soft_time_limit=300)
def server_check_disk_task(server_id: str) -> None:
    from servers.disk import server_check_disk

    server = _load(server_id)
    if server is not None:
        server_check_disk(server=server)


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
