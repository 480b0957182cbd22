from django.urls import path
from rest_framework.routers import SimpleRouter

from servers.api import admin_views, files_archive_views, files_transfer_views, files_views, plan_views, views

router = SimpleRouter(trailing_slash=False)
router.register("servers", views.ServerViewSet, basename="server")

urlpatterns = [
    path("admin/stats", admin_views.AdminStatsView.as_view(), name="admin-stats"),
    path("admin/servers", admin_views.AdminServerListView.as_view(), name="admin-servers"),
    path("servers/<uuid:server_id>/upgrade", plan_views.ServerUpgradeView.as_view(), name="server-upgrade"),
    path("servers/<uuid:server_id>/extend", plan_views.ServerExtendView.as_view(), name="server-extend"),
    *router.urls,
]

# The file manager (servers/api/files_views.py), its transfers (files_transfer_views.py: upload, download,
# pull) and its archives (files_archive_views.py).
FILES = "servers/<uuid:server_id>/files"
urlpatterns += [
    path(f"{FILES}/upload", files_transfer_views.FileUploadView.as_view(), name="server-files-upload"),
    path(f"{FILES}/download", files_transfer_views.FileDownloadView.as_view(), name="server-files-download"),
    path(f"{FILES}/pull", files_transfer_views.FilePullView.as_view(), name="server-files-pull"),
    path(FILES, files_views.FilesView.as_view(), name="server-files"),
    path(f"{FILES}/create", files_views.FileCreateView.as_view(), name="server-files-create"),
    path(f"{FILES}/content", files_views.FileContentView.as_view(), name="server-files-content"),
    path(f"{FILES}/rename", files_views.FileRenameView.as_view(), name="server-files-rename"),
    path(f"{FILES}/copy", files_views.FileCopyView.as_view(), name="server-files-copy"),
    path(f"{FILES}/chmod", files_views.FileChmodView.as_view(), name="server-files-chmod"),
    path(f"{FILES}/compress", files_archive_views.FilesCompressView.as_view(), name="server-files-compress"),
    path(
        f"{FILES}/decompress",
        files_archive_views.FilesDecompressView.as_view(),
        name="server-files-decompress",
    ),
]
