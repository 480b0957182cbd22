"""A backup of one server's files: where it is kept, what it holds, and whether it can be restored."""

import uuid

from django.conf import settings
from django.db import models

from servers.models import Job, Server


class Backup(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"

    class Storage(models.TextChoices):
        LOCAL = "local"  # on the server's node, under <data_dir>/backups/<server uuid>/
        S3 = "s3"  # in the S3-compatible bucket of settings.BACKUP_S3

    class Compression(models.TextChoices):
        ZSTD = "zstd"
        GZIP = "gzip"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="backups")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    storage = models.CharField(max_length=8, choices=Storage.choices, default=Storage.LOCAL)
    compression = models.CharField(max_length=8, choices=Compression.choices, default=Compression.ZSTD)
    # The node a local backup's archive is on (it moves with a transfer); none for S3.
    node = models.ForeignKey(
        "nodes.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="backups"
    )
    # Where the archive is: the file name in the server's backup directory, or the object key in S3.
    location = models.CharField(max_length=500, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    checksum = models.CharField(max_length=80, blank=True, help_text="sha256:<hex> of the archive.")
    locked = models.BooleanField(default=False, help_text="Locked backups are never deleted or pruned.")
    ignore = models.JSONField(default=list, blank=True, help_text="Patterns left out of this backup.")
    error = models.TextField(blank=True)
    scheduled = models.BooleanField(default=False, help_text="Made by a schedule (retention may prune).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["server", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def size_mb(self) -> int:
        return round(self.size_bytes / (1024 * 1024))
