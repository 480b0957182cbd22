"""The liveness endpoint and the /api/ catch-all (the admin's health report: nodes/api/health.py)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers
from rest_framework.views import APIView

from config.api.responses import ok
from config.api.throttling import HealthRateThrottle


class HealthView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [HealthRateThrottle]

    @extend_schema(
        responses=inline_serializer(
            "Health", {"status": serializers.CharField(), "time": serializers.DateTimeField()}
        ),
        tags=["health"],
        auth=[],
    )
    def get(self, request):
        """Liveness of the web process; touches neither the database nor the nodes."""
        from django.utils import timezone

        return ok({"status": "ok", "time": timezone.now()})


@extend_schema(exclude=True)
class NotFoundView(APIView):
    """Unknown /api/ paths answer the JSON 404 (after authentication and rate limiting, like any call)."""

    permission_classes = [permissions.AllowAny]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound(f"No API endpoint at {request.path}")
