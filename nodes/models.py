import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from config import limits


class Location(models.Model):
    """A region or datacenter that groups nodes (placement picks within one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=limits.DESCRIPTION_CHARS)
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
    description = models.TextField(blank=True, max_length=limits.DESCRIPTION_CHARS)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="nodes")
    hostname = models.CharField(max_length=255, help_text="How the panel reaches the node.")
    public_address = models.CharField(max_length=255, help_text="The address players connect to.")
    docker_url = models.CharField(
        max_length=255,
        help_text="unix:///var/run/docker.sock for this machine, ssh://user@host:port for a remote node.",
    )
    engine_id = models.CharField(
        max_length=255,
        blank=True,
        editable=False,
        help_text="The engine behind docker_url (its ID, host name and data root), learnt by the first "
        "successful check: one engine is never two nodes.",
    )
    ssh_private_key = models.TextField(blank=True, help_text="Encrypted at rest; never shown after saving.")
    ssh_host_key = models.TextField(
        blank=True,
        help_text="Pinned at enrollment (proven), or on the first connection the host accepted the panel's key; "
        "a mismatch is refused, and only the host-key action changes it.",
    )
    data_dir = models.CharField(max_length=255, default="/var/lib/hearth")
    max_memory_mb = models.PositiveIntegerField(validators=[MinValueValidator(128)])
    max_cpu_cores = models.DecimalField(
        max_digits=6, decimal_places=2, validators=[MinValueValidator(Decimal("0.1"))]
    )
    max_disk_mb = models.PositiveBigIntegerField(default=0, help_text="0 means unlimited.")
    memory_overallocate_percent = models.IntegerField(default=0, help_text="-1 disables the memory check.")
    cpu_overallocate_percent = models.IntegerField(default=0, help_text="-1 disables the CPU check.")
    disk_overallocate_percent = models.IntegerField(default=0, help_text="-1 disables the disk check.")
    maintenance_mode = models.BooleanField(default=False, help_text="No new servers are placed here.")
    secret_hash = models.CharField(
        max_length=64, blank=True, help_text="sha256 of the node secret (shown once)."
    )
    is_online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_health = models.JSONField(default=dict, blank=True, help_text="The latest health report.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["engine_id"], condition=~models.Q(engine_id=""), name="node_unique_engine"
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_ssh(self) -> bool:
        return self.docker_url.startswith("ssh://")


class NodeEvent(models.Model):
    """A transition worth alerting on: online, offline, enrollment, and every change of trust (a host key
    pinned, replaced, forgotten or refused; the node re-pointed at another address)."""

    class Kind(models.TextChoices):
        ONLINE = "online"
        OFFLINE = "offline"
        HOST_KEY_MISMATCH = "host_key_mismatch"
        ENROLLED = "enrolled"
        HOST_KEY_PINNED = "host_key_pinned"
        HOST_KEY_REPLACED = "host_key_replaced"
        HOST_KEY_FORGOTTEN = "host_key_forgotten"
        REPOINTED = "repointed"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.node} {self.kind}"


class NodeMetric(models.Model):
    """One health check's usage of the node's host, in percent: the history node alert rules read."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="metrics")
    created_at = models.DateTimeField(db_index=True)
    cpu = models.FloatField()
    memory = models.FloatField()
    disk = models.FloatField()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["node", "created_at"])]

    def __str__(self):
        return f"{self.node_id} @ {self.created_at:%H:%M:%S}"


class DeploymentToken(models.Model):
    """Single-use, expiring token in the URL of a node's enrollment script; a newer link revokes it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="deployment_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(
        null=True, blank=True, help_text="Spent: by an enrollment or a failed one."
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="Replaced by a newer link, or the node no longer waits to enrol."
    )
    failure = models.TextField(blank=True, help_text="Why the enrollment that spent it failed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"deployment token for {self.node} (expires {self.expires_at:%Y-%m-%d %H:%M})"


class Allocation(models.Model):
    """An IP and port on a node that one server may bind (TCP and UDP)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="allocations")
    ip = models.GenericIPAddressField()
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    alias = models.CharField(
        max_length=255, blank=True, help_text="A hostname shown to players instead of the IP."
    )
    notes = models.CharField(max_length=255, blank=True)
    server = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="allocations"
    )
    container_port = models.PositiveIntegerField(
        null=True, blank=True, help_text="The port inside the container; the same as `port` when empty."
    )
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["node", "ip", "port"]
        constraints = [models.UniqueConstraint(fields=["node", "ip", "port"], name="allocation_unique_port")]

    def __str__(self):
        return f"{self.alias or self.ip}:{self.port}"
