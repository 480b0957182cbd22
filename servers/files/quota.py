"""The disk limit, for everything that writes a server's files: what is left is measured on the node
(du, as the disk check does) before the write, and the bytes written are counted as they go, so a
stream that would cross the limit stops there (its temporary file removed: nothing half-written)."""

from config.errors import InvalidInput
from nodes.client import client_for
from servers import runtime
from servers.models import Server

MB = 1024 * 1024


class Budget:
    """Bytes a server may still take; `spend` refuses (InvalidInput, naming the limit) past it."""

    def __init__(self, server: Server, left: int | None):
        self.server, self.left = server, left

    def spend(self, size: int) -> None:
        if self.left is None:
            return
        if size > self.left:
            raise InvalidInput(over_limit(self.server))
        self.left -= size

    def metered(self, chunks):
        """`chunks`, spending each one before it is passed on."""
        for chunk in chunks:
            self.spend(len(chunk))
            yield chunk


def budget(server: Server, *, incoming: int = 0) -> Budget:
    """What `server` may still write, measured now; refuses at once when `incoming` bytes (a size told
    in advance, e.g. an upload's) would not fit."""
    if not server.allocated_disk_mb:
        return Budget(server, None)
    used = runtime.disk_usage_mb(client_for(server.node), server) * MB
    left = Budget(server, max(server.allocated_disk_mb * MB - used, 0))
    if incoming:
        left.spend(incoming)
        left.left += incoming  # told, not yet written: the stream spends it as it arrives
    return left


def over_limit(server: Server) -> str:
    return (
        f"This would take the server over its disk limit of {server.allocated_disk_mb} MB. "
        "Delete files (or ask for a larger limit) and try again."
    )
