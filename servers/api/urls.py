from django.urls import path
from rest_framework.routers import SimpleRouter

from servers.api import admin_views, views

router = SimpleRouter(trailing_slash=False)
router.register("servers", views.ServerViewSet, basename="server")

urlpatterns = [
    path("admin/stats", admin_views.AdminStatsView.as_view(), name="admin-stats"),
    path("admin/servers", admin_views.AdminServerListView.as_view(), name="admin-servers"),
    *router.urls,
]

# Files: archives (helper C).
from servers.api import files_archive_views  # noqa: E402

urlpatterns += [
    path(
        "servers/<uuid:server_id>/files/compress",
        files_archive_views.FilesCompressView.as_view(),
        name="server-files-compress",
    ),
    path(
        "servers/<uuid:server_id>/files/decompress",
        files_archive_views.FilesDecompressView.as_view(),
        name="server-files-decompress",
    ),
]
