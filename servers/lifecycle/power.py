"""Start, stop, restart and kill: the request (a state transition, a job, a task) and the node work the
task runs.

The monitor sees the container's events and records running or crashed; this module records what the
request itself settles (stopped after a stop, starting before a start, crashed when a start failed). The
job (kind power, detail {"action": ...}) lets one delivery of the task act, and records how it ended.
"""

import logging

from django.conf import settings
from django.db import transaction

from accounts.audit import audit
from accounts.models import User
from config.errors import IllegalTransition
from config.tasks import queue
from nodes.client import NodeUnavailable, client_for
from servers import console, jobs, runtime
from servers.models import Job, Server
from servers.states import check, set_status, transition

logger = logging.getLogger(__name__)
S = Server.Status

# The states a power task finds when its request is still the latest word (a suspension queues a kill).
# A restart is queued in stopping; it finds stopped when the game exited before the task ran (it goes
# on to start, as asked) and starting when an earlier delivery did the stop half (only the start is
# left). A kill that finds the server running again was overtaken by a start.
AWAITING = {
    "start": frozenset({S.STARTING}),
    "stop": frozenset({S.STOPPING}),
    "restart": frozenset({S.STOPPING, S.STOPPED, S.STARTING}),
    "kill": frozenset({S.STOPPING, S.SUSPENDED}),
}


def _refuse_unstartable(server: Server, action: str) -> None:
    """A start needs an installed server within its disk limit (409 naming the current state)."""
    if action not in ("start", "restart"):
        return
    if server.installed_at is None:
        check(server, action)
        raise IllegalTransition(
            "The server is not installed yet: POST /install first.", current_state=server.status
        )
    if server.allocated_disk_mb and server.disk_usage_mb > server.allocated_disk_mb:
        check(server, action)
        raise IllegalTransition(
            f"The server uses {server.disk_usage_mb} MB of its {server.allocated_disk_mb} MB "
            "disk; delete files or ask for more space before starting it.",
            current_state=server.status,
        )


def power_job_queue(server: Server, action: str, actor: User | None = None, **task_kwargs) -> Job:
    """A power job for `server` and its task, queued once the current transaction commits."""
    from servers.tasks import server_power_task

    job = jobs.job_create(server=server, kind=Job.Kind.POWER, actor=actor, detail={"action": action})
    queue(server_power_task, server.pk, action, job_id=str(job.pk), **task_kwargs)
    return job


def _power(server: Server, actor: User, action: str, to: str, request=None, **task_kwargs) -> Job:
    _refuse_unstartable(server, action)
    with transaction.atomic():
        previous = transition(server, action=action, to=to)
        if action == "restart" and previous in (S.STOPPED, S.CRASHED):
            action = "start"
        audit(f"server.{action}", actor=actor, request=request, resource=server, serverName=server.name)
        console.write_on_commit(
            server.pk, f"{action.capitalize()} requested by {getattr(actor, 'username', 'the panel')}."
        )
        return power_job_queue(server, action, actor, **task_kwargs)


def server_start(*, server: Server, actor: User, request=None) -> Job:
    return _power(server, actor, "start", S.STARTING, request)


def server_stop(*, server: Server, actor: User, timeout: int | None = None, request=None) -> Job:
    return _power(server, actor, "stop", S.STOPPING, request, timeout=timeout)


def server_restart(*, server: Server, actor: User, request=None) -> Job:
    return _power(
        server,
        actor,
        "restart",
        S.STOPPING if server.status in (S.RUNNING, S.STARTING) else S.STARTING,
        request,
    )


def server_kill(*, server: Server, actor: User, request=None) -> Job:
    return _power(server, actor, "kill", S.STOPPING, request)


def server_start_after_crash(*, server_id) -> None:
    """The restart policy's start (servers.crash): crashed → starting, then the same start job and task
    as a person's (no actor). Called inside the crash's transaction, so the task is queued once that
    commits."""
    set_status(server_id, S.STARTING, expect={S.CRASHED})
    power_job_queue(Server.objects.get(pk=server_id), "start")


def server_power_execute(*, server_id, action: str, timeout: int | None = None, job_id=None) -> None:
    """Ask the node to start, stop, restart or kill the container, record what that settles, and finish
    the job.

    A second delivery finds the job claimed and does nothing. A task the state moved on from (a newer
    stop, a suspension, a delete won) does nothing either, and its job ends succeeded saying so. A task
    queued without a job (by an older version) is guarded by the state alone."""
    if job_id is not None and not jobs.job_claim(job_id):
        return  # another delivery already has it
    server = Server.objects.select_related("node", "template").filter(pk=server_id).first()
    if server is None:
        return _finish(job_id, error="The server was deleted.")
    if server.status not in AWAITING[action]:
        return _overtaken(job_id, server.status)  # a second delivery, or something newer won
    client = client_for(server.node)
    timeout = timeout or settings.SERVER_STOP_TIMEOUT_SECONDS
    try:
        if action == "stop" or (action == "restart" and server.status == S.STOPPING):
            runtime.stop(client, server, timeout=timeout)
            if action == "stop":
                set_status(server_id, S.STOPPED, expect={S.STOPPING})
                console.write(server_id, "Server stopped.")
                return _finish(job_id)
        if action == "restart":
            set_status(server_id, S.STARTING, expect={S.STOPPING, S.STOPPED})
        if action in ("start", "restart"):
            server.refresh_from_db()
            if server.status != S.STARTING:
                return _overtaken(job_id, server.status)  # something newer (a stop, a suspension) won
            runtime.start(client, server)
            console.write(server_id, "Container started; waiting for the server to be ready.")
        elif action == "kill":
            runtime.kill(client, server)
            # A suspension's kill leaves the server suspended: only unsuspend ends a suspension.
            # From stopping only: a start asked for once the monitor saw the exit is newer than this.
            set_status(server_id, S.STOPPED, expect={S.STOPPING})
            console.write(server_id, "Server killed.")
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        logger.warning("%s of %s failed: %s", action, server_id, reason)
        console.write(server_id, f"Could not {action} the server: {reason}")
        target = S.CRASHED if action in ("start", "restart") else S.STOPPED
        if isinstance(exc, NodeUnavailable) and action in ("stop", "kill"):
            target = S.RUNNING  # we do not know that it stopped
        set_status(server_id, target, expect={S.STARTING, S.STOPPING}, status_reason=reason)
        return _finish(job_id, error=reason)
    _finish(job_id)


def _finish(job_id, *, error: str | None = None) -> None:
    if job_id is None:
        return
    if error is None:
        jobs.job_succeeded(job_id)
    else:
        jobs.job_failed(job_id, error)


def _overtaken(job_id, status: str) -> None:
    """The request was overtaken by a newer one: nothing to do, which is not a failure."""
    if job_id is None:
        return
    jobs.job_log(job_id, [f"Nothing to do: the server is now {status}."])
    jobs.job_succeeded(job_id)
