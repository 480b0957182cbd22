"""What the marketplace put into a server's files (or recognised there by its hash): a plugin, mod or
datapack file, or a modpack, with where it came from and the hashes it was verified against."""

import uuid

from django.conf import settings
from django.db import models

from servers.models import Server


class InstalledPlugin(models.Model):
    """One plugin, mod or datapack file in a server's files, known by its source and version; or the
    server's modpack (project_type "modpack", path "/")."""

    class Origin(models.TextChoices):
        INSTALLED = "installed"  # the marketplace wrote it
        IDENTIFIED = "identified"  # uploaded by hand, recognised by its hash

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="plugins")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.INSTALLED)
    source = models.CharField(max_length=16)
    project_id = models.CharField(max_length=64)
    project_name = models.CharField(max_length=200, blank=True)
    project_type = models.CharField(max_length=16)
    version_id = models.CharField(max_length=64)
    version_name = models.CharField(max_length=100, blank=True)
    # The customer's path of the file as enabled (a disabled one has ".disabled" added on disk).
    path = models.CharField(max_length=1024)
    size = models.BigIntegerField(default=0)
    hashes = models.JSONField(default=dict, blank=True)
    dependencies = models.JSONField(default=list, blank=True)  # [{"projectId", "kind"}] as published
    files = models.JSONField(default=list, blank=True)  # a modpack's: the paths it wrote
    latest_version_id = models.CharField(max_length=64, blank=True)  # the last update check's answer
    latest_version_name = models.CharField(max_length=100, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    installed_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["server", "path"], name="plugin_one_per_path")]
        indexes = [models.Index(fields=["server", "source", "project_id"], name="plugin_project")]

    def __str__(self):
        return f"{self.project_name or self.project_id} {self.version_name} ({self.path})"

    @property
    def has_update(self) -> bool:
        return bool(self.latest_version_id) and self.latest_version_id != self.version_id
