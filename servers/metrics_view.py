"""GET /metrics: the Prometheus text format (README "Monitoring"). Here, not in config/, because the
scrape-time series are the servers' and nodes' (config stands below every app).

What the processes recorded (config/metrics.py) is summed from the multiprocess directory; what the
database knows (servers by status and node, node health and capacity) is read at scrape time by
`DatabaseCollector` in two aggregate queries and one over the nodes, whatever the number of servers.

Who may scrape: `Authorization: Bearer <token>` where the token is settings.METRICS_SCRAPE_TOKEN
(compared in constant time; an empty setting turns it off), or a staff JWT or API key holding
`admin.read` (the API's own authentication). No credentials, or bad ones: 401; a person or key
without `admin.read`: 403. Neither answer carries any metric.
"""

import hmac

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Sum
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework import permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.views import APIView

from accounts.apikeys import ApiKeyAuthentication
from accounts.authentication import JWTAuthentication
from accounts.permissions import can

SCRAPER = object()  # request.auth when the scrape token was presented


class ScrapeTokenAuthentication(BaseAuthentication):
    """The scrape token from the settings; any other bearer token is left to the API's authentication."""

    def authenticate(self, request):
        expected = settings.METRICS_SCRAPE_TOKEN
        parts = get_authorization_header(request).split()
        if not expected or len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        if hmac.compare_digest(parts[1], expected.encode()):
            return AnonymousUser(), SCRAPER
        return None

    def authenticate_header(self, request):
        return 'Bearer realm="metrics"'


class ScrapeTokenOrAdminRead(permissions.BasePermission):
    message = "You do not have permission to perform this action (requires admin.read or the scrape token)"

    def has_permission(self, request, view):
        if request.auth is SCRAPER:
            return True
        return bool(request.user and request.user.is_authenticated and can(request.user, "admin.read"))


def _ratio(used, total) -> float | None:
    return float(used) / float(total) if total else None


class DatabaseCollector:
    """Servers and nodes as the database has them now."""

    def collect(self):
        from nodes.models import Node
        from servers.models import Server

        servers = GaugeMetricFamily(
            "hearth_servers", "Servers by status and node id.", labels=["status", "node"]
        )
        up = GaugeMetricFamily("hearth_node_up", "1 when the node's health checks pass.", labels=["node"])
        info = GaugeMetricFamily(
            "hearth_node_info", "A node's name, to join on its id.", labels=["node", "name"]
        )
        capacity = GaugeMetricFamily(
            "hearth_node_capacity_used_ratio",
            "Allocated to servers / the node's maximum (memory, cpu, disk; no series when unlimited).",
            labels=["node", "resource"],
        )
        host = GaugeMetricFamily(
            "hearth_node_host_used_ratio",
            "The node host's own usage at its last successful health check (memory, disk, cpu).",
            labels=["node", "resource"],
        )
        counts = {
            (row["node_id"], row["status"]): row["n"]
            for row in Server.objects.order_by().values("node_id", "status").annotate(n=Count("id"))
        }
        allocated = {
            row["node_id"]: row
            for row in Server.objects.order_by()
            .values("node_id")
            .annotate(
                memory=Sum("allocated_memory_mb"),
                cpu=Sum("allocated_cpu_cores"),
                disk=Sum("allocated_disk_mb"),
            )
        }
        fields = ("id", "name", "is_online", "max_memory_mb", "max_cpu_cores", "max_disk_mb", "last_health")
        for node in Node.objects.order_by("name").only(*fields):
            node_id = str(node.pk)
            up.add_metric([node_id], 1.0 if node.is_online else 0.0)
            info.add_metric([node_id, node.name], 1.0)
            for status in Server.Status.values:
                servers.add_metric([status, node_id], float(counts.get((node.pk, status), 0)))
            row = allocated.get(node.pk, {})
            for resource, used, total in (
                ("memory", row.get("memory") or 0, node.max_memory_mb),
                ("cpu", row.get("cpu") or 0, node.max_cpu_cores),
                ("disk", row.get("disk") or 0, node.max_disk_mb),
            ):
                if (value := _ratio(used, total)) is not None:
                    capacity.add_metric([node_id, resource], value)
            report = node.last_health or {}
            if report.get("ok"):
                for resource, value in (
                    ("memory", _ratio(report.get("memory_used_mb", 0), report.get("memory_total_mb"))),
                    ("disk", _ratio(report.get("disk_used_mb", 0), report.get("disk_total_mb"))),
                    ("cpu", _ratio(report.get("cpu_percent", 0), 100)),
                ):
                    if value is not None:
                        host.add_metric([node_id, resource], value)
        yield from (servers, up, info, capacity, host)


class MetricsView(APIView):
    authentication_classes = [ScrapeTokenAuthentication, ApiKeyAuthentication, JWTAuthentication]
    permission_classes = [ScrapeTokenOrAdminRead]
    schema = None  # not part of the JSON API

    def get(self, request):
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
        registry.register(DatabaseCollector())
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
