"""Disk limits: measured periodically with du on the node; over the limit the server is warned, then stopped."""

from django.utils import timezone

from nodes.client import NodeUnavailable, client_for
from servers import console, runtime
from servers.models import Server

S = Server.Status


def server_check_disk(*, server: Server) -> int | None:
    try:
        used = runtime.disk_usage_mb(client_for(server.node), server)
    except NodeUnavailable:
        return None
    was_over = server.allocated_disk_mb and server.disk_usage_mb > server.allocated_disk_mb
    Server.objects.filter(pk=server.pk).update(disk_usage_mb=used, disk_checked_at=timezone.now())
    if not server.allocated_disk_mb or used <= server.allocated_disk_mb:
        return used
    if not was_over:
        console.write(
            server.pk,
            f"Warning: the server uses {used} MB of its {server.allocated_disk_mb} MB disk. "
            "Delete files now or it will be stopped at the next check.",
        )
    elif server.status in (S.RUNNING, S.STARTING):
        from servers.services import server_stop

        console.write(
            server.pk, f"Stopping: still over the disk limit ({used} of {server.allocated_disk_mb} MB)."
        )
        server_stop(server=server, actor=None)
    return used
