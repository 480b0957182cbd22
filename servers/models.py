import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.permissions import SERVER_SCOPED, grants
from nodes.validation import NETWORK_MODES, network_mode_validator


class ServerQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Servers `user` may see (servers.selectors.servers_visible_to, the one rule)."""
        from servers.selectors import servers_visible_to

        return servers_visible_to(user, self)


def default_backup_limit() -> int:
    """A server created without a limit of its own (by staff, or without a plan) keeps the setting's."""
    return settings.BACKUP_DEFAULT_LIMIT


def default_database_limit() -> int:
    return settings.DATABASE_DEFAULT_LIMIT


def default_allocation_limit() -> int:
    return settings.ALLOCATION_DEFAULT_LIMIT


def default_schedule_limit() -> int:
    return settings.SCHEDULE_TASKS_PER_SERVER


class Server(models.Model):
    """A game server: one container on one node, with its files under <data_dir>/servers/<uuid>/."""

    class Status(models.TextChoices):
        INSTALLING = "installing"
        INSTALL_FAILED = "install_failed"
        STOPPED = "stopped"
        STARTING = "starting"
        RUNNING = "running"
        STOPPING = "stopping"
        CRASHED = "crashed"
        TRANSFERRING = "transferring"
        RESTORING = "restoring"
        SUSPENDED = "suspended"

    class RestartPolicy(models.TextChoices):
        ALWAYS = "always"
        ON_FAILURE = "on-failure"
        NEVER = "never"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="servers")
    node = models.ForeignKey("nodes.Node", on_delete=models.PROTECT, related_name="servers")
    template = models.ForeignKey("templates_app.Template", on_delete=models.PROTECT, related_name="servers")
    docker_image = models.CharField(max_length=255, help_text="One of the template's images.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INSTALLING, db_index=True)
    status_reason = models.TextField(blank=True, help_text="Why the last operation failed, when it did.")

    allocated_memory_mb = models.PositiveIntegerField(validators=[MinValueValidator(64)])
    allocated_swap_mb = models.PositiveIntegerField(default=0)
    allocated_cpu_cores = models.DecimalField(
        max_digits=5, decimal_places=2, validators=[MinValueValidator(Decimal("0.1"))]
    )
    allocated_disk_mb = models.PositiveIntegerField(validators=[MinValueValidator(64)])
    io_weight = models.PositiveIntegerField(
        default=500, validators=[MinValueValidator(10), MaxValueValidator(1000)]
    )
    pids_limit = models.PositiveIntegerField(default=512, validators=[MinValueValidator(16)])
    network_mode = models.CharField(
        max_length=20,
        default="bridge",
        choices=[(mode, mode) for mode in NETWORK_MODES],
        validators=[network_mode_validator],
        help_text="Only bridge: host would give the game the node's own network (nodes/validation.py).",
    )
    environment = models.JSONField(default=dict, blank=True, help_text="The server's variable values.")

    backup_limit = models.PositiveIntegerField(
        default=default_backup_limit,
        help_text="Backups kept at most (HEARTH_BACKUP_DEFAULT_LIMIT unless set).",
    )
    database_limit = models.PositiveIntegerField(
        default=default_database_limit,
        help_text="Databases at most (HEARTH_DATABASE_DEFAULT_LIMIT unless set).",
    )
    allocation_limit = models.PositiveIntegerField(
        default=default_allocation_limit,
        help_text="Allocations (ports) at most (HEARTH_ALLOCATION_DEFAULT_LIMIT unless set).",
    )
    schedule_limit = models.PositiveIntegerField(
        default=default_schedule_limit,
        help_text="Scheduled tasks at most (HEARTH_SCHEDULE_TASKS_PER_SERVER unless set).",
    )
    plan = models.ForeignKey(
        "plans.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="servers"
    )
    expire_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Suspended (reason expired) from then on; empty: never.",
    )
    # The reminder thresholds (days before expire_at) already sent for the current expire_at.
    expiry_reminders_sent = models.JSONField(default=list, blank=True)

    container_id = models.CharField(max_length=80, blank=True)
    restart_policy = models.CharField(
        max_length=16, choices=RestartPolicy.choices, default=RestartPolicy.ON_FAILURE
    )
    max_crash_count = models.PositiveIntegerField(default=5)
    crash_count = models.PositiveIntegerField(default=0)
    last_crash_at = models.DateTimeField(null=True, blank=True)

    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suspension_reason = models.TextField(blank=True)

    disk_usage_mb = models.PositiveIntegerField(default=0)
    disk_checked_at = models.DateTimeField(null=True, blank=True)
    cpu_usage = models.FloatField(default=0)
    memory_usage_mb = models.PositiveIntegerField(default=0)
    network_sent = models.PositiveBigIntegerField(default=0)
    network_received = models.PositiveBigIntegerField(default=0)

    installed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ServerQuerySet.as_manager()

    class Meta:
        # A unique tiebreaker, so offset pages never skip or repeat servers of one name; indexed, so a
        # page does not sort every row (issue 19: at 10,000 servers each page sorted them all).
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="server_name_id")]

    def __str__(self):
        return self.name

    @property
    def uuid(self) -> str:
        return str(self.pk)

    @property
    def container_name(self) -> str:
        return f"hearth-{self.pk}"

    @property
    def primary_allocation(self):
        return self.allocations.filter(is_primary=True).first()

    @property
    def primary_port(self) -> int | None:
        allocation = self.primary_allocation
        return allocation.port if allocation else None

    def object_permissions(self, user) -> set[str]:
        """The owner holds every server permission; a member what they were granted (the `can` hook)."""
        if user.pk == self.owner_id:
            return set(SERVER_SCOPED)
        member = next((m for m in self.members.all() if m.user_id == user.pk), None)
        # Only server-scoped grants count, whatever was stored: a member can never suspend or transfer.
        return {p for p in member.permissions if p in SERVER_SCOPED} if member else set()

    def member_may(self, user, permission: str) -> bool:
        return grants(self.object_permissions(user), permission)


