from drf_spectacular.utils import extend_schema
from rest_framework import generics

from accounts.api.permissions import Requires
from accounts.api.serializers import AdminUserSerializer
from accounts.filters import UserFilter
from accounts.models import User


@extend_schema(tags=["admin"])
class AdminUserListView(generics.ListAPIView):
    """Every user with their roles (admin.read)."""

    serializer_class = AdminUserSerializer
    permission_classes = [Requires("admin.read")]
    filterset_class = UserFilter
    queryset = User.objects.prefetch_related("roles").order_by("date_joined")
