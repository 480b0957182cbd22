import ipaddress

from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.views import APIView

from accounts.api.admin_views import StaffViewSet
from config.api.renderers import AsIs
from config.api.responses import created, ok
from config.api.throttling import AuthRateThrottle
from config.errors import Unavailable
from nodes import allocations, enrollment, services, trust
from nodes.api import serializers
from nodes.models import Allocation, Location, Node


def _allocations(node: Node, params):
    """A node's allocations, optionally only the free (`assigned=false`) or taken ones, or one address."""
    allocations = Allocation.objects.filter(node=node)
    assigned = params.get("assigned")
    if assigned is not None:
        if assigned not in ("true", "false"):
            raise ValidationError({"assigned": ["Use true or false."]})
        allocations = allocations.filter(server__isnull=assigned == "false")
    if ip := params.get("ip"):
        try:
            allocations = allocations.filter(ip=str(ipaddress.ip_address(ip)))
        except ValueError as exc:  # an inet column compared with garbage is a database error
            raise ValidationError({"ip": [f"'{ip}' is not an IP address."]}) from exc
    return allocations


@extend_schema(tags=["nodes"])
class LocationViewSet(StaffViewSet):
    serializer_class = serializers.LocationSerializer
    queryset = Location.objects.order_by("name")

    def get_permissions(self):
        if self.request.method == "GET":  # customers pick a location when creating a server
            return [permissions.IsAuthenticated()]
        return super().get_permissions()


def servers_of(node_ids) -> dict:
    """node id → its servers' id, name and status (what a node answers with in `servers`, as it is written),
    in one query whatever the count, as tuples rather than models (10,000 servers as model instances took
    0.7 s), the ids as text from PostgreSQL (making 20,000 UUID objects to print them again was 50 ms).
    SQLite keeps a UUID as 32 hex digits, so there the ids are UUIDs, printed here."""
    server_model = Node._meta.get_field("servers").related_model  # nodes never import servers
    ids = ("node_id", "id")
    if connection.vendor == "postgresql":
        ids = (Cast("node_id", TextField()), Cast("id", TextField()))
    rows = (
        server_model.objects.filter(node_id__in=list(node_ids))
        .order_by("name", "id")
        .values_list(*ids, "name", "status")
    )
    found: dict = {node_id: [] for node_id in node_ids}
    by_text = {str(node_id): servers for node_id, servers in found.items()}
    for node_id, pk, name, status in rows:
        by_text[str(node_id)].append({"id": str(pk), "name": name, "status": status})
    return {node_id: AsIs(servers) for node_id, servers in found.items()}


