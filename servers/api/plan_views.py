"""A server's side of plans (`POST /api/servers/:id/upgrade` and `/extend`), for holders of
`server.resources`: staff, or a billing integration's API key."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from accounts.api.permissions import require
from config.api.responses import ok
from plans.models import UpgradeBundle
from servers.api.serializers import ServerDetailSerializer, StrictSerializer
from servers.api.views import server_detail
from servers.lifecycle.plan import server_extend, server_upgrade
from servers.selectors import visible_server


class UpgradeSerializer(StrictSerializer):
    bundle_id = serializers.UUIDField()


class ExtendSerializer(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=36500, required=False)
    expire_at = serializers.DateTimeField(required=False, allow_null=True, help_text="null: never expires.")

    def validate(self, data):
        if ("days" in data) == ("expire_at" in data):
            raise serializers.ValidationError("Send either days or expireAt.")
        return data


def _server(request, server_id):
    server = visible_server(request.user, server_id)
    require(request.user, "server.resources", server)
    return server


class ServerUpgradeView(APIView):
    @extend_schema(
        tags=["plans"],
        request=UpgradeSerializer,
        responses=ServerDetailSerializer,
        description="Needs server.resources. Adds the bundle's amounts to a stopped server (409 otherwise).",
    )
    def post(self, request, server_id):
        server = _server(request, server_id)
        body = UpgradeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        bundle = UpgradeBundle.objects.filter(pk=body.validated_data["bundle_id"]).first()
        if bundle is None:
            raise NotFound("Upgrade bundle not found.")
        server = server_upgrade(server=server, bundle=bundle, actor=request.user, request=request)
        return ok(server_detail(server), message=f"Upgrade {bundle.name} applied")


class ServerExtendView(APIView):
    @extend_schema(
        tags=["plans"],
        request=ExtendSerializer,
        responses=ServerDetailSerializer,
        description=(
            "Needs server.resources. `days` past the current expiry (or now, if that is later), or `expireAt` "
            "(null: never). A server suspended because it expired is unsuspended."
        ),
    )
    def post(self, request, server_id):
        server = _server(request, server_id)
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        server = server_extend(
            server=server,
            actor=request.user,
            request=request,
            days=values.get("days"),
            expire_at=values.get("expire_at"),
            never="expire_at" in values and values["expire_at"] is None,
        )
        return ok(server_detail(server), message="Expiry updated")
