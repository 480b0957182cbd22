"""Installing a server: the request (state installing, a job, a task) and the node work the task runs
(image, install script, container), which ends in stopped or install_failed."""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.models import User
from config.tasks import queue
from nodes.client import client_for
from servers import console, install, jobs, runtime
from servers.models import Job, Server
from servers.resources import check_image
from servers.signals import files_changing
from servers.states import set_status, transition

logger = logging.getLogger(__name__)
S = Server.Status


def server_install(
    *, server: Server, actor: User, request=None, reinstall: bool = False, docker_image: str | None = None
) -> Job:
    """Queue the install script; with `docker_image`, switch to that image first (checked like update)."""
    from servers.tasks import server_install_task

    switch = {}
    if docker_image is not None:
        check_image(actor, server.template, docker_image)
        switch = {"docker_image": docker_image}
    with transaction.atomic():
        transition(server, action="install", to=None)  # checks the state, and locks the row
        files_changing.send(sender=Server, server=server, action="reinstall" if reinstall else "install")
        transition(server, action="install", to=S.INSTALLING, status_reason="", **switch)
        job = jobs.job_create(server=server, kind=Job.Kind.INSTALL, actor=actor)
        audit(
            "server.reinstall" if reinstall else "server.install",
            actor=actor,
            request=request,
            resource=server,
            **({"dockerImage": docker_image} if switch else {}),
        )
        console.write_on_commit(
            server.pk, f"{'Reinstall' if reinstall else 'Installation'} requested by {actor.username}."
        )
        queue(server_install_task, server.pk, job.pk)
    return job


def server_install_execute(*, server_id, job_id) -> None:
    """Pull the image, run the install script, create the container. Safe to deliver twice."""
    if not jobs.job_claim(job_id):
        return  # another delivery already has it
    server = Server.objects.select_related("node", "template").filter(pk=server_id).first()
    if server is None:
        return jobs.job_failed(job_id, "The server was deleted.")
    lines: list[str] = []
    try:
        client = client_for(server.node)
        jobs.job_progress(job_id, 10, step="image")
        runtime.ensure_image(client, server, server.docker_image)
        jobs.job_progress(job_id, 30, step="script")
        client.remove_files_helper(server.pk)  # sessions opened before must not write while the script does
        install.run_install(client, server, on_output=lines.append)
        jobs.job_progress(job_id, 80, step="container")
        runtime.ensure_container(client, server)
    # Every failure (InstallFailed, NodeUnavailable, the rest) ends in install_failed.
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        logger.warning("Install of %s failed: %s", server_id, reason)
        with transaction.atomic():  # the server's status and its job's are seen together
            jobs.job_log(job_id, lines)
            jobs.job_failed(job_id, reason)
            set_status(server_id, S.INSTALL_FAILED, expect={S.INSTALLING}, status_reason=reason)
        return console.write(server_id, f"Installation failed: {reason}")
    with transaction.atomic():
        jobs.job_log(job_id, lines)
        jobs.job_succeeded(job_id)
        set_status(server_id, S.STOPPED, expect={S.INSTALLING}, installed_at=timezone.now(), status_reason="")
    console.write(server_id, "Installation complete. The server can be started.")
