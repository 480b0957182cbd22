from django.urls import path
from rest_framework.routers import SimpleRouter

from servers.api import admin_views, files_transfer_views, views

router = SimpleRouter(trailing_slash=False)
router.register("servers", views.ServerViewSet, basename="server")

urlpatterns = [
    path("admin/stats", admin_views.AdminStatsView.as_view(), name="admin-stats"),
    path("admin/servers", admin_views.AdminServerListView.as_view(), name="admin-servers"),
    *router.urls,
    # files: upload, download, pull (servers/api/files_transfer_views.py)
    path(
        "servers/<uuid:server_id>/files/upload",
        files_transfer_views.FileUploadView.as_view(),
        name="server-files-upload",
    ),
    path(
        "servers/<uuid:server_id>/files/download",
        files_transfer_views.FileDownloadView.as_view(),
        name="server-files-download",
    ),
    path(
        "servers/<uuid:server_id>/files/pull",
        files_transfer_views.FilePullView.as_view(),
        name="server-files-pull",
    ),
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
