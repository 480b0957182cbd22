"""A user's own API keys: list, create (secret shown once), revoke."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets

from accounts.apikeys import apikey_create, apikey_revoke
from accounts.models import ApiKey
from config import limits
from config.api.responses import created, ok


class ApiKeySerializer(serializers.ModelSerializer):
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        allow_null=True,
        max_length=limits.LIST_ITEMS,
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=limits.LIST_ITEMS
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "permissions",
            "allowed_ips",
            "expires_at",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = ["id", "prefix", "last_used_at", "last_used_ip", "revoked_at", "created_at"]


class CreatedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown only in this response.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


@extend_schema(tags=["api keys"])
class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return ApiKey.objects.filter(user=self.request.user)

    @extend_schema(request=ApiKeySerializer, responses={201: CreatedApiKeySerializer})
    def create(self, request):
        """Create a key; use it as `Authorization: Bearer <key>`.

        Made with an API key, the new key is at most as broad as that key: its permissions, allowed
        addresses and expiry lie within the creating key's (what is omitted is inherited).
        """
        data = ApiKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parent = request.auth if isinstance(request.auth, ApiKey) else None
        key, raw = apikey_create(user=request.user, request=request, parent=parent, **data.validated_data)
        key.key = raw
        return created(
            CreatedApiKeySerializer(key).data, message="Store this key now: it will not be shown again."
        )

    @extend_schema(responses={200: None})
    def destroy(self, request, pk=None):
        """Revoke a key; requests with it fail from now on."""
        apikey_revoke(key=self.get_object(), actor=request.user, request=request)
        return ok(message="API key revoked")
