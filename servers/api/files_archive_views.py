"""POST files/compress and files/decompress: each queues a job and waits a little for it.

The contract's compress "answers with archivePath once the archive is written": the endpoint waits
up to WAIT_SECONDS for the job. Done in time: 200 with archivePath and jobId. Failed in time: the
job's error with its status (400 over the disk limit, naming it). Still running: 202 with jobId and
archivePath, and the job goes on (GET /api/servers/:id/jobs, and console lines on the WebSocket,
report its progress). Decompress answers the same way, with targetPath.
"""

import time

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from config.api.responses import ok
from config.errors import DomainError
from servers.api.serializers import StrictSerializer
from servers.files.access import files_server
from servers.files.archives import archive_compress, archive_decompress
from servers.models import Job

WAIT_SECONDS = 10.0
POLL_SECONDS = 0.2


class CompressSerializer(StrictSerializer):
    paths = serializers.ListField(child=serializers.CharField(trim_whitespace=False), allow_empty=False)
    archive_name = serializers.CharField(
        trim_whitespace=False, help_text="One file name, e.g. backup.tar.gz."
    )
    format = serializers.ChoiceField(
        choices=["tar.gz", "zip"], required=False, help_text="Default: from archiveName's extension."
    )
    directory = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="Where the archive goes; default the paths' common parent.",
    )


class DecompressSerializer(StrictSerializer):
    archive_path = serializers.CharField(trim_whitespace=False)
    target_path = serializers.CharField(trim_whitespace=False, help_text="A directory; made if missing.")


def _answer(name: str, fields: dict):
    return inline_serializer(name, {key: serializers.CharField() for key in fields})


def _finished(job: Job) -> Job:
    """The job once it ended, or as it is after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        job.refresh_from_db(fields=["status", "error", "detail"])
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) or time.monotonic() >= deadline:
            return job
        time.sleep(POLL_SECONDS)


def _respond(job: Job, message: str, **fields):
    job = _finished(job)
    if job.status == Job.Status.FAILED:
        error = DomainError(job.error, jobId=str(job.pk))
        error.status = job.detail.get("errorStatus", 400)
        raise error
    if job.status == Job.Status.SUCCEEDED:
        return ok(message=f"{message}: done", jobId=str(job.pk), **fields)
    return ok(message=f"{message}: started", status=202, jobId=str(job.pk), **fields)


class FilesCompressView(APIView):
    @extend_schema(
        tags=["files"],
        request=CompressSerializer,
        responses={
            200: _answer("CompressDone", ["archivePath", "jobId"]),
            202: OpenApiResponse(_answer("CompressStarted", ["archivePath", "jobId"]), "Still compressing."),
        },
        description=(
            "Archive `paths` into `archiveName` (tar.gz or zip). Needs **file.write** (the contract says "
            "file.read, but compressing writes a file). Waits up to 10 s for the archive: 200 when it is "
            "written, 202 while the job goes on. Symlinks are kept in tar.gz and skipped in zip."
        ),
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        body = CompressSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job, archive_path = archive_compress(
            server=server,
            actor=request.user,
            paths=body.validated_data["paths"],
            archive_name=body.validated_data["archive_name"],
            format=body.validated_data.get("format"),
            directory=body.validated_data.get("directory"),
            request=request,
        )
        return _respond(job, "Compressing", archivePath=archive_path)


class FilesDecompressView(APIView):
    @extend_schema(
        tags=["files"],
        request=DecompressSerializer,
        responses={
            200: _answer("DecompressDone", ["targetPath", "jobId"]),
            202: OpenApiResponse(_answer("DecompressStarted", ["targetPath", "jobId"]), "Still extracting."),
        },
        description=(
            "Extract a tar, tar.gz, tar.zst or zip archive into `targetPath`. Needs file.write. Links, "
            "devices and fifos in the archive are skipped; an entry with an absolute path or '..' fails "
            "the whole extraction; nothing half-written is left on failure. Waits up to 10 s: 200 when "
            "done, 202 while the job goes on."
        ),
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        body = DecompressSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = archive_decompress(
            server=server,
            actor=request.user,
            archive_path=body.validated_data["archive_path"],
            target_path=body.validated_data["target_path"],
            request=request,
        )
        return _respond(job, "Extracting", targetPath=job.detail["targetPath"])
