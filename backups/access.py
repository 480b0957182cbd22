"""Who may touch a server's backups, checked when each operation runs (the API, the web UI, the admin):
the server is visible (else NotFound, 404), the user holds the permission on it (NotAllowed, 403), and,
for anything but reading the list, it is not suspended (Suspended, 423). A backup of another server,
or a made-up id, is a 404 like a hidden server."""

from accounts.permissions import can
from backups.models import Backup
from config.errors import NotAllowed, NotFound, Suspended
from config.ids import is_uuid
from servers.models import Server
from servers.selectors import visible_server

S = Server.Status
# Reading what backups exist is allowed while suspended (like the server's own page); the rest is not.
READ_WHILE_SUSPENDED = {"backup.read"}


def check_backup_access(user, server: Server, permission: str) -> None:
    """Raise unless `user` may do what `permission` (backup.read, .create, .restore, .delete,
    .download) allows on `server`. No user (None) is the panel itself: a schedule's step."""
    if user is not None and not can(user, permission, server):
        raise NotAllowed(f"You do not have permission to perform this action (requires {permission})")
    if server.status == S.SUSPENDED and permission not in READ_WHILE_SUSPENDED:
        reason = f": {server.suspension_reason}" if server.suspension_reason else ""
        raise Suspended(f"Server is suspended{reason}. Its backups cannot be used until staff unsuspend it.")


def backup_server(user, server_id, permission: str) -> Server:
    """The server `user` may see, with `permission` on its backups (see check_backup_access)."""
    server = visible_server(user, server_id)
    check_backup_access(user, server, permission)
    return server


def backup_of(server: Server, backup_id) -> Backup:
    """One backup of `server` (NotFound for another server's, or a made-up id)."""
    backup = None
    if is_uuid(backup_id):
        backup = (
            Backup.objects.select_related("created_by", "node").filter(pk=backup_id, server=server).first()
        )
    if backup is None:
        raise NotFound("Backup not found.")
    return backup
