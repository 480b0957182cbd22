"""Alerts, rules and server notifications as the contract shows them (snake_case here: the API's
renderer speaks camelCase). Rules' signing secrets are shown only when made (create, rotate);
a notification's to whoever may manage it (they hold alert.subscribe on its server)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import Alert, AlertDelivery, AlertRule, ServerNotification
from alerts.rules import secret_of


def mask(destination: str) -> str:
    """A URL's scheme and host (its path often holds a token: Discord's does), or an address's domain."""
    if "@" in destination and "://" not in destination:
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain}"
    scheme, _, rest = destination.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/…" if rest != host else destination


class DeliverySerializer(serializers.ModelSerializer):
    destination = serializers.SerializerMethodField()

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
    """One alert; staff also see where it was sent and how that went."""

    deliveries = serializers.SerializerMethodField()

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries"]

    @extend_schema_field(DeliverySerializer(many=True, allow_null=True))
    def get_deliveries(self, alert):
        if not self.context.get("staff"):
            return None
        return DeliverySerializer(alert.deliveries.all(), many=True).data


class AlertStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    unresolved = serializers.IntegerField()
    by_type = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())


class BulkResolveSerializer(serializers.Serializer):
    alert_ids = serializers.ListField(child=serializers.UUIDField(), max_length=500, allow_empty=False)


class RuleSerializer(serializers.ModelSerializer):
    target_id = serializers.CharField()
    has_signing_secret = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "type",
            "target",
            "target_id",
            "conditions",
            "actions",
            "enabled",
            "severity",
            "auto_resolve",
            "dedupe_seconds",
            "has_signing_secret",
            "created_at",
            "updated_at",
        ]

    def get_has_signing_secret(self, rule) -> bool:
        return bool(rule.signing_secret)


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
    type = serializers.ChoiceField(["resource_threshold", "node_offline", "server_crashed"])
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


class NotificationSerializer(serializers.ModelSerializer):
    server_id = serializers.UUIDField()
    signing_secret = serializers.SerializerMethodField()

    class Meta:
        model = ServerNotification
        fields = [
            "id",
            "server_id",
            "kind",
            "url",
            "email",
            "format",
            "events",
            "enabled",
            "signing_secret",
            "created_at",
        ]

    def get_signing_secret(self, notification) -> str:
        return secret_of(notification)


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
        child=serializers.ChoiceField(["resource_threshold", "server_crashed"]),
        required=False,
        help_text="Alert types sent here; empty means all",
    )
    enabled = serializers.BooleanField(required=False)


class TestResultSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)
