"""A server's directory as a bind mount: created and checked on the node, never through a symlink.

Docker resolves a bind mount's source on the node's host, following every symlink in it, and the
install container is root: a `<data_dir>/servers/<uuid>` that is (or sits under) a link would let it
write into, and `chown -R`, any host directory. So before every container start the node itself
checks (the node client's `make_checked_directory`, nodes/client/host_dirs.py) that each directory
from `/` down to the server's is a real directory (no symlink, nothing writable by every user
without the sticky bit) and that the resolved path is the path itself; missing directories are
made one at a time (`mkdir` without `-p`, which fails rather than follow a link that appeared
meanwhile).

What remains is the window between that check and the engine's mount at start (one SSH round trip).
Only who can write to a directory above the server's could use it: the node's login user and root,
never a customer, whose containers see only the inside of their own directory, as long as no node's
data dir lies inside a server directory. `nodes.datadirs` refuses that: every server directory
resolves to `…/servers/<uuid>` (checked here at each start), so a data dir whose path, itself free
of symlinks, has no `servers/<uuid>` in it cannot be inside one.
"""

import posixpath

from nodes.client import NodeClient, NodeCommandFailed
from nodes.datadirs import data_dir_shape_problems, normalized


class MountRefused(Exception):
    """A server's directory is not a real directory under the node's data dir (a symlink, say)."""


def server_dir(data_dir: str, server_id) -> str:
    return posixpath.join(normalized(data_dir), "servers", str(server_id))


def _chain(path: str) -> list[str]:
    """'/a/b/c' → ['/', '/a', '/a/b', '/a/b/c']."""
    parts = [part for part in path.split("/") if part]
    return ["/", *("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))]


def prepare(client: NodeClient, *, data_dir: str, server_id, owner: str = "") -> str:
    """Make and check the server's directory on the node; its path, or MountRefused saying why."""
    data, path = normalized(data_dir), server_dir(data_dir, server_id)
    if problems := data_dir_shape_problems(data):
        raise MountRefused(f"Refusing to use the data dir {data} on node '{client.node.name}': {problems[0]}")
    try:
        client.make_checked_directory(path, data_dir=data, owner=owner, chain=_chain(path))
    except NodeCommandFailed as exc:
        why = exc.stderr or f"the check exited with {exc.code}"
        raise MountRefused(
            f"Refusing to use {path} on node '{client.node.name}': {why}. A server's directory and every "
            f"directory above it must be real directories (no symlinks) under the node's data dir."
        ) from exc
    return path
