"""A server's directory as a bind mount: created and checked on the node, never through a symlink.

Docker resolves a bind mount's source on the node's host, following every symlink in it, and the
install container is root: a `<data_dir>/servers/<uuid>` that is (or sits under) a link would let it
write into, and `chown -R`, any host directory. So before every container start the node itself
checks, with the shell of the node client, that each directory from `/` down to the server's is a
real directory (no symlink, nothing writable by every user without the sticky bit) and that the
resolved path is the path itself; missing directories are made one at a time (`mkdir` without
`-p`, which fails rather than follow a link that appeared meanwhile).

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

REFUSED = 3  # the check's exit code for "not a safe directory" (any other is a failure to run it)

# $1 the owner to give the server's directory ("" on SSH nodes: the login user makes it and so owns
# it), $2 the data dir, $3 the server's directory; then every directory from / down to $3.
_PREPARE = r"""
set -u
owner=$1 data=$2 dir=$3
shift 3
refuse() { printf '%s\n' "$1" >&2; exit 3; }
for path in "$@"; do
  [ -L "$path" ] && refuse "$path is a symbolic link"
  if [ ! -e "$path" ]; then
    if [ "$path" = "$dir" ]; then mkdir -m 750 -- "$path"; else mkdir -- "$path"; fi || exit 1
    if [ -n "$owner" ] && [ "$path" = "$data/servers" ]; then
      chown -h -- "$(stat -c %u:%g -- "$data")" "$path" || exit 1
    fi
  fi
  [ -L "$path" ] && refuse "$path is a symbolic link"
  [ -d "$path" ] || refuse "$path is not a directory"
  # Above the server's own directory (whose contents are the customer's anyway), anyone who can
  # write could swap the next directory for a link; the sticky bit (/tmp) keeps others' names safe.
  if [ "$path" != "$dir" ] && [ -n "$(find "$path" -prune -perm -0002 ! -perm -1000 -print)" ]; then
    refuse "$path is writable by every user"
  fi
done
resolved=$(cd -P -- "$dir" && pwd -P) || exit 1
[ "$resolved" = "$dir" ] || refuse "$dir resolves to $resolved"
if [ -n "$owner" ]; then chown -h -- "$owner" "$dir" || exit 1; fi
"""


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
        client.run(["sh", "-c", _PREPARE, "prepare", owner, data, path, *_chain(path)])
    except NodeCommandFailed as exc:
        why = exc.stderr or f"the check exited with {exc.code}"
        raise MountRefused(
            f"Refusing to use {path} on node '{client.node.name}': {why}. A server's directory and every "
            f"directory above it must be real directories (no symlinks) under the node's data dir."
        ) from exc
    return path
