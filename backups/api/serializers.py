"""The backup's JSON (camelCased by the renderer) and the create body."""

from rest_framework import serializers

from backups.models import Backup
from servers.api.serializers import StrictSerializer


class CreatorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()


class BackupSerializer(serializers.ModelSerializer):
    server_id = serializers.UUIDField(read_only=True)
    size_mb = serializers.IntegerField(read_only=True)
    created_by = CreatorSerializer(read_only=True, allow_null=True)
    job_id = serializers.UUIDField(read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Backup
        fields = [
            "id",
            "server_id",
            "name",
            "size_mb",
            "size_bytes",
            "checksum",
            "status",
            "storage",
            "compression",
            "locked",
            "ignore",
            "error",
            "scheduled",
            "created_by",
            "job_id",
            "progress",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields

    def get_progress(self, backup: Backup) -> int:
        """The job's percent while the backup is being made; 100 once it ended."""
        if backup.status in (Backup.Status.COMPLETED, Backup.Status.FAILED):
            return 100
        return backup.job.progress if backup.job_id and backup.job else 0


class BackupCreateSerializer(StrictSerializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, trim_whitespace=True)
    ignore = serializers.ListField(
        child=serializers.CharField(max_length=255, trim_whitespace=False),
        required=False,
        max_length=100,
        help_text='Patterns left out (tar --exclude style), e.g. ["logs/", "*.tmp"]; also read from '
        "the server's .hearthignore.",
    )
    compression = serializers.ChoiceField(choices=Backup.Compression.choices, required=False)
