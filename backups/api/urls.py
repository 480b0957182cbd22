from django.urls import path

from backups.api import views

BACKUPS = "servers/<uuid:server_id>/backups"
ONE = f"{BACKUPS}/<uuid:backup_id>"
urlpatterns = [
    path(BACKUPS, views.BackupListView.as_view(), name="server-backups"),
    path(ONE, views.BackupDetailView.as_view(), name="server-backup"),
    path(f"{ONE}/restore", views.BackupRestoreView.as_view(), name="server-backup-restore"),
    path(f"{ONE}/download", views.BackupDownloadView.as_view(), name="server-backup-download"),
    path(f"{ONE}/lock", views.BackupLockView.as_view(), name="server-backup-lock"),
    path(f"{ONE}/unlock", views.BackupUnlockView.as_view(), name="server-backup-unlock"),
]
