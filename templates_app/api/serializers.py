from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config import limits
from templates_app.models import Template
from templates_app.validators import RULE_KEYS, normalize_rules

_RULE_WIRE = {"min_length": "minLength", "max_length": "maxLength"}
_RULE_INTERNAL = {wire: ours for ours, wire in _RULE_WIRE.items()}


@extend_schema_field(OpenApiTypes.OBJECT)
class RulesField(serializers.Field):
    """{"required", "type", "regex", "min", "max", "minLength", "maxLength", "choices"}."""

    def to_representation(self, value):
        return {_RULE_WIRE.get(k, k): v for k, v in (value or {}).items() if k in RULE_KEYS}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Rules must be an object.")
        try:
            return normalize_rules({_RULE_INTERNAL.get(k, k): v for k, v in data.items()})
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class TemplateVariableSerializer(serializers.Serializer):
    """Spelled in camelCase by hand: the `variables` key is passed through untouched (JSON_CAMEL_CASE)."""

    envVariable = serializers.CharField(source="env_variable", max_length=64)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=limits.DESCRIPTION_CHARS
    )
    defaultValue = serializers.CharField(
        source="default_value",
        allow_blank=True,
        required=False,
        default="",
        trim_whitespace=False,
        max_length=limits.VALUE_CHARS,
    )
    userViewable = serializers.BooleanField(source="user_viewable", required=False, default=True)
    userEditable = serializers.BooleanField(source="user_editable", required=False, default=True)
    rules = RulesField(required=False, default=dict)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value.get("rules"):
            value["rules"] = normalize_rules({})
        return value


def _entry() -> serializers.CharField:
    """One entry of a list the model validates (templates_app.egg_metadata), so every caller refuses alike."""
    return serializers.CharField(allow_blank=True, trim_whitespace=False)


class TemplateSerializer(serializers.ModelSerializer):
    """The contract's template plus Hearth's fields. Customers see viewable variables and no install script."""

    variables = TemplateVariableSerializer(many=True, required=False)
    config_file_rules = serializers.JSONField(source="config_files", required=False)
    features = serializers.SerializerMethodField()
    # The egg's own `features` (eula, java_version…): `features` is the contract's config-file summary.
    egg_features = serializers.ListField(
        source="features", child=_entry(), required=False, help_text="eula, java_version, pid_limit…"
    )
    tags = serializers.ListField(child=_entry(), required=False)
    file_denylist = serializers.ListField(
        child=_entry(), required=False, help_text="gitignore-style patterns of files customers may not open."
    )

    class Meta:
        model = Template
        fields = [
            "id",
            "name",
            "description",
            "docker_image",
            "start_command",
            "stop_command",
            "ports",
            "environment",
            "required_variables",
            "features",
            "created_at",
            "use_image_entrypoint",
            "egg_features",
            "tags",
            "file_denylist",
            "docker_images",
            "pull_policy",
            "stop_signal",
            "variables",
            "ready_pattern",
            "ready_pattern_is_regex",
            "data_path",
            "install_image",
            "install_entrypoint",
            "install_script",
            "config_file_rules",
            "read_only_root",
            "backup_before_commands",
            "backup_done_pattern",
            "backup_done_pattern_is_regex",
            "backup_after_commands",
            "source",
            "updated_at",
        ]
        read_only_fields = ["id", "features", "source", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}  # uniqueness is checked (case-insensitively) by the model

    @extend_schema_field(
        {"type": "object", "properties": {"configFiles": {"type": "array", "items": {"type": "string"}}}}
    )
    def get_features(self, template) -> dict:
        return {"config_files": template.config_file_paths()}

    def to_representation(self, template):
        data = super().to_representation(template)
        if not self.context.get("full"):
            data.pop("install_script", None)
            viewable = {v.env_variable for v in template.variables.all() if v.user_viewable}
            data["variables"] = [v for v in data["variables"] if v["envVariable"] in viewable]
        return data

    def validate(self, attrs):
        """Setting one way of stopping clears the other, so a PATCH can switch between them."""
        initial = self.initial_data if isinstance(self.initial_data, dict) else {}
        given_command = "stop_command" in initial or "stopCommand" in initial
        given_signal = "stop_signal" in initial or "stopSignal" in initial
        if given_command and not given_signal and attrs.get("stop_command"):
            attrs["stop_signal"] = ""
        if given_signal and not given_command and attrs.get("stop_signal"):
            attrs["stop_command"] = ""
        return attrs
