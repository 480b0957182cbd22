from collections.abc import Mapping
from decimal import Decimal

from rest_framework import serializers

from accounts.permissions import SERVER_SCOPED
from nodes.models import Allocation
from nodes.validation import NETWORK_MODES
from servers.commands import MAX_COMMAND_CHARS, BadCommand, command_line
from servers.models import Job, Server, ServerMember
from servers.resources import SELF_SIZED, STAFF_ONLY_FIELDS


class ServerSerializer(serializers.ModelSerializer):
    """The contract's list shape plus our limits; the detail adds node, template and more."""

    uuid = serializers.CharField(read_only=True)
    node_id = serializers.UUIDField(read_only=True)
    template_id = serializers.UUIDField(read_only=True)
    owner_id = serializers.UUIDField(read_only=True)
    plan_id = serializers.UUIDField(read_only=True, allow_null=True)
    primary_port = serializers.SerializerMethodField(help_text="The primary allocation's container port.")
    primary_host_port = serializers.SerializerMethodField(help_text="Where players connect on the node.")
    container_name = serializers.CharField(read_only=True)

    class Meta:
        model = Server
        fields = [
            "id",
            "uuid",
            "name",
            "description",
            "node_id",
            "template_id",
            "owner_id",
            "status",
            "status_reason",
            "allocated_memory_mb",
            "allocated_swap_mb",
            "allocated_cpu_cores",
            "allocated_disk_mb",
            "io_weight",
            "pids_limit",
            "primary_port",
            "primary_host_port",
            "network_mode",
            "container_name",
            "docker_image",
            "cpu_usage",
            "memory_usage_mb",
            "disk_usage_mb",
            "suspended_at",
            "plan_id",
            "expire_at",
            "installed_at",
            "created_at",
            "updated_at",
        ]

    # Both from servers.selectors.with_primary_ports, which every queryset served here goes through.
    def get_primary_port(self, server) -> int | None:
        return server.primary_container_port or server.primary_host_port

    def get_primary_host_port(self, server) -> int | None:
        return server.primary_host_port


class ServerDetailSerializer(ServerSerializer):
    node = serializers.SerializerMethodField()
    template = serializers.SerializerMethodField()
    suspended_by_user_id = serializers.UUIDField(source="suspended_by_id", read_only=True)
    allocations = serializers.SerializerMethodField()

    class Meta(ServerSerializer.Meta):
        fields = [
            *ServerSerializer.Meta.fields,
            "node",
            "template",
            "environment",
            "container_id",
            "network_sent",
            "network_received",
            "crash_count",
            "last_crash_at",
            "restart_policy",
            "max_crash_count",
            "suspended_by_user_id",
            "suspension_reason",
            "backup_limit",
            "database_limit",
            "allocation_limit",
            "schedule_limit",
            "allocations",
        ]

    def get_node(self, server) -> dict:
        return {"id": str(server.node_id), "name": server.node.name, "hostname": server.node.public_address}

    def get_template(self, server) -> dict:
        return {
            "id": str(server.template_id),
            "name": server.template.name,
            "docker_image": server.template.docker_image,
            # The egg's features (eula, java_version…): the web UI offers their fixes on console lines.
            "features": list(server.template.features or []),
        }

    def get_allocations(self, server) -> list[dict]:
        return ServerAllocationSerializer(server.allocations.all(), many=True).data


DESCRIPTION_MAX = 1000


class StrictSerializer(serializers.Serializer):
    """A request body whose unknown fields are a 400, so a misspelt or unsupported field never passes
    silently. `staff_only` lists the fields that need `server.resources` (checked by the view first)."""

    staff_only: frozenset[str] = STAFF_ONLY_FIELDS

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class LimitFields(serializers.Serializer):
    """What the server may use, and how many backups, databases and allocations it may have
    (servers.resources says who may set which)."""

    allocated_memory_mb = serializers.IntegerField(min_value=64, required=False)
    allocated_swap_mb = serializers.IntegerField(min_value=0, required=False)
    allocated_cpu_cores = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0.1"), required=False
    )
    allocated_disk_mb = serializers.IntegerField(min_value=64, required=False)
    io_weight = serializers.IntegerField(min_value=10, max_value=1000, required=False)
    pids_limit = serializers.IntegerField(min_value=16, max_value=32768, required=False)
    backup_limit = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    database_limit = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    allocation_limit = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    schedule_limit = serializers.IntegerField(min_value=0, max_value=1000, required=False)


