import uuid

from django.core.validators import MinValueValidator
from django.db import models


class Location(models.Model):
    """A region or datacenter that groups nodes (placement picks within one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Node(models.Model):
    """A Linux machine with a Docker engine, reached over SSH or a local socket. No agent runs on it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="nodes")
    hostname = models.CharField(max_length=255, help_text="How the panel reaches the node.")
    public_address = models.CharField(max_length=255, help_text="The address players connect to.")
    docker_url = models.CharField(
        max_length=255,
        default="unix:///var/run/docker.sock",
        help_text="unix:///var/run/docker.sock for this machine, ssh://user@host:port for a remote node.",
    )
    ssh_private_key = models.TextField(blank=True, help_text="Encrypted at rest; never shown after saving.")
    ssh_host_key = models.TextField(blank=True, help_text="Pinned on first contact; a mismatch is refused.")
    data_dir = models.CharField(max_length=255, default="/var/lib/hearth")
    max_memory_mb = models.PositiveIntegerField(validators=[MinValueValidator(128)])
    max_cpu_cores = models.DecimalField(max_digits=6, decimal_places=2, validators=[MinValueValidator(0.1)])
    max_disk_mb = models.PositiveBigIntegerField(default=0, help_text="0 means unlimited.")
    memory_overallocate_percent = models.IntegerField(default=0, help_text="-1 disables the memory check.")
    cpu_overallocate_percent = models.IntegerField(default=0, help_text="-1 disables the CPU check.")
    disk_overallocate_percent = models.IntegerField(default=0, help_text="-1 disables the disk check.")
    maintenance_mode = models.BooleanField(default=False)
    is_online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
