"""Staff overview: every server with its owner and node, and the panel's totals (`admin.read`)."""

from django.db.models import Count, Q, Sum
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.views import APIView

from accounts.api.permissions import Requires
from accounts.models import User
from config.api.responses import ok
from nodes.models import Node
from servers.filters import AdminServerFilter
from servers.models import Server


class AdminServerSerializer(serializers.ModelSerializer):
    """The contract's admin list shape, plus the limits staff compare servers by."""

    owner = serializers.SerializerMethodField()
    node = serializers.SerializerMethodField()

    class Meta:
        model = Server
        fields = [
            "id",
            "name",
            "owner",
            "node",
            "status",
            "allocated_memory_mb",
            "allocated_swap_mb",
            "allocated_cpu_cores",
            "allocated_disk_mb",
            "cpu_usage",
            "memory_usage_mb",
            "disk_usage_mb",
            "suspended_at",
            "created_at",
        ]

    def get_owner(self, server) -> dict:
        return {"id": str(server.owner_id), "username": server.owner.username, "email": server.owner.email}

    def get_node(self, server) -> dict:
        return {"id": str(server.node_id), "name": server.node.name}


@extend_schema(tags=["admin"])
class AdminServerListView(generics.ListAPIView):
    """Every server, whoever owns it; filter by nodeId, ownerId, status or search."""

    serializer_class = AdminServerSerializer
    permission_classes = [Requires("admin.read")]
    filterset_class = AdminServerFilter
    # The columns it answers with, its owner's and node's included, in one query a page.
    queryset = (
        Server.objects.select_related("owner", "node")
        .only(
            *[name for name in AdminServerSerializer.Meta.fields if name not in ("owner", "node")],
            "owner_id",
            "node_id",
            "owner__username",
            "owner__email",
            "node__name",
        )
        .order_by("name", "pk")
    )


class StatsSerializer(serializers.Serializer):
    total_servers = serializers.IntegerField()
    running_servers = serializers.IntegerField()
    total_nodes = serializers.IntegerField()
    online_nodes = serializers.IntegerField()
    total_users = serializers.IntegerField()
    total_memory_mb = serializers.IntegerField()
    used_memory_mb = serializers.IntegerField(help_text="Allocated to servers (memory, without swap).")
    total_cpu_cores = serializers.DecimalField(max_digits=10, decimal_places=2)
    used_cpu_cores = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="Allocated.")


@extend_schema(tags=["admin"])
class AdminStatsView(APIView):
    permission_classes = [Requires("admin.read")]

    @extend_schema(responses=StatsSerializer)
    def get(self, request):
        """Counts and capacity: nodes' total memory and CPU against what servers are allocated."""
        servers = Server.objects.aggregate(
            total=Count("pk"),
            running=Count("pk", filter=Q(status=Server.Status.RUNNING)),
            memory=Sum("allocated_memory_mb"),
            cpu=Sum("allocated_cpu_cores"),
        )
        nodes = Node.objects.aggregate(
            total=Count("pk"),
            online=Count("pk", filter=Q(is_online=True)),
            memory=Sum("max_memory_mb"),
            cpu=Sum("max_cpu_cores"),
        )
        stats = {
            "total_servers": servers["total"],
            "running_servers": servers["running"],
            "total_nodes": nodes["total"],
            "online_nodes": nodes["online"],
            "total_users": User.objects.count(),
            "total_memory_mb": nodes["memory"] or 0,
            "used_memory_mb": servers["memory"] or 0,
            "total_cpu_cores": nodes["cpu"] or 0,
            "used_cpu_cores": servers["cpu"] or 0,
        }
        return ok(StatsSerializer(stats).data)
