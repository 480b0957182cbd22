from django.urls import path
from rest_framework.routers import SimpleRouter

from servers.api import admin_views, files_transfer_views, files_views, views

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

# The file manager (servers/api/files_views.py).
FILES = "servers/<uuid:server_id>/files"
urlpatterns += [
    path(FILES, files_views.FilesView.as_view(), name="server-files"),
    path(f"{FILES}/create", files_views.FileCreateView.as_view(), name="server-files-create"),
    path(f"{FILES}/content", files_views.FileContentView.as_view(), name="server-files-content"),
    path(f"{FILES}/rename", files_views.FileRenameView.as_view(), name="server-files-rename"),
    path(f"{FILES}/copy", files_views.FileCopyView.as_view(), name="server-files-copy"),
    path(f"{FILES}/chmod", files_views.FileChmodView.as_view(), name="server-files-chmod"),
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
