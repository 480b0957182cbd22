from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api import views as api_views
from config.api.middleware import json_error_view
from nodes.api.health import AdminHealthView
from servers.metrics_view import MetricsView

api_patterns = [
    path("", include("accounts.api.urls")),
    path("", include("templates_app.api.urls")),
    path("", include("nodes.api.urls")),
    path("", include("servers.api.urls")),
    path("", include("backups.api.urls")),
    path("", include("databases.api.urls")),
    path("", include("plans.api.urls")),
    path("", include("schedules.api.urls")),
    path("", include("alerts.api.urls")),
    path("", include("marketplace.api.urls")),
    path("health", api_views.HealthView.as_view(), name="health"),
    path("admin/health", AdminHealthView.as_view(), name="admin-health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    re_path(r"^.*$", api_views.NotFoundView.as_view(), name="api-not-found"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("metrics", MetricsView.as_view(), name="metrics"),  # Prometheus (README "Monitoring")
    path("", include("webui.urls")),
]

handler404 = json_error_view(404)
handler500 = json_error_view(500)
