"""Server trees for the backup tests: planted on the node (the engines' data dirs are on this machine)
as the game's user, and compared file by file."""

import hashlib
import os

from nodes.client import BackupTarget, client_for
from servers import runtime


def remove_backup_dirs() -> None:
    """The backup directories of this test's servers (their server directories stay, as elsewhere)."""
    import shutil

    from servers.models import Server

    for server in Server.objects.select_related("node"):
        shutil.rmtree(os.path.join(server.node.data_dir, "backups", str(server.pk)), ignore_errors=True)


def target_of(server) -> BackupTarget:
    from backups.storage import target_for

    return target_for(server)


def plant(server, files: dict[str, bytes | str], *, links: dict[str, str] | None = None) -> str:
    """Write `files` (path: bytes) and `links` (path: target) in the server's directory, owned by the
    game's user as the game would make them; the directory's path."""
    client = client_for(server.node)
    root = runtime.ensure_directory(client, server)
    uid, gid = (int(part) for part in runtime.container_user(server, client).split(":"))
    for path, content in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
    for path, target in (links or {}).items():
        os.symlink(target, os.path.join(root, path))
    for directory, subdirs, names in os.walk(root):
        for name in [*subdirs, *names]:
            os.lchown(os.path.join(directory, name), uid, gid)
    return root


def checksums(root: str) -> dict[str, str]:
    """Every entry under `root`: a file's sha256, a link's target, a directory's 'dir'."""
    found = {}
    for directory, subdirs, names in os.walk(root):
        for name in subdirs + names:
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, root)
            if os.path.islink(full):
                found[relative] = "link:" + os.readlink(full)
            elif os.path.isdir(full):
                found[relative] = "dir"
            else:
                with open(full, "rb") as handle:
                    found[relative] = hashlib.sha256(handle.read()).hexdigest()
    return found


def mixed_files() -> dict[str, bytes]:
    """Small files in nested directories, one larger incompressible one, odd names."""
    files = {f"world/region/r.{i}.mca": os.urandom(2000 + i) for i in range(40)}
    files.update(
        {
            "server.properties": "motd=hello\n",
            "big.bin": os.urandom(3 * 1024 * 1024),
            "names/with space & 'quote'.txt": "odd\n",
            "names/-dash.txt": "dash\n",
            "names/$(touch pwned).txt": "not run\n",
            ".hidden/config": "hidden\n",
        }
    )
    return files
