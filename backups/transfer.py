"""A server's node-local backups follow it to another node (servers/transfer.py's server_moved)."""

import logging

from django.dispatch import receiver

from backups.storage import move_local_backups
from servers import console
from servers.transfer import server_moved

logger = logging.getLogger(__name__)


@receiver(server_moved, dispatch_uid="backups-follow-their-server")
def backups_follow(sender, *, server, source, target, **_):
    """Each archive checked against its sha256 on the target; one that cannot move stays on the old
    node, where its row still points and a restore still finds it."""
    try:
        moved = move_local_backups(server, source, target)
    except Exception as exc:
        logger.warning("Backups of %s left on %s: %s", server.pk, source.name, exc)
        console.write(server.pk, f"Backups left on {source.name}: {exc}")
        return
    if moved:
        console.write(server.pk, f"{moved} backup(s) moved to {target.name}.")
