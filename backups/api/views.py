"""Backups of a server (contract "Backups", plus download, lock and unlock). Each view checks access
(backups.access: 404 hidden, 403 permission, 423 suspended) and calls one service of backups.services,
which answers 409 for a wrong state and 400 over the limit."""

from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from backups import services
from backups.access import backup_of, backup_server
from backups.api.serializers import BackupCreateSerializer, BackupSerializer
from config.api.responses import ok


def _answer(name: str, **fields):
    return inline_serializer(
        name, {"success": serializers.BooleanField(), "message": serializers.CharField(), **fields}
    )


def _one(request, server_id, backup_id, permission: str):
    server = backup_server(request.user, server_id, permission)
    backup = backup_of(server, backup_id)
    backup.server = server
    return backup


class BackupListView(APIView):
    @extend_schema(tags=["backups"], responses=BackupSerializer(many=True), description="Needs backup.read.")
    def get(self, request, server_id):
        server = backup_server(request.user, server_id, "backup.read")
        backups = server.backups.select_related("created_by", "job")
        return ok(BackupSerializer(backups, many=True).data)

    @extend_schema(
        tags=["backups"],
        request=BackupCreateSerializer,
        responses=_answer(
            "BackupCreated",
            backupName=serializers.CharField(),
            backupId=serializers.UUIDField(),
            jobId=serializers.UUIDField(),
        ),
        description=(
            "Needs backup.create. Queues a backup job (progress on GET …/jobs, the backup's `progress`, "
            "and console lines on the server's WebSocket). A running server is saved first with the "
            "template's backup commands. Over the server's backup limit: 400."
        ),
    )
    def post(self, request, server_id):
        server = backup_server(request.user, server_id, "backup.create")
        body = BackupCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        backup = services.backup_create(
            server=server, actor=request.user, request=request, **body.validated_data
        )
        return ok(
            message="Backup creation started",
            backupName=backup.name,
            backupId=str(backup.pk),
            jobId=str(backup.job_id),
        )


class BackupDetailView(APIView):
    @extend_schema(tags=["backups"], responses=BackupSerializer, description="Needs backup.read.")
    def get(self, request, server_id, backup_id):
        return ok(BackupSerializer(_one(request, server_id, backup_id, "backup.read")).data)

    @extend_schema(
        tags=["backups"],
        responses=_answer("BackupDeleted"),
        description="Needs backup.delete. A locked backup, or one being made or restored: 409.",
    )
    def delete(self, request, server_id, backup_id):
        backup = _one(request, server_id, backup_id, "backup.delete")
        services.backup_delete(backup=backup, actor=request.user, request=request)
        return ok(message="Backup deleted successfully")


class BackupRestoreView(APIView):
    @extend_schema(
        tags=["backups"],
        request=None,
        responses=_answer("BackupRestoreStarted", jobId=serializers.UUIDField()),
        description=(
            "Needs backup.restore. The server must be stopped and the backup completed (409 otherwise). "
            "The archive's checksum is verified before any file is touched; the server's files are "
            "replaced as a whole, and kept as they were if the restore fails."
        ),
    )
    def post(self, request, server_id, backup_id):
        backup = _one(request, server_id, backup_id, "backup.restore")
        job = services.backup_restore(backup=backup, actor=request.user, request=request)
        return ok(message="Backup restoration started", jobId=str(job.pk))


class BackupLockView(APIView):
    locked = True

    @extend_schema(
        tags=["backups"],
        request=None,
        responses=BackupSerializer,
        description="Needs backup.delete (a lock decides whether the backup may be deleted or pruned).",
    )
    def post(self, request, server_id, backup_id):
        backup = _one(request, server_id, backup_id, "backup.delete")
        change = services.backup_lock if self.locked else services.backup_unlock
        backup = change(backup=backup, actor=request.user, request=request)
        return ok(
            BackupSerializer(backup).data, message="Backup locked" if self.locked else "Backup unlocked"
        )


class BackupUnlockView(BackupLockView):
    locked = False


class BackupDownloadView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # The archive is sent as it is, whatever Accept says; only an error is rendered (as JSON).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        tags=["backups"],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="To a short-lived signed link (S3 storage)."),
        },
        description="Needs backup.download. Only a completed backup (409 otherwise).",
    )
    def get(self, request, server_id, backup_id):
        from servers.files.transfer import release_database

        backup = _one(request, server_id, backup_id, "backup.download")
        download = services.backup_download(backup=backup, actor=request.user, request=request)
        if getattr(download, "url", None):
            return HttpResponseRedirect(download.url)
        response = StreamingHttpResponse(download.chunks, content_type="application/octet-stream")
        if getattr(download, "size", None):
            response["Content-Length"] = str(download.size)
        response["Content-Disposition"] = content_disposition_header(True, download.filename)
        response["X-Content-Type-Options"] = "nosniff"
        if hasattr(download.chunks, "close"):
            response._resource_closers.append(download.chunks.close)
        release_database()
        return response
