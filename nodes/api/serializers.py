from rest_framework import serializers

from config import limits
from config.api.exceptions import serializer_errors
from nodes.identity import node_public_key
from nodes.models import Allocation, Location, Node
from nodes.validation import Invalid, check_host, clean_node_fields


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "name", "description", "created_at"]
        read_only_fields = ["id", "created_at"]


class NodeSerializer(serializers.ModelSerializer):
    location_id = serializers.PrimaryKeyRelatedField(source="location", queryset=Location.objects.all())
    ssh_private_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=limits.SECRET_CHARS,
        help_text="OpenSSH private key for ssh:// nodes; generated when omitted. Never returned.",
    )
    ssh_public_key = serializers.SerializerMethodField(
        help_text="Put this in the node user's authorized_keys."
    )
    servers = serializers.SerializerMethodField()

    class Meta:
        model = Node
        fields = [
            "id",
            "name",
            "description",
            "location_id",
            "hostname",
            "public_address",
            "max_memory_mb",
            "max_cpu_cores",
            "max_disk_mb",
            "memory_overallocate_percent",
            "cpu_overallocate_percent",
            "disk_overallocate_percent",
            "docker_url",
            "data_dir",
            "maintenance_mode",
            "ssh_private_key",
            "ssh_public_key",
            "ssh_host_key",
            "engine_id",
            "is_online",
            "last_seen_at",
            "consecutive_failures",
            "last_health",
            "servers",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "engine_id",
            "is_online",
            "last_seen_at",
            "consecutive_failures",
            "last_health",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "ssh_host_key": {
                "required": False,
                "max_length": limits.SECRET_CHARS,
                "help_text": "Pinned at enrollment (proven) or on the first connection the host accepts the "
                "panel's key; give it at creation to be strict from the start. Changed only together with a new "
                "dockerUrl, or by POST/DELETE /api/nodes/:id/host-key.",
            }
        }

    def validate(self, attrs):
        with serializer_errors():
            return clean_node_fields(attrs)  # the admin and the services apply the same checks

    def get_ssh_public_key(self, node) -> str:
        return node_public_key(node)

    def get_servers(self, node) -> list[dict]:
        """From the view's `servers_of` (config.api.renderers.AsIs): one query for every node of the answer, made once."""
        servers_of = self.context.get("servers_of")
        if servers_of is None or node.pk is None:
            return []
        found = self.context.setdefault("servers", {})
        if node.pk not in found:
            nodes = self.root.instance if isinstance(self.root, serializers.ListSerializer) else [node]
            found.update(servers_of([n.pk for n in nodes]))
        return found.get(node.pk, [])


class AllocationSerializer(serializers.ModelSerializer):
    node_id = serializers.UUIDField(read_only=True)
    server_id = serializers.SerializerMethodField()

    class Meta:
        model = Allocation
        fields = ["id", "node_id", "ip", "port", "alias", "notes", "server_id", "created_at"]
        read_only_fields = ["id", "node_id", "ip", "port", "created_at"]

    def get_server_id(self, allocation) -> str | None:
        server_id = getattr(allocation, "server_id", None)
        return str(server_id) if server_id else None


class AllocationCreateSerializer(serializers.Serializer):
    ip = serializers.CharField(
        max_length=64, help_text="An address or a CIDR range, e.g. 203.0.113.10 or 203.0.113.0/28."
    )
    ports = serializers.JSONField(help_text="'25565', '25565-25665', '25565,25570-25575' or a list of those.")
    alias = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=Allocation._meta.get_field("alias").max_length,
    )
    notes = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=Allocation._meta.get_field("notes").max_length,
    )


class EnrollSerializer(serializers.Serializer):
    host_key = serializers.CharField(max_length=limits.SECRET_CHARS)
    ssh_user = serializers.RegexField(r"^[a-z_][a-z0-9_-]{0,31}$", default="hearth")
    ssh_port = serializers.IntegerField(min_value=1, max_value=65535, default=22)
    hostname = serializers.RegexField(r"^[A-Za-z0-9.\-:\[\]]*$", required=False, allow_blank=True, default="")

    def validate_hostname(self, value):
        try:  # it becomes the node's ssh:// address: the same rule as a hostname staff type in
            return check_host(value) if value else value
        except Invalid as exc:
            raise serializers.ValidationError(str(exc)) from exc


class RepointSerializer(serializers.Serializer):
    docker_url = serializers.CharField(max_length=Node._meta.get_field("docker_url").max_length)
    ssh_host_key = serializers.CharField(
        max_length=limits.SECRET_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text="The new address's host key (checked out of band); the pinned one when omitted.",
    )
    confirm = serializers.CharField(max_length=100, help_text="The node's name, to confirm.")


class HostKeySerializer(serializers.Serializer):
    ssh_host_key = serializers.CharField(
        max_length=limits.SECRET_CHARS, help_text="The key to pin; the node must present it at its address."
    )
