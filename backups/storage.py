"""TEMPORARY STAND-IN written by helper A2 so the service's tests run before helper A1's real storage
lands; the lead merges A1's `backups/storage.py` over this file. Same names and signatures; every
operation that needs a node answers Unavailable (503), and discarding finds nothing to remove."""

from config.errors import Unavailable

NOT_YET = "Backup storage is not available yet (the engine is not merged)."


def target_for(server):
    raise Unavailable(NOT_YET)


def store(backup, server, *, progress) -> None:
    raise Unavailable(NOT_YET)


def restore(backup, server, *, progress) -> None:
    raise Unavailable(NOT_YET)


def discard(backup) -> None:
    """As the real one: an S3 backup without an object has nothing to remove; a local one asks its node."""
    if backup.storage == "s3" and not backup.location:
        return
    raise Unavailable(NOT_YET)


def download(backup):
    raise Unavailable(NOT_YET)


def move_local_backups(server, source_node, target_node) -> None:
    raise Unavailable(NOT_YET)
