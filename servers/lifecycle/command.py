"""Console commands: a line for the game's stdin, handed straight to the monitor that holds it (one
Redis publish); only when no monitor listens does a task attach to the container instead."""

from accounts.audit import audit
from accounts.models import User
from config.tasks import queue
from nodes.client import client_for
from servers import console, runtime
from servers.models import Server
from servers.states import check

S = Server.Status


def server_command(*, server: Server, actor: User, command: str, request=None) -> None:
    """Send a line to the game's stdin (running or starting servers only). The monitor watching the
    server's node holds that stdin: the line goes to it at once, with no task queue in between (a
    queued command waited ~17 ms for a worker); with no monitor listening, a task attaches itself."""
    from servers.tasks import server_command_task

    if server.status not in (S.RUNNING, S.STARTING):
        check(server, "stop")  # same states accept commands; raises 423/409
    # Sent first, recorded right after: the audit row's commit (an fsync) is not in the command's way.
    if not console.send_command(server, runtime.stdin_line(command)):
        queue(server_command_task, server.pk, command)
    audit("server.command", actor=actor, request=request, resource=server, command=command[:200])


def server_command_execute(*, server_id, command: str) -> None:
    """Write the line to the container's stdin; when that fails, say so in the console."""
    server = Server.objects.select_related("node", "template").filter(pk=server_id).first()
    if server is None:
        return
    try:
        runtime.send_stdin(client_for(server.node), server, command)
    except Exception as exc:  # the node or the container is gone: say so in the console
        console.write(server_id, f"Command not delivered: {exc}")
