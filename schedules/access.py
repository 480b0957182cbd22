"""Who may see and change a server's tasks: the server is visible (else NotFound, 404: another user's
server and its tasks look like nothing), the user holds the task permission on it (NotAllowed, 403), and
a change waits while the server is suspended (Suspended, 423; reading stays allowed)."""

from accounts.permissions import can
from config.errors import NotAllowed, NotFound, Suspended
from config.ids import is_uuid
from schedules.models import Task
from servers.models import Server
from servers.selectors import servers_visible_to

READS = frozenset({"task.read"})


def check_task_access(user, server: Server, permission: str) -> None:
    if not can(user, permission, server):
        raise NotAllowed(f"You do not have permission to perform this action (requires {permission})")
    if permission not in READS and server.status == Server.Status.SUSPENDED:
        raise Suspended("Server is suspended: its tasks cannot be changed or run until staff unsuspend it.")


def task_server(user, server_id, permission: str) -> Server:
    """The server `user` may see, holding `permission` on it (see check_task_access)."""
    server = servers_visible_to(user).filter(pk=server_id).first() if is_uuid(server_id) else None
    if server is None:
        raise NotFound("Server not found.")
    check_task_access(user, server, permission)
    return server


def task_for(user, task_id, permission: str) -> Task:
    """The task `user` may see (its server is visible), holding `permission` on its server."""
    task = (
        Task.objects.select_related("server", "periodic_task__crontab")
        .filter(pk=task_id, server__in=servers_visible_to(user))
        .first()
        if is_uuid(task_id)
        else None
    )
    if task is None:
        raise NotFound("Task not found.")
    check_task_access(user, task.server, permission)
    return task


def tasks_readable_by(user, tasks=None):
    """Tasks on servers `user` sees and holds task.read on."""
    tasks = (tasks if tasks is not None else Task.objects.all()).filter(server__in=servers_visible_to(user))
    tasks = tasks.select_related("server").prefetch_related("steps")
    return [task for task in tasks if can(user, "task.read", task.server)]