@extend_schema(tags=["nodes"])
class NodeViewSet(StaffViewSet):
    """Nodes are staff-only: customers never see hosts, keys or capacity."""

    serializer_class = serializers.NodeSerializer
    queryset = Node.objects.select_related("location").order_by("name", "id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "servers_of": servers_of}

    def create(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        node, secret = services.node_create(actor=request.user, request=request, **data.validated_data)
        return created(
            {**serializers.NodeSerializer(node).data, "secret": secret},
            message="Store the secret now: it is shown only once.",
        )

    def update(self, request, pk=None, partial=True):
        """PUT and PATCH alike take only the fields to change, as the contract's example body does."""
        node = self.get_object()
        data = self.get_serializer(node, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        node = services.node_update(node=node, actor=request.user, request=request, **data.validated_data)
        return ok(serializers.NodeSerializer(node).data)

    def destroy(self, request, pk=None):
        services.node_delete(node=self.get_object(), actor=request.user, request=request)
        return ok()

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(description="The health report"),
            503: OpenApiResponse(description="Unreachable, with the reason"),
        },
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Check the node now (ping, engine, CPU, memory, disk) and store the report."""
        report = services.node_test(node=self.get_object(), actor=request.user, request=request)
        if not report["ok"]:
            raise Unavailable(report["error"])
        return ok(report, message="Node is reachable")

    @extend_schema(
        request=None,
        responses={200: OpenApiResponse(description="deploymentToken, secret, deployUrl, expiresAt")},
    )
    @action(detail=True, methods=["post"], url_path="deployment-token")
    def deployment_token(self, request, pk=None):
        """A single-use link to a script that enrolls a fresh Debian/Ubuntu host as this node (only one
        waiting to enrol; older links are revoked)."""
        link = enrollment.deployment_token_create(node=self.get_object(), actor=request.user, request=request)
        message = None
        if link["deploy_url"].startswith("http://"):
            message = (
                "HEARTH_PUBLIC_URL is plain HTTP: the link, the script (run as root) and its callback travel "
                "unencrypted and can be read or altered on the way. See the README's node trust model."
            )
        return ok(link, message=message)

    @extend_schema(
        request=serializers.RepointSerializer,
        responses={200: serializers.NodeSerializer, 400: None, 409: None, 503: None},
    )
    @action(detail=True, methods=["post"])
    def repoint(self, request, pk=None):
        """Move the node, servers and all, to another address: `confirm` is the node's name, and the host
        there must present `sshHostKey` (the pinned key by default) and accept the panel's key."""
        node = self.get_object()
        data = serializers.RepointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node = trust.node_repoint(node=node, actor=request.user, request=request, **data.validated_data)
        return ok(serializers.NodeSerializer(node).data, message=f"Node re-pointed to {node.docker_url}")

    @extend_schema(
        request=serializers.HostKeySerializer,
        responses={200: serializers.NodeSerializer, 400: None, 409: None, 503: None},
    )
    @action(detail=True, methods=["post", "delete"], url_path="host-key")
    def host_key(self, request, pk=None):
        """POST pins another host key once the node has presented it; DELETE forgets the pinned key (the
        next connection pins what it is shown, as `ssh-keygen -R`)."""
        node = self.get_object()
        if request.method == "DELETE":
            node = trust.node_host_key_forget(node=node, actor=request.user, request=request)
            return ok(serializers.NodeSerializer(node).data, message="Host key forgotten")
        data = serializers.HostKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node = trust.node_host_key_replace(
            node=node, actor=request.user, request=request, **data.validated_data
        )
        return ok(serializers.NodeSerializer(node).data, message="Host key replaced")

    @extend_schema(
        request=serializers.AllocationCreateSerializer,
        responses=serializers.AllocationSerializer(many=True),
        parameters=[
            OpenApiParameter("assigned", bool, description="GET: only taken (true) or free (false) ones"),
            OpenApiParameter("ip", str, description="GET: only this address"),
        ],
    )
    @action(detail=True, methods=["get", "post"])
    def allocations(self, request, pk=None):
        """List the node's allocations, or create many from an IP/CIDR and port ranges (at most 1000)."""
        node = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(_allocations(node, request.query_params).order_by("ip", "port"))
            return self.get_paginated_response(serializers.AllocationSerializer(page, many=True).data)
        data = serializers.AllocationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made, skipped = allocations.allocations_create(
            node=node, actor=request.user, request=request, **data.validated_data
        )
        return created({"created": made, "skipped": skipped})

    @extend_schema(request=None, responses={200: None})
    @action(detail=True, methods=["delete"], url_path=r"allocations/(?P<allocation_id>[0-9a-f-]{36})")
    def delete_allocation(self, request, pk=None, allocation_id=None):
        node = self.get_object()
        allocation = Allocation.objects.filter(node=node, pk=allocation_id).first()
        if allocation is None:
            raise NotFound("No such allocation on this node.")
        allocations.allocation_delete(allocation=allocation, actor=request.user, request=request)
        return ok(message="Allocation deleted")


class DeployScriptView(APIView):
    """The enrollment script behind a deployment token (public: the token is the credential)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(tags=["nodes"], auth=[], responses={(200, "text/x-shellscript"): str})
    def get(self, request, token):
        return HttpResponse(enrollment.deploy_script(token), content_type="text/x-shellscript; charset=utf-8")


class DeployCompleteView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=["nodes"],
        auth=[],
        request=serializers.EnrollSerializer,
        responses={200: OpenApiResponse(description="The enrolled node's status")},
    )
    def post(self, request, token):
        """Called by the script: spends the token, connects to the node's hostname at the reported port and
        user, and pins the reported host key only if that host presented it."""
        data = serializers.EnrollSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node = enrollment.node_enroll(raw_token=token, **data.validated_data)
        message = (
            "Node enrolled and online"
            if node.is_online
            else (
                f"Node enrolled, but the panel cannot connect yet: {node.last_health.get('error', 'unknown error')}"
            )
        )
        return ok({"nodeId": str(node.pk), "isOnline": node.is_online}, message=message)
