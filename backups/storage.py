"""Where a backup's archive is kept: on the server's node (`<data_dir>/backups/<uuid>/`, made there by
the node client's contained backup containers) or in the S3-compatible store (backups/s3.py), streamed
from the node through the worker. The services (backups/services.py) call these; they neither save the
Backup row nor change its status, only fill in what the archive turned out to be."""

import copy
import logging
import posixpath
from dataclasses import dataclass

from django.db import transaction
from django.utils.text import slugify

from backups import s3
from backups.models import Backup
from nodes.client import ArchiveStream, BackupCorrupt, BackupFailed, BackupTarget, client_for
from nodes.datadirs import normalized
from nodes.models import Node
from servers import runtime
from servers.models import Server

logger = logging.getLogger(__name__)
EXTENSIONS = {Backup.Compression.ZSTD: "tar.zst", Backup.Compression.GZIP: "tar.gz"}
MB = 1024 * 1024


@dataclass(frozen=True)
class Download:
    """Either a short-lived link (`url`) or the archive's `chunks` to stream (close them when done)."""

    filename: str
    size: int
    url: str | None = None
    chunks: ArchiveStream | None = None


def target_for(server: Server, node=None) -> BackupTarget:
    """The server's directories on `node` (its own by default) and the user its files belong to."""
    placed = server
    if node is not None and node.pk != server.node_id:
        placed = copy.copy(server)
        placed.node = node
    return BackupTarget(
        server_id=str(server.pk),
        server_dir=runtime.server_dir(placed),
        backup_dir=posixpath.join(normalized(placed.node.data_dir), "backups", str(server.pk)),
        mount=server.template.data_path,
        owner=runtime.container_user(placed),
        disk_limit_mb=server.allocated_disk_mb or 0,
    )


def stop_operations(server: Server) -> int:
    """End every backup or restore of the server still running (a killed worker's: its container goes
    on working without it, up to its 12 h lifetime) on its node, and on any node a local backup of it
    is on (a restore reads it from there); how many containers went. The reaper calls this before it
    settles the job, so nothing writes an archive or swaps files once the job is marked failed; then
    the temporary archives they were writing go, and a restore interrupted mid-swap is undone (the
    originals it had set aside put back), so the server never starts on half its files. The server's
    own node unreachable raises (the engine's error), as does a swap that cannot be undone
    (BackupFailed): the job is not to be settled yet."""
    client, target = client_for(server.node), target_for(server)
    removed = client.backup_stop_all(str(server.pk))
    client.backup_clean_temporary(target, older_than_minutes=0)  # what they were writing
    client.backup_recover(target)
    others = (
        Backup.objects.filter(server=server, storage=Backup.Storage.LOCAL)
        .exclude(node=None)
        .exclude(node_id=server.node_id)
        .values_list("node", flat=True)
        .distinct()
    )
    for node in Node.objects.filter(pk__in=list(others)):
        try:
            removed += client_for(node).backup_stop_all(str(server.pk))
        except Exception as exc:  # only ever reads there; its container ends with its lifetime
            logger.warning("Backup containers of %s on %s stay: %s", server.pk, node.name, exc)
    return removed


def archive_name(backup: Backup) -> str:
    return f"{backup.pk}.{EXTENSIONS[backup.compression]}"


def _sha256(backup: Backup) -> str:
    return backup.checksum.removeprefix("sha256:")


def store(backup: Backup, server: Server, *, progress) -> None:
    """Make the backup's archive in its storage; fills size_bytes, checksum, location and node (not
    saved). BackupFailed (nothing left behind) when it cannot be made."""
    client = client_for(server.node)
    target = target_for(server)
    excludes = list(backup.ignore or [])
    name = archive_name(backup)
    if backup.storage == Backup.Storage.S3:
        key = s3.key_for(server.pk, name)
        progress(10, "Archiving the server's files and uploading them to S3.")
        stream = client.backup_stream(target, compression=backup.compression, excludes=excludes)
        try:
            size, sha256 = s3.upload(key, stream, on_bytes=_reporting(progress))
        except BackupFailed:
            raise
        except Exception as exc:
            raise _s3_failed("uploading the archive to S3", backup, exc) from exc
        finally:
            stream.close()
        backup.location, backup.node = key, None
    else:
        progress(10, f"Archiving the server's files on {server.node.name}.")
        client.backup_clean_temporary(target)
        made = client.backup_write(target, name, compression=backup.compression, excludes=excludes)
        size, sha256 = made.size_bytes, made.sha256
        backup.location, backup.node = name, server.node
    backup.size_bytes, backup.checksum = size, f"sha256:{sha256}"
    progress(95, f"Archive complete: {size / MB:.1f} MB, sha256 {sha256[:12]}….")


def _s3_failed(doing: str, backup: Backup, exc: Exception) -> BackupFailed:
    """A reason the customer may read: botocore's text names the store's internal endpoint and
    bucket, so it goes to the log only."""
    logger.warning("Backup %s: %s failed: %r", backup.pk, doing, exc)
    return BackupFailed(f"{doing} failed (the storage did not answer as expected); see the panel's log.")


def _reporting(progress):
    """Progress lines while uploading (the size is unknown until the end: a line every 256 MB)."""
    last = [0]

    def on_bytes(sent: int) -> None:
        if sent - last[0] >= 256 * MB:
            last[0] = sent
            progress(50, f"{sent // MB} MB uploaded.")

    return on_bytes