class ServerMember(models.Model):
    """A user the owner shares the server with (a subuser), holding some server permissions."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["server", "user"], name="member_unique")]

    def __str__(self):
        return f"{self.user} on {self.server}"


class Job(models.Model):
    """Remote work on a node (install, delete, transfer…): its status, progress, log and error."""

    class Kind(models.TextChoices):
        INSTALL = "install"
        DELETE = "delete"
        TRANSFER = "transfer"
        POWER = "power"
        COMPRESS = "compress"  # servers.files: an archive of the customer's files
        DECOMPRESS = "decompress"
        PULL = "pull"  # a file fetched from a URL
        PLUGIN = "plugin"  # marketplace: plugins, mods or a modpack installed or updated
        BACKUP = "backup"  # backups: an archive of the server's files made
        RESTORE = "restore"  # backups: a server's files replaced by a backup's

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server = models.ForeignKey(Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    server_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # One owner at a time (the worker that claimed it, or the reaper that took it over); every
    # destructive step re-checks it under the row lock. The owner's heartbeat keeps the reaper away.
    lease_owner = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} {self.server_name} ({self.status})"


class ServerMetric(models.Model):
    """One point of resource history for graphs and alert rules: the average over METRICS_POINT_SECONDS
    (a minute), kept METRICS_RETENTION_DAYS."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="metrics")
    created_at = models.DateTimeField(db_index=True)
    cpu = models.FloatField()
    memory_mb = models.PositiveIntegerField()
    network_received = models.PositiveBigIntegerField()
    network_sent = models.PositiveBigIntegerField()
    disk_mb = models.PositiveIntegerField(null=True, blank=True, help_text="The last disk measure, if any.")

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["server", "created_at"])]

    def __str__(self):
        return f"{self.server_id} @ {self.created_at:%H:%M}"
