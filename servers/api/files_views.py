"""The file manager's API (contract "File Management", and ours in its style: content, rename, copy,
chmod). Each view checks access (servers.files.access: 404, 403, 423, 409), reads its input and calls
one service of servers.files; uploads, downloads, archives and pulls have their own modules."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.views import APIView

from config.api.parsers import JSONParser
from config.api.responses import ok
from config.errors import InvalidInput
from servers.api import files_serializers as fs
from servers.files import operations, service
from servers.files.access import files_server

PATH = OpenApiParameter("path", str, description="From the server's root, e.g. /world/level.dat")
LIST_PATH = OpenApiParameter("path", str, description='The directory (default "/")')


class _RoomyJSONParser(JSONParser):
    def body_cap(self) -> int | None:
        return max(2 * settings.FILES_EDITOR_MAX_BYTES + 64 * 1024, super().body_cap() or 0)


class EditorJSONParser(BaseParser):
    """The API's JSON parser with room for the editor's content: FILES_EDITOR_MAX_BYTES of text, JSON-
    escaped, may be more than the API's usual body limit (the service refuses content over the editor's
    limit itself, 413). Not a DRF JSONParser: DRF reads those through request.body, which Django caps
    at DATA_UPLOAD_MAX_MEMORY_SIZE; this one reads the stream, bounded by its own cap."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return _RoomyJSONParser().parse(stream, media_type, parser_context)


def message_answer(name: str, **fields):
    return inline_serializer(name, {"message": serializers.CharField(), **fields})


def query_path(request, *, default: str | None = None) -> str:
    path = request.query_params.get("path", default)
    if path is None:
        raise InvalidInput({"path": "path is required, e.g. ?path=/server.properties"})
    return path


def body(request, serializer_class) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class FilesView(APIView):
    """A directory's listing (GET) and deleting a file or directory (DELETE, recursive)."""

    @extend_schema(tags=["files"], parameters=[LIST_PATH], responses=fs.FileEntrySerializer(many=True))
    def get(self, request, server_id):
        """Directories first, then files, by name; symlinks flagged (isSymlink), never followed out."""
        server = files_server(request.user, server_id, "file.read")
        return ok(service.files_list(server=server, path=query_path(request, default="/")))

    @extend_schema(tags=["files"], parameters=[PATH], responses=message_answer("FileDeleted"))
    def delete(self, request, server_id):
        """Recursive for a directory; a symlink is removed, never what it points to."""
        server = files_server(request.user, server_id, "file.delete")
        service.file_delete(server=server, actor=request.user, path=query_path(request), request=request)
        return ok(message="File deleted successfully")


class FileCreateView(APIView):
    parser_classes = [EditorJSONParser]

    @extend_schema(tags=["files"], request=fs.FileCreateSerializer, responses=message_answer("FileCreated"))
    def post(self, request, server_id):
        """A new file (with content) or directory; missing parent directories are made. 409 if it exists."""
        server = files_server(request.user, server_id, "file.write")
        fields = body(request, fs.FileCreateSerializer)
        made = service.file_create(server=server, actor=request.user, request=request, **fields)
        kind = "Directory" if made["is_directory"] else "File"
        return ok(made, message=f"{kind} created successfully")


class FileContentView(APIView):
    """A file's text for the editor (GET) and saving it (PUT), up to FILES_EDITOR_MAX_BYTES."""

    parser_classes = [EditorJSONParser]

    @extend_schema(tags=["files"], parameters=[PATH], responses=fs.FileContentAnswer)
    def get(self, request, server_id):
        """UTF-8 text of a regular file: 413 over the editor's limit, 400 for binary or non-regular files."""
        server = files_server(request.user, server_id, "file.read")
        return ok(service.file_read_text(server=server, path=query_path(request)))

    @extend_schema(
        tags=["files"],
        parameters=[PATH],
        request=fs.FileContentSerializer,
        responses=message_answer("FileSaved"),
    )
    def put(self, request, server_id):
        """Replace the file's content at once (never half-written), keeping its mode; creates it if missing."""
        server = files_server(request.user, server_id, "file.write")
        content = body(request, fs.FileContentSerializer)["content"]
        saved = service.file_write_text(
            server=server, actor=request.user, path=query_path(request), content=content, request=request
        )
        return ok(saved, message="File saved successfully")


class FileRenameView(APIView):
    @extend_schema(tags=["files"], request=fs.FileMoveSerializer, responses=message_answer("FileRenamed"))
    def post(self, request, server_id):
        """Rename or move `from` to `to` (the new path); 409 when `to` exists, 400 moving a directory into itself."""
        server = files_server(request.user, server_id, "file.write")
        fields = body(request, fs.FileMoveSerializer)
        moved = operations.file_rename(
            server=server, actor=request.user, source=fields["from"], target=fields["to"], request=request
        )
        return ok(moved, message="File renamed successfully")


class FileCopyView(APIView):
    @extend_schema(tags=["files"], request=fs.FileMoveSerializer, responses=message_answer("FileCopied"))
    def post(self, request, server_id):
        """Copy `from` to `to` (directories recursively, symlinks as links); counted against the disk limit."""
        server = files_server(request.user, server_id, "file.write")
        fields = body(request, fs.FileMoveSerializer)
        copied = operations.file_copy(
            server=server, actor=request.user, source=fields["from"], target=fields["to"], request=request
        )
        return ok(copied, message="File copied successfully")


class FileChmodView(APIView):
    @extend_schema(tags=["files"], request=fs.FileChmodSerializer, responses=message_answer("FileChmodded"))
    def post(self, request, server_id):
        """Set permission bits ("755"); symlinks, setuid, setgid and sticky are refused."""
        server = files_server(request.user, server_id, "file.write")
        fields = body(request, fs.FileChmodSerializer)
        changed = service.file_chmod(server=server, actor=request.user, request=request, **fields)
        return ok(changed, message="Permissions changed successfully")
