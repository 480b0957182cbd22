"""Alert rules, the alerts they (and the crash and node-offline events) raise, where an alert is sent
(a rule's actions, a server's notification subscriptions) and every attempt to send it."""

import uuid

from django.conf import settings
from django.db import models


class AlertType(models.TextChoices):
    RESOURCE_THRESHOLD = "resource_threshold"
    NODE_OFFLINE = "node_offline"
    SERVER_CRASHED = "server_crashed"
    SERVER_EXPIRING = "server_expiring"  # a reminder before a server's expiry (servers.expiry)


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertRule(models.Model):
    """What to watch (a metric over a window, or an event), on which servers or nodes, and whom to tell.

    `target_id` is a server's or node's id, or `*` for all of them. `conditions` is
    `{metric: cpu|memory|disk, operator: > < >= <= ==, value, duration}` for resource_threshold and `{}`
    for the event types. `actions` is a list of `{type: webhook, url, format?}` and
    `{type: email, to: [addresses]}`; webhooks are signed with `signing_secret`.
    """

    class Target(models.TextChoices):
        SERVER = "server"
        NODE = "node"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=32, choices=AlertType.choices)
    target = models.CharField(max_length=16, choices=Target.choices)
    target_id = models.CharField(
        max_length=64, default="*", help_text="A server's or node's id, or * for all."
    )
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    enabled = models.BooleanField(default=True)
    auto_resolve = models.BooleanField(
        default=True,
        help_text="Resolve the alert by itself when the condition clears (or the server or node recovers).",
    )
    dedupe_seconds = models.PositiveIntegerField(
        default=300, help_text="No second alert for the same rule and target within this window."
    )
    signing_secret = models.TextField(blank=True, help_text="Encrypted; signs generic JSON webhooks.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["type", "enabled"])]

    def __str__(self):
        return self.name


class ServerNotification(models.Model):
    """A server's own subscription, made by its owner: this server's alerts of these types go here
    (a webhook such as a Discord channel, or an email address)."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server = models.ForeignKey("servers.Server", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(max_length=2048, blank=True)
    email = models.EmailField(blank=True)
    format = models.CharField(
        max_length=16, default="auto", help_text="auto (by URL), discord, slack or json (signed)."
    )
    events = models.JSONField(default=list, help_text="Alert types sent here; empty means all.")
    signing_secret = models.TextField(blank=True, help_text="Encrypted; signs generic JSON webhooks.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.server_id} → {self.kind}"


class Alert(models.Model):
    """Something staff or a server's owner should know: raised by a rule's evaluation or an event.

    `fingerprint` names what it is about (the rule or event type and its server or node): while an
    alert with the same fingerprint is open, or was opened within the rule's dedupe window, no second
    one is opened; `last_seen_at` and `occurrences` record that it is still happening."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    server = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    node = models.ForeignKey(
        "nodes.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    type = models.CharField(max_length=32, choices=AlertType.choices, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=200, db_index=True)
    occurrences = models.PositiveIntegerField(default=1)
    last_seen_at = models.DateTimeField()
    resolved = models.BooleanField(default=False, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=200, blank=True, help_text="How it was resolved.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["fingerprint", "resolved"]),
            models.Index(fields=["server", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=models.Q(resolved=False),
                name="alert_one_open_per_fingerprint",
            )
        ]

    def __str__(self):
        return self.title


class AlertDelivery(models.Model):
    """One destination of one alert, and how sending to it went (attempts, the last status and error)."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    notification = models.ForeignKey(
        ServerNotification, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    destination = models.CharField(max_length=2048, help_text="The URL or address (shown masked).")
    format = models.CharField(max_length=16, default="json")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "alert deliveries"

    def __str__(self):
        return f"{self.channel} {self.status}"
