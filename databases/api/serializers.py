"""A server database's JSON as the contract shows it (camelCased by the renderer), the create body, and
the database hosts staff manage."""

import re

from rest_framework import serializers

from config import limits
from databases.models import DatabaseHost, ServerDatabase
from nodes.models import Node
from servers.api.serializers import StrictSerializer

HOSTNAME = re.compile(r"[A-Za-z0-9.:_-]{1,255}")


class DatabaseSerializer(serializers.ModelSerializer):
    """The password is shown to whoever may read the server's databases, as the contract does."""

    password = serializers.CharField(read_only=True)
    host = serializers.CharField(source="host.host", read_only=True)
    port = serializers.IntegerField(source="host.port", read_only=True)
    host_id = serializers.UUIDField(read_only=True)
    host_name = serializers.CharField(source="host.name", read_only=True)
    jdbc = serializers.SerializerMethodField(help_text="A JDBC URL for plugins that ask for one.")

    class Meta:
        model = ServerDatabase
        fields = [
            "id",
            "name",
            "username",
            "password",
            "host",
            "port",
            "host_id",
            "host_name",
            "remote",
            "jdbc",
            "created_at",
        ]
        read_only_fields = fields

    def get_jdbc(self, database) -> str:
        return f"jdbc:mysql://{database.host.host}:{database.host.port}/{database.name}"


class DatabaseCreateSerializer(StrictSerializer):
    name = serializers.CharField(
        max_length=48, help_text="Letters, digits, underscores; the real name is s<server>_<name>."
    )
    host_id = serializers.UUIDField(
        required=False, help_text="Without it: the first host with room that serves the node."
    )
    remote = serializers.CharField(
        max_length=255, default="%", help_text="Where the user may connect from (% for anywhere)."
    )


class DatabaseHostChoiceSerializer(serializers.ModelSerializer):
    """What a customer sees of a host when choosing where a database goes."""

    class Meta:
        model = DatabaseHost
        fields = ["id", "name", "host", "port"]
        read_only_fields = fields


class DatabaseHostSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, max_length=limits.SECRET_CHARS, trim_whitespace=False, help_text="Never returned."
    )
    node_ids = serializers.PrimaryKeyRelatedField(
        source="nodes",
        queryset=Node.objects.all(),
        many=True,
        required=False,
        help_text="The nodes whose servers may use this host; none: every node.",
    )
    database_count = serializers.SerializerMethodField()

    class Meta:
        model = DatabaseHost
        fields = [
            "id",
            "name",
            "host",
            "port",
            "username",
            "password",
            "max_databases",
            "node_ids",
            "database_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}  # a taken name is the service's 409, not a 400

    def get_database_count(self, host) -> int:
        return host.databases.count()

    def validate_host(self, value):
        if not HOSTNAME.fullmatch(value):
            raise serializers.ValidationError("Give a host name or an IP address.")
        return value
