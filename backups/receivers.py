"""How backups take part in what servers do, through the signals servers send (servers imports no
backups): a server's deletion, install or transfer refused while a backup or restore of it runs, and
a deleted server's archives removed wherever they are. Connected in backups/apps.py."""

import logging

from backups import storage
from backups.models import Backup
from config.errors import IllegalTransition
from servers.models import Job, Server

logger = logging.getLogger(__name__)
LIVE = (Backup.Status.PENDING, Backup.Status.IN_PROGRESS)
LIVE_JOBS = (Job.Status.PENDING, Job.Status.RUNNING)


def refuse_server_delete(sender, *, server: Server, **kwargs) -> None:
    """(servers' delete_requested.) A backup being made reads the directory a delete removes."""
    if Backup.objects.filter(server=server, status__in=LIVE).exists():
        raise IllegalTransition(
            "A backup of this server is being made: delete the server once it has finished.",
            current_state=server.status,
        )


def refuse_files_changing(sender, *, server: Server, action: str, **kwargs) -> None:
    """(servers' files_changing.) An install or transfer rewrites or moves the directory a backup being
    made reads, or a restore writes."""
    if Backup.objects.filter(server=server, status__in=LIVE).exists():
        raise IllegalTransition(
            f"A backup of this server is being made: {action} the server once it has finished.",
            current_state=server.status,
        )
    if Job.objects.filter(server=server, kind=Job.Kind.RESTORE, status__in=LIVE_JOBS).exists():
        raise IllegalTransition(
            f"A backup is being restored to this server: {action} the server once it has finished.",
            current_state=server.status,
        )


def discard_server_backups(sender, *, server: Server, **kwargs) -> None:
    """(servers' files_removed.) Remove every archive of the server's backups, wherever it is: each
    node's backup directory of the server at once (leftover temporaries too), each S3 object. The rows
    go with the server's. One that cannot be removed is logged, and does not keep the server."""
    backups = list(Backup.objects.filter(server=server).select_related("node"))
    nodes = {server.node_id: server.node}
    nodes.update({b.node_id: b.node for b in backups if b.storage == Backup.Storage.LOCAL and b.node_id})
    for node in nodes.values():
        _quietly(storage.discard_node_dir, server, node, what=f"the backups on {node.name}", server=server)
    for backup in backups:
        if backup.storage == Backup.Storage.S3:
            _quietly(storage.discard, backup, what=f"backup {backup.pk}", server=server)


def _quietly(call, *args, what: str, server: Server) -> None:
    try:
        call(*args)
    except Exception:
        logger.warning("Could not remove %s of deleted server %s", what, server.pk, exc_info=True)
