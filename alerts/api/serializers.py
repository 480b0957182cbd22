"""Alerts, rules and server notifications as the contract shows them (snake_case here: the API's
renderer speaks camelCase). Rules' signing secrets are shown only when made (create, rotate);
a notification's to whoever may manage it (they hold alert.subscribe on its server)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.masking import mask_destination as mask
from alerts.masking import scrub
from alerts.models import Alert, AlertDelivery, AlertRule, ServerNotification
from alerts.rules import secret_of
from alerts.validation import NOTIFICATION_FIELDS, RULE_FIELDS


def actions_masked(actions) -> list:
    """A rule's actions with each webhook URL masked (for readers who may not change rules)."""
    return [
        {**a, "url": mask(a["url"])} if isinstance(a, dict) and a.get("url") else a for a in actions or []
    ]


class DeliverySerializer(serializers.ModelSerializer):
    destination = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "channel",
            "destination",
            "format",
            "status",
            "attempts",
            "status_code",
            "duration_ms",
            "error",
            "last_attempt_at",
            "delivered_at",
        ]

    def get_destination(self, delivery) -> str:
        return mask(delivery.destination)

    def get_error(self, delivery) -> str:
        return scrub(delivery.error, delivery.destination)


class AlertSerializer(serializers.ModelSerializer):
    server_id = serializers.UUIDField(allow_null=True)
    node_id = serializers.UUIDField(allow_null=True)
    rule_id = serializers.UUIDField(allow_null=True)
    resolved_by = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "server_id",
            "node_id",
            "type",
            "severity",
            "title",
            "message",
            "metadata",
            "resolved",
            "resolved_at",
            "resolved_by",
            "resolution",
            "created_at",
            "occurrences",
            "last_seen_at",
            "rule_id",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_resolved_by(self, alert) -> str | None:
        """The id of the person who resolved it (None when open or when it resolved by itself)."""
        return str(alert.resolved_by_id) if alert.resolved_by_id else None


class AlertDetailSerializer(AlertSerializer):
    """One alert; staff also see where it was sent and how that went, and a subscriber of its server
    (context "subscriber") its deliveries to the server's own notifications (never a rule's)."""

    deliveries = serializers.SerializerMethodField()

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries"]

    @extend_schema_field(DeliverySerializer(many=True, allow_null=True))
    def get_deliveries(self, alert):
        if self.context.get("staff"):
            return DeliverySerializer(alert.deliveries.all(), many=True).data
        if self.context.get("subscriber") and alert.server_id:
            own = alert.deliveries.filter(notification__server_id=alert.server_id, rule__isnull=True)
            return DeliverySerializer(own, many=True).data
        return None


class AlertStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    unresolved = serializers.IntegerField()
    by_type = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())


class BulkResolveSerializer(serializers.Serializer):
    alert_ids = serializers.ListField(child=serializers.UUIDField(), max_length=500, allow_empty=False)


class RuleSerializer(serializers.ModelSerializer):
    """A rule; with context {"mask": True} (a reader without admin.write) its webhook URLs are masked."""

    target_id = serializers.CharField()
    has_signing_secret = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = ["id", *RULE_FIELDS, "has_signing_secret", "created_at", "updated_at"]

    def get_has_signing_secret(self, rule) -> bool:
        return bool(rule.signing_secret)

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_actions(self, rule):
        return actions_masked(rule.actions) if self.context.get("mask") else rule.actions


class RuleWithSecretSerializer(RuleSerializer):
    """A rule as its creation (or a rotation) answers: with the plain signing secret, shown this once."""

    signing_secret = serializers.SerializerMethodField()

    class Meta(RuleSerializer.Meta):
        fields = [*RuleSerializer.Meta.fields, "signing_secret"]

    def get_signing_secret(self, rule) -> str:
        return secret_of(rule)


class RuleWriteSerializer(serializers.Serializer):
    """The body of POST/PUT/PATCH /api/alert-rules (checked by alerts.validation; for the schema)."""

    name = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(
        ["resource_threshold", "node_offline", "server_crashed", "server_expiring"]
    )
    target = serializers.ChoiceField(["server", "node"])
    target_id = serializers.CharField(required=False, help_text="A server's or node's id, or * (default)")
    conditions = serializers.JSONField(
        required=False,
        help_text="{metric: cpu|memory|disk, operator, value: 0-100, duration: seconds}; {} for events",
    )
    actions = serializers.JSONField(
        required=False, help_text="[{type: webhook, url, format?}, {type: email, to: [addresses]}]"
    )
    enabled = serializers.BooleanField(required=False)
    severity = serializers.ChoiceField(["info", "warning", "critical"], required=False)
    auto_resolve = serializers.BooleanField(required=False)
    dedupe_seconds = serializers.IntegerField(required=False)


class LastDeliverySerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()

    class Meta:
        model = AlertDelivery
        fields = ["status", "status_code", "last_attempt_at", "error"]

    def get_error(self, delivery) -> str:
        return scrub(delivery.error, delivery.destination)


class NotificationSerializer(serializers.ModelSerializer):
    """A subscription and how its last delivery went (lastDelivery: null before the first)."""

    server_id = serializers.UUIDField()
    signing_secret = serializers.SerializerMethodField()
    last_delivery = serializers.SerializerMethodField()

    class Meta:
        model = ServerNotification
        fields = ["id", "server_id", *NOTIFICATION_FIELDS, "signing_secret", "created_at", "last_delivery"]

    def get_signing_secret(self, notification) -> str:
        return secret_of(notification)

    @extend_schema_field(LastDeliverySerializer(allow_null=True))
    def get_last_delivery(self, notification):
        last = notification.deliveries.order_by("-created_at").first()
        return LastDeliverySerializer(last).data if last else None


class NotificationWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        ["webhook", "email"], required=False, help_text="webhook (default) or email"
    )
    url = serializers.CharField(
        required=False, help_text="The webhook's URL (a Discord channel's, Slack's, yours)"
    )
    email = serializers.CharField(required=False)
    format = serializers.ChoiceField(["auto", "discord", "slack", "json"], required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(["resource_threshold", "server_crashed", "server_expiring"]),
        required=False,
        help_text="Alert types sent here; empty means all",
    )
    enabled = serializers.BooleanField(required=False)


class TestResultSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)
