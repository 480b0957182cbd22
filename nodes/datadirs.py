"""Where a node's data dir may be: never overlapping a server directory (see servers/mounts.py).

Every server directory resolves to `<data_dir>/servers/<uuid>` (servers/mounts.py checks that at
each start), so a data dir whose path, itself free of symlinks, has no `servers/<uuid>` in it cannot
be inside one; and no node's data dir may sit inside another node's servers/.
"""

import posixpath
import re

from nodes.models import Node

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def normalized(data_dir: str) -> str:
    return posixpath.normpath(data_dir or "/")


def data_dir_shape_problems(data_dir: str) -> list[str]:
    """A data dir inside a server directory (a path with `servers/<uuid>` in it) is refused."""
    parts = [part for part in normalized(data_dir).split("/") if part]
    for index in range(1, len(parts)):
        if parts[index - 1] == "servers" and UUID_RE.match(parts[index]):
            inside = "/" + "/".join(parts[: index + 1])
            return [
                f"it lies inside {inside}, which is a server's directory; choose a path outside every node's servers/"
            ]
    return []


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def data_dir_problems(data_dir: str, *, exclude_node=None) -> list[str]:
    """Why `data_dir` would overlap server directories: inside a server's directory, or inside another
    node's servers/ (or holding another node's data dir inside its own servers/). Equal data dirs are
    fine: nodes on different hosts usually share the default."""
    mine = normalized(data_dir)
    problems = data_dir_shape_problems(mine)
    others = Node.objects.exclude(pk=getattr(exclude_node, "pk", None)).only("name", "data_dir")
    for other in others:
        theirs = normalized(other.data_dir)
        if _inside(mine, posixpath.join(theirs, "servers")):
            problems.append(f"it lies inside node '{other.name}'s servers directory ({theirs}/servers).")
        elif _inside(theirs, posixpath.join(mine, "servers")):
            problems.append(
                f"node '{other.name}'s data dir ({theirs}) would lie inside its servers directory."
            )
    return problems
