"""Disk limits: measured periodically with du on the node; over the limit the server is warned, then stopped."""

from django.utils import timezone

from nodes.client import NodeUnavailable, client_for
from servers import console, runtime
from servers.lifecycle.power import server_stop
from servers.models import Server

S = Server.Status


def server_check_disk_execute(*, server_id) -> int | None:
    """The beat task's work for one server: measure it, warn or stop (see server_check_disk)."""
    server = Server.objects.select_related("node", "template").filter(pk=server_id).first()
    return None if server is None else server_check_disk(server=server)


def server_check_disk(*, server: Server) -> int | None:
    """Measure the server's directory and record it; the first check over the limit warns, the next
    one stops a running server (through the power service, as a person's stop would). Returns MB used."""
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
        console.write(
            server.pk, f"Stopping: still over the disk limit ({used} of {server.allocated_disk_mb} MB)."
        )
        server_stop(server=server, actor=None)
    return used