class ServerCreateSerializer(LimitFields, StrictSerializer):
    # A customer may size the server within the self-service maximums; the rest is staff's to set.
    staff_only = STAFF_ONLY_FIELDS - set(SELF_SIZED)

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX
    )
    template_id = serializers.UUIDField()
    node_id = serializers.UUIDField(required=False, help_text="Staff only; without it the server is placed.")
    location_id = serializers.UUIDField(required=False)
    owner_id = serializers.UUIDField(required=False, help_text="Staff only: create for another user.")
    primary_port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    port_bindings = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=65535),
        required=False,
        help_text='{"containerPort": hostPort}',
    )
    network_mode = serializers.ChoiceField(NETWORK_MODES, default="bridge")
    environment = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)
    docker_image = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    install = serializers.BooleanField(default=False, help_text="Start the installation right away.")
    plan_id = serializers.UUIDField(
        required=False, help_text="Required of customers while plans are offered (GET /api/plans)."
    )
    expire_in_days = serializers.IntegerField(
        min_value=1, max_value=36500, required=False, help_text="Staff only; else the plan's default."
    )

    def validate_port_bindings(self, value):
        for key in value:
            if not str(key).isdigit() or not 1 <= int(key) <= 65535:
                raise serializers.ValidationError(f"'{key}' is not a container port.")
        return {int(k): v for k, v in value.items()}


class ServerUpdateSerializer(LimitFields, StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=DESCRIPTION_MAX)
    environment = serializers.DictField(child=serializers.JSONField(), required=False)
    docker_image = serializers.CharField(required=False, max_length=255)


class InstallSerializer(StrictSerializer):
    docker_image = serializers.CharField(
        required=False, max_length=255, help_text="Switch image first: one of the template's (staff: any)."
    )


class StopSerializer(serializers.Serializer):
    timeout = serializers.IntegerField(min_value=1, max_value=3600, required=False)


class SuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class CommandSerializer(serializers.Serializer):
    command = serializers.CharField(max_length=MAX_COMMAND_CHARS, trim_whitespace=False)

    def validate_command(self, value):
        try:
            return command_line(value)  # the WebSocket's console_input goes through the same check
        except BadCommand as exc:
            raise serializers.ValidationError(str(exc)) from exc


class RestartPolicySerializer(serializers.Serializer):
    restart_policy = serializers.ChoiceField(Server.RestartPolicy.values)
    max_crash_count = serializers.IntegerField(min_value=0, max_value=100, required=False)


class ServerAllocationSerializer(serializers.ModelSerializer):
    container_port = serializers.SerializerMethodField()
    host_port = serializers.IntegerField(source="port")

    class Meta:
        model = Allocation
        fields = ["container_port", "host_port", "ip", "alias", "is_primary"]

    def get_container_port(self, allocation) -> int:
        return allocation.container_port or allocation.port


class AllocationAddSerializer(StrictSerializer):
    container_port = serializers.IntegerField(min_value=1, max_value=65535)
    host_port = serializers.IntegerField(min_value=1, max_value=65535)


class PrimarySerializer(StrictSerializer):
    container_port = serializers.IntegerField(min_value=1, max_value=65535)


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    permissions = serializers.ListField(child=serializers.ChoiceField(SERVER_SCOPED))

    class Meta:
        model = ServerMember
        fields = ["id", "user_id", "email", "username", "permissions", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    permissions = serializers.ListField(child=serializers.CharField())


class MemberUpdateSerializer(serializers.Serializer):
    permissions = serializers.ListField(child=serializers.CharField())


class TransferSerializer(StrictSerializer):
    target_node_id = serializers.UUIDField()


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "status", "progress", "error", "created_at", "started_at", "finished_at"]
