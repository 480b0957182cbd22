"""A server's databases (contract "List Databases" … "Delete Database") and the database hosts staff
manage (/api/admin/database-hosts). Each server view checks access (404 hidden, 403 permission, 423
suspended) and calls one service, which answers 400 over a limit, 409 for a taken name and 503 when the
host is unavailable."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.views import APIView

from accounts.api.admin_views import StaffViewSet
from config.api.responses import created, ok
from databases import hosts, services
from databases.api.serializers import (
    DatabaseCreateSerializer,
    DatabaseHostChoiceSerializer,
    DatabaseHostSerializer,
    DatabaseSerializer,
)
from databases.models import DatabaseHost, ServerDatabase


def _one(request, server_id, database_id, permission: str) -> ServerDatabase:
    server = services.database_server(request.user, server_id, permission)
    return services.database_of(server, database_id)


class DatabaseListView(APIView):
    @extend_schema(
        tags=["databases"], responses=DatabaseSerializer(many=True), description="Needs database.read."
    )
    def get(self, request, server_id):
        server = services.database_server(request.user, server_id, "database.read")
        return ok(DatabaseSerializer(server.databases.select_related("host"), many=True).data)

    @extend_schema(
        tags=["databases"],
        request=DatabaseCreateSerializer,
        responses={201: DatabaseSerializer},
        description=(
            "Needs database.create. Over the server's database limit or the host's maximum: 400; the name "
            "taken on the host: 409; the host unavailable: 503 (and nothing is left made)."
        ),
    )
    def post(self, request, server_id):
        server = services.database_server(request.user, server_id, "database.create")
        body = DatabaseCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        database = services.database_create(
            server=server, actor=request.user, request=request, **body.validated_data
        )
        return created(DatabaseSerializer(database).data)


class DatabaseHostChoicesView(APIView):
    @extend_schema(
        tags=["databases"],
        responses=DatabaseHostChoiceSerializer(many=True),
        description="Needs database.create: the hosts this server's databases may go on.",
    )
    def get(self, request, server_id):
        server = services.database_server(request.user, server_id, "database.create")
        return ok(
            DatabaseHostChoiceSerializer(
                services.hosts_for(server).distinct().order_by("name"), many=True
            ).data
        )


class DatabaseRotateView(APIView):
    @extend_schema(
        tags=["databases"],
        request=None,
        responses=DatabaseSerializer,
        description="Needs database.rotate. The host unavailable: 503, and the old password still works.",
    )
    def post(self, request, server_id, database_id):
        database = _one(request, server_id, database_id, "database.rotate")
        database = services.database_rotate(database=database, actor=request.user, request=request)
        return ok(DatabaseSerializer(database).data)


class DatabaseDetailView(APIView):
    @extend_schema(
        tags=["databases"],
        responses={200: OpenApiResponse(description="Dropped")},
        description="Needs database.delete. Drops the database and its user; the host unavailable: 503, both kept.",
    )
    def delete(self, request, server_id, database_id):
        database = _one(request, server_id, database_id, "database.delete")
        services.database_delete(database=database, actor=request.user, request=request)
        return ok()


@extend_schema(tags=["databases"])
class DatabaseHostViewSet(StaffViewSet):
    """MySQL/MariaDB hosts: reads need admin.read, changes admin.write. A host is saved only once the panel
    could log in to it (503 with the reason otherwise); one that still has databases cannot be deleted
    (409)."""

    serializer_class = DatabaseHostSerializer
    queryset = DatabaseHost.objects.prefetch_related("nodes").order_by("name")

    def create(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        host = hosts.host_create(actor=request.user, request=request, **data.validated_data)
        return created(DatabaseHostSerializer(host).data)

    def update(self, request, pk=None, partial=True):
        host = self.get_object()
        data = self.get_serializer(host, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        host = hosts.host_update(host=host, actor=request.user, request=request, **data.validated_data)
        return ok(DatabaseHostSerializer(host).data)

    def destroy(self, request, pk=None):
        hosts.host_delete(host=self.get_object(), actor=request.user, request=request)
        return ok()

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The host's version")})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        version = hosts.host_test(host=self.get_object(), actor=request.user, request=request)
        return ok({"version": version}, message="The panel logged in to the host.")
