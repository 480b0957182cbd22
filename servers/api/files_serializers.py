"""Request and answer shapes of the file manager's API (servers/api/files_views.py). Paths are checked by
servers.files.paths in the service (one set of messages for the API, the web UI and the gateway)."""

from rest_framework import serializers

from servers.api.serializers import StrictSerializer


def path_field(**kwargs) -> serializers.CharField:
    # Not trimmed: " a" is a name the customer may have, and the service judges every path.
    return serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=8192, **kwargs)


class FilesStrict(StrictSerializer):
    staff_only = frozenset()  # nothing in a file request is staff's


class FileEntrySerializer(serializers.Serializer):
    """One entry of a listing (symlinks are listed as links, never followed out of the server)."""

    name = serializers.CharField()
    size = serializers.IntegerField()
    is_directory = serializers.BooleanField()
    is_symlink = serializers.BooleanField()
    modified = serializers.CharField(help_text="ISO 8601, UTC")
    mode = serializers.CharField(help_text='Permission bits in octal, e.g. "644"')


class FileCreateSerializer(FilesStrict):
    path = path_field()
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    is_directory = serializers.BooleanField(required=False, default=False)


class FileContentSerializer(FilesStrict):
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class FileContentAnswer(serializers.Serializer):
    path = serializers.CharField()
    content = serializers.CharField()
    size = serializers.IntegerField()
    mode = serializers.CharField()


class FileMoveSerializer(FilesStrict):
    """`from` and `to`: paths from the server's root (`to` names the new path, not a directory to move into)."""

    vars()["from"] = path_field()
    to = path_field()


class FileChmodSerializer(FilesStrict):
    path = path_field()
    mode = serializers.CharField(
        help_text='Octal permission bits: "755", "0644" (no setuid, setgid or sticky)'
    )
