"""backups.storage: an archive made in its storage (the node's backup directory, or S3 streamed from
the node through the worker in multipart parts), restored file for file, downloaded, discarded, and
moved with a server to another node."""

import hashlib
import os

import pytest
import requests

from backups import receivers, s3, storage
from backups.models import Backup
from nodes.client import BackupCorrupt, BackupFailed
from tests.backups.tree import checksums, mixed_files, plant


def _progress(lines):
    return lambda percent, line: lines.append((percent, line))


def _completed(backup: Backup) -> Backup:
    backup.status = Backup.Status.COMPLETED
    backup.save()
    return backup


@pytest.mark.parametrize(("engine", "via"), [(2, "ssh")])
def test_an_s3_backup_uploads_in_parts_and_restores_every_file(files_server, s3_bucket, engine, via):
    server = files_server(engine, via)
    files = mixed_files()
    files["large.bin"] = os.urandom(11 * 1024 * 1024)  # three 5 MB parts
    root = plant(server, files)
    expected = checksums(root)
    backup = Backup.objects.create(server=server, name="s3", storage=Backup.Storage.S3)
    lines = []
    storage.store(backup, server, progress=_progress(lines))
    assert backup.node is None and backup.location.endswith(f"{server.pk}/{backup.pk}.tar.zst")
    head = s3.client().head_object(Bucket=s3_bucket, Key=backup.location)
    assert head["ContentLength"] == backup.size_bytes and head["ETag"].endswith('-3"')  # multipart
    _completed(backup)

    link = storage.download(backup)
    fetched = requests.get(link.url, timeout=30)
    assert fetched.ok and "attachment" in fetched.headers.get("Content-Disposition", "")
    assert f"sha256:{hashlib.sha256(fetched.content).hexdigest()}" == backup.checksum

    plant(server, {"server.properties": "changed", "added": "later"})
    storage.restore(backup, server, progress=_progress(lines))
    assert checksums(root) == expected
    assert os.listdir(storage.target_for(server).backup_dir) == []  # the fetched archive went

    storage.discard(backup)
    assert not s3.exists(backup.location)
    storage.discard(backup)  # already gone: fine


def test_a_replaced_s3_object_is_refused_and_the_files_stay(files_server, s3_bucket):
    server = files_server()
    root = plant(server, {"a.txt": "original"})
    backup = Backup.objects.create(server=server, name="s3", storage=Backup.Storage.S3)
    storage.store(backup, server, progress=lambda *_: None)
    _completed(backup)
    s3.client().put_object(Bucket=s3_bucket, Key=backup.location, Body=b"someone else's archive")
    plant(server, {"a.txt": "current"})
    before = checksums(root)
    with pytest.raises(BackupCorrupt, match="sha256"):
        storage.restore(backup, server, progress=lambda *_: None)
    assert checksums(root) == before
    assert os.listdir(storage.target_for(server).backup_dir) == []


def test_a_failed_s3_backup_leaves_no_object(files_server, s3_bucket, settings):
    server = files_server()
    root = plant(server, {"a.txt": "a", "big.bin": os.urandom(6 * 1024 * 1024), "z/secret": "k"})
    os.chown(os.path.join(root, "z"), 0, 0)
    os.chmod(os.path.join(root, "z"), 0o700)  # unreadable for the game's user: tar fails at the end
    backup = Backup.objects.create(server=server, name="s3", storage=Backup.Storage.S3)
    with pytest.raises(BackupFailed, match="tar failed"):
        storage.store(backup, server, progress=lambda *_: None)
    listed = s3.client().list_objects_v2(Bucket=s3_bucket, Prefix=settings.BACKUP_S3["prefix"])
    assert listed.get("KeyCount", 0) == 0
    uploads = s3.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [u for u in uploads if str(server.pk) in u["Key"]] == []

    # A worker killed after the upload but before the row's save: discard finds the key it had.
    key = s3.key_for(server.pk, storage.archive_name(backup))
    s3.client().put_object(Bucket=s3_bucket, Key=key, Body=b"complete but unrecorded")
    storage.discard(backup)
    assert not s3.exists(key)

    # The store's own error text (its internal endpoint) never reaches the customer's backup.error.
    endpoint = settings.BACKUP_S3["endpoint_url"]
    settings.BACKUP_S3 = {**settings.BACKUP_S3, "endpoint_url": "http://127.0.0.1:9"}
    os.chmod(os.path.join(root, "z"), 0o755)  # noqa: S103 - readable again: tar would succeed
    with pytest.raises(BackupFailed, match="see the panel's log") as failed:
        storage.store(backup, server, progress=lambda *_: None)
    assert "127.0.0.1" not in failed.value.reason and endpoint not in failed.value.reason


def test_a_local_backup_is_downloaded_discarded_and_follows_a_transfer(
    files_server, game_node, django_capture_on_commit_callbacks
):
    server = files_server()
    root = plant(server, mixed_files())
    expected = checksums(root)
    backup = Backup.objects.create(server=server, name="local", compression=Backup.Compression.GZIP)
    storage.store(backup, server, progress=lambda *_: None)
    assert backup.node == server.node and backup.location == f"{backup.pk}.tar.gz"
    _completed(backup)
    download = storage.download(backup)
    data = b"".join(download.chunks)
    assert download.filename.endswith(".tar.gz") and download.size == len(data)
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" == backup.checksum

    source, target = server.node, game_node(2, "ssh")
    with django_capture_on_commit_callbacks() as removals:
        assert storage.move_local_backups(server, source, target) == 1
    source_copy = os.path.join(storage.target_for(server).backup_dir, backup.location)
    assert os.path.exists(source_copy)  # until the row pointing at the target is committed
    for removal in removals:
        removal()
    backup.refresh_from_db()
    assert backup.node == target
    assert not os.path.exists(os.path.join(storage.target_for(server).backup_dir, backup.location))
    server.node = target  # as the transfer's switch does; its files are not there yet
    storage.restore(backup, server, progress=lambda *_: None)
    assert checksums(storage.target_for(server).server_dir) == expected

    storage.discard(backup)
    assert os.listdir(storage.target_for(server).backup_dir) == []

    # The server deleted: its backup directory goes whole, on every node that holds one.
    receivers.discard_server_backups(None, server=server)
    assert not os.path.exists(storage.target_for(server).backup_dir)
