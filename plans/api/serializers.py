"""Plans and upgrade bundles (camelCased by the renderer): what customers see of them, and what staff set."""

from rest_framework import serializers

from nodes.models import Location
from plans.models import Plan, UpgradeBundle
from templates_app.models import Template

OFFER_FIELDS = [
    "id",
    "name",
    "description",
    "price_label",
    "memory_mb",
    "swap_mb",
    "cpu_cores",
    "disk_mb",
    "backup_limit",
    "database_limit",
    "allocation_limit",
    "schedule_limit",
    "default_expire_days",
    "template_ids",
    "location_ids",
]


class PlanSerializer(serializers.ModelSerializer):
    template_ids = serializers.PrimaryKeyRelatedField(
        source="templates",
        queryset=Template.objects.all(),
        many=True,
        required=False,
        help_text="The templates it offers; none: every template.",
    )
    location_ids = serializers.PrimaryKeyRelatedField(
        source="locations",
        queryset=Location.objects.all(),
        many=True,
        required=False,
        help_text="Where its servers run; none: any location.",
    )
    server_count = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [*OFFER_FIELDS, "is_active", "sort_order", "delete_after_days", "server_count", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"name": {"validators": []}}  # a taken name is the service's 409

    def get_server_count(self, plan) -> int:
        return plan.servers.count()


class PlanOfferSerializer(PlanSerializer):
    """What a customer sees: the plan as offered, nothing of how many servers use it."""

    class Meta(PlanSerializer.Meta):
        fields = OFFER_FIELDS
        read_only_fields = OFFER_FIELDS


class UpgradeBundleSerializer(serializers.ModelSerializer):
    plan_ids = serializers.PrimaryKeyRelatedField(
        source="plans",
        queryset=Plan.objects.all(),
        many=True,
        required=False,
        help_text="The plans whose servers it applies to; none: every server.",
    )

    class Meta:
        model = UpgradeBundle
        fields = [
            "id",
            "name",
            "description",
            "price_label",
            "memory_mb",
            "cpu_cores",
            "disk_mb",
            "backup_limit",
            "database_limit",
            "allocation_limit",
            "plan_ids",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"name": {"validators": []}}