def restore(backup: Backup, server: Server, *, progress) -> None:
    """Replace the server's files by the backup's. BackupCorrupt, before any file is touched, when the
    archive is not the one recorded; BackupFailed with the originals in place on any other failure."""
    if backup.status != Backup.Status.COMPLETED or not backup.location:
        raise BackupCorrupt("The backup is not complete: nothing to restore.")
    client = client_for(server.node)
    target = target_for(server)
    client.remove_files_helper(server.pk)  # no session may write while the files are swapped
    if backup.storage == Backup.Storage.S3:
        progress(10, "Bringing the archive from S3 to the node.")
        name = f"restore-{archive_name(backup)}"
        try:
            made = client.backup_receive(
                target,
                name,
                s3.chunks_of(backup.location),
                max_bytes=backup.size_bytes or 0,
                sha256=_sha256(backup),
            )
        except BackupFailed:
            raise
        except Exception as exc:
            raise _s3_failed("reading the archive from S3", backup, exc) from exc
        try:
            _verified(made.sha256, backup)
            progress(50, "Checksum verified; extracting.")
            client.backup_restore(target, name, compression=backup.compression, sha256=_sha256(backup))
        finally:
            client.backup_remove(target, name)
    else:
        if backup.node_id and backup.node_id != server.node_id:
            progress(5, f"The archive is on {backup.node.name}: bringing it to {server.node.name}.")
            _move_one(backup, server, backup.node, server.node)
        progress(20, "Verifying the archive's checksum, then extracting.")
        client.backup_restore(target, backup.location, compression=backup.compression, sha256=_sha256(backup))
    progress(95, "Files restored.")


def _verified(sha256: str, backup: Backup) -> None:
    if sha256 != _sha256(backup):
        raise BackupCorrupt(f"its sha256 is {sha256}, not the {_sha256(backup)} recorded")


def discard(backup: Backup) -> None:
    """Remove the backup's archive wherever it is; one already gone (or never made) is fine. A failed
    local backup has no location, yet a worker killed in its last second may have left the complete
    archive under its name: that name goes too."""
    if backup.storage == Backup.Storage.S3:
        # A failed upload left no object (S3 aborts it), but a worker killed between the upload's end
        # and the row's save left one under the key it was given: that key goes too.
        s3.delete(backup.location or s3.key_for(backup.server_id, archive_name(backup)))
        return
    node = backup.node or backup.server.node
    client_for(node).backup_remove(target_for(backup.server, node), backup.location or archive_name(backup))


def discard_node_dir(server: Server, node) -> None:
    """Remove the server's whole backup directory on `node`, every archive in it (its server is gone)."""
    client_for(node).backup_remove_all(target_for(server, node))


def download(backup: Backup) -> Download:
    server = backup.server
    extension = EXTENSIONS[backup.compression]
    stamp = backup.created_at.strftime("%Y%m%d-%H%M%S") if backup.created_at else "backup"
    filename = f"{slugify(server.name) or 'server'}-{stamp}.{extension}"
    if backup.storage == Backup.Storage.S3:
        return Download(
            filename=filename,
            size=backup.size_bytes,
            url=s3.presigned_url(backup.location, filename=filename),
        )
    node = backup.node or server.node
    chunks = client_for(node).backup_read(target_for(server, node), backup.location)
    return Download(filename=filename, size=backup.size_bytes, chunks=chunks)


def move_local_backups(server: Server, source_node, target_node) -> int:
    """Copy the server's local archives from `source_node` to `target_node` (a transfer), each checked
    against its recorded sha256 before its row points at the target; the source's copy goes only once
    that row is committed (a rollback or a dead worker leaves the row on the source, whose copy stays).
    The number moved; BackupFailed naming those that could not be (they stay where they were)."""
    moved, failed = 0, []
    backups = Backup.objects.filter(
        server=server, storage=Backup.Storage.LOCAL, node=source_node, status=Backup.Status.COMPLETED
    )
    for backup in backups:
        try:
            _move_one(backup, server, source_node, target_node)
            moved += 1
        except Exception as exc:
            logger.warning("Backup %s could not be moved to %s: %s", backup.pk, target_node.name, exc)
            failed.append(f"{backup.name}: {exc}")
    if not failed:
        transaction.on_commit(lambda: _remove_empty_directory(server, source_node))
    if failed:
        raise BackupFailed(f"{len(failed)} backup(s) stayed on {source_node.name}: " + "; ".join(failed))
    return moved


def _remove_empty_directory(server: Server, node) -> None:
    if Backup.objects.filter(server=server, node=node).exists():
        return
    try:
        client_for(node).backup_remove_all(target_for(server, node))
    except Exception as exc:  # an empty directory left behind is only litter
        logger.warning("The backup directory of %s on %s stays: %s", server.pk, node.name, exc)


def _move_one(backup: Backup, server: Server, source_node, target_node) -> None:
    source, destination = client_for(source_node), client_for(target_node)
    source_target, destination_target = target_for(server, source_node), target_for(server, target_node)
    stream = source.backup_read(source_target, backup.location)
    try:
        made = destination.backup_receive(
            destination_target,
            backup.location,
            stream,
            max_bytes=backup.size_bytes or 0,
            sha256=_sha256(backup),
        )
    finally:
        stream.close()
    if made.sha256 != _sha256(backup):
        destination.backup_remove(destination_target, backup.location)
        raise BackupCorrupt(f"the copy's sha256 is {made.sha256}, not the {_sha256(backup)} recorded")
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).update(node=target_node)
    backup.node = target_node
    name = backup.location

    def remove_old_copy() -> None:  # only once the row pointing at the target is committed
        try:
            source.backup_remove(source_target, name)
        except Exception as exc:  # the copy on the target is the backup now; the old one is only litter
            logger.warning("The old copy of backup %s on %s stays: %s", backup.pk, source_node.name, exc)

    transaction.on_commit(remove_old_copy)
