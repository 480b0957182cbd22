"""Staff endpoints: users, roles and the audit log."""

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, viewsets

from accounts import staff
from accounts.api.permissions import Requires
from accounts.api.serializers import AdminUserSerializer
from accounts.filters import AuditLogFilter, UserFilter
from accounts.models import AuditLog, Role, User
from accounts.permissions import CATALOGUE
from config import limits
from config.api.pagination import PagePagination
from config.api.responses import created, ok


class StaffViewSet(viewsets.ModelViewSet):
    """Reads need admin.read, writes admin.write."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def get_permissions(self):
        needed = "admin.read" if self.request.method == "GET" else "admin.write"
        return [Requires(needed)()]


class RoleSerializer(serializers.ModelSerializer):
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=limits.LIST_ITEMS,
        help_text=f"From the catalogue, or `resource.*`, or `*`: {', '.join(CATALOGUE)}",
    )
    user_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Role
        fields = [
            "id",
            "name",
            "description",
            "permissions",
            "requires_two_factor",
            "user_count",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


@extend_schema(tags=["roles"])
class RoleViewSet(StaffViewSet):
    serializer_class = RoleSerializer
    queryset = Role.objects.annotate(user_count=Count("users")).order_by("name")

    def create(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = staff.role_create(actor=request.user, request=request, **data.validated_data)
        return created(RoleSerializer(self.get_queryset().get(pk=role.pk)).data)

    def update(self, request, pk=None, partial=False):
        role = self.get_object()
        data = self.get_serializer(role, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        staff.role_update(actor=request.user, role=role, request=request, **data.validated_data)
        return ok(RoleSerializer(self.get_queryset().get(pk=role.pk)).data)

    def destroy(self, request, pk=None):
        staff.role_delete(actor=request.user, role=self.get_object(), request=request)
        return ok(message="Role deleted")


class AdminUserWriteSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, max_length=limits.PASSWORD_CHARS
    )
    role_ids = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Role.objects.all(), source="roles", required=False, write_only=True
    )

    class Meta:
        model = User
        fields = ["email", "username", "password", "is_active", "role_ids"]


@extend_schema(tags=["admin"])
class AdminUserViewSet(StaffViewSet):
    """Every user with their roles; create, edit (roles, password, active), delete."""

    filterset_class = UserFilter
    queryset = User.objects.prefetch_related("roles").order_by("date_joined")

    def get_serializer_class(self):
        return AdminUserSerializer if self.request.method == "GET" else AdminUserWriteSerializer

    @extend_schema(responses={201: AdminUserSerializer})
    def create(self, request):
        data = AdminUserWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if "password" not in fields:
            raise serializers.ValidationError({"password": ["This field is required."]})
        user = staff.user_create(
            actor=request.user,
            request=request,
            email=fields["email"],
            username=fields["username"],
            password=fields["password"],
            roles=fields.get("roles", []),
        )
        return created(AdminUserSerializer(user).data)

    @extend_schema(responses={200: AdminUserSerializer})
    def update(self, request, pk=None, partial=False):
        user = self.get_object()
        data = AdminUserWriteSerializer(user, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        user = staff.user_update(actor=request.user, user=user, request=request, **data.validated_data)
        return ok(AdminUserSerializer(User.objects.prefetch_related("roles").get(pk=user.pk)).data)

    def destroy(self, request, pk=None):
        staff.user_delete(actor=request.user, user=self.get_object(), request=request)
        return ok(message="User deleted")


class AuditLogSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = AuditLog
        fields = [
            "id",
            "user_id",
            "username",
            "action",
            "resource_type",
            "resource_id",
            "metadata",
            "ip_address",
            "created_at",
        ]


class AuditLogPagination(PagePagination):
    page_size = 100  # the contract's default for audit logs


@extend_schema(tags=["admin"])
class AuditLogListView(generics.ListAPIView):
    """The audit trail, newest first; filter by userId, action, resourceType, resourceId, from, to."""

    serializer_class = AuditLogSerializer
    permission_classes = [Requires("admin.read")]
    filterset_class = AuditLogFilter
    pagination_class = AuditLogPagination
    queryset = AuditLog.objects.order_by("-created_at", "-id")  # the index audit_newest_first
