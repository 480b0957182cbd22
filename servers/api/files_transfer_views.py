"""Upload, download and pull-from-URL of a server's files (servers/files/transfer.py, pull.py)."""

from django.http import QueryDict, StreamingHttpResponse
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from config.api.responses import ok
from config.errors import InvalidInput
from servers.files.access import files_server
from servers.files.pull import server_files_pull
from servers.files.transfer import attachment, download_open, upload_files

UPLOAD_BODY = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Target directory (before the files), default /"},
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
        "required": ["file"],
    }
}


@extend_schema(tags=["files"])
class FileUploadView(APIView):
    """Upload one or more files (multipart/form-data: `path`, then `file` parts) into a directory.

    Under ASGI (daphne, uvicorn) this view is reached through servers/files/upload_asgi.py, which shadows
    the route so that Django never reads the body first: it runs this same view with a body that is fed
    from the ASGI receive loop as the view reads it. Elsewhere (the test client) the view reads the
    request's own stream. Either way no parser ever sees the body: it is read part by part, a file's
    bytes streamed to the node as they arrive."""

    parser_classes: list = []

    def initialize_request(self, request, *args, **kwargs):
        request = super().initialize_request(request, *args, **kwargs)
        # An empty form for whoever asks (CSRF's check reads request.POST): the body stays unread.
        request._data, request._files = QueryDict(), MultiValueDict()
        request._full_data = request._data
        return request

    @extend_schema(
        operation_id="servers_files_upload",
        request=UPLOAD_BODY,
        responses=inline_serializer(
            "FileUploadResponse",
            {
                "success": serializers.BooleanField(),
                "message": serializers.CharField(),
                "files": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        meta = request._request.META
        written = upload_files(
            server=server,
            request=request,
            read=request._request.read,
            content_type=meta.get("CONTENT_TYPE", ""),
            content_length=meta.get("CONTENT_LENGTH"),
        )
        return ok(message="File uploaded successfully", files=written)


@extend_schema(tags=["files"])
class FileDownloadView(APIView):
    """A regular file's bytes, streamed (an async iterator: under ASGI a sync one is read whole)."""

    def perform_content_negotiation(self, request, force=False):
        # The file is sent as it is, whatever Accept says; only an error is rendered (as JSON).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="servers_files_download",
        parameters=[OpenApiParameter("path", str, required=True, description="The file's path")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, server_id):
        server = files_server(request.user, server_id, "file.read")
        path = request.query_params.get("path")
        if not path:
            raise InvalidInput({"path": "path is required: the file to download, e.g. /server.properties."})
        download = download_open(server, path)
        response = StreamingHttpResponse(download.chunks(), content_type="application/octet-stream")
        response["Content-Length"] = str(download.size)
        response["Content-Disposition"] = attachment(path)
        response["X-Content-Type-Options"] = "nosniff"
        response._resource_closers.append(download.close)  # also when the body is never iterated
        return response


class PullSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=4096)
    path = serializers.CharField(max_length=4096, default="/")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)


@extend_schema(tags=["files"])
class FilePullView(APIView):
    """Fetch a URL into a directory of the server: a job (kind pull) with progress; the URL must be
    public (config/outbound.py), checked now and again at every connection and redirect."""

    @extend_schema(
        operation_id="servers_files_pull",
        request=PullSerializer,
        responses=inline_serializer(
            "FilePullResponse",
            {
                "success": serializers.BooleanField(),
                "jobId": serializers.UUIDField(),
                "path": serializers.CharField(),
            },
        ),
    )
    def post(self, request, server_id):
        server = files_server(request.user, server_id, "file.write")
        body = PullSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = server_files_pull(server=server, actor=request.user, request=request, **body.validated_data)
        return ok(job_id=str(job.pk), path=job.detail["path"])
