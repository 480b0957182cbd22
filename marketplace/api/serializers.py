"""The marketplace API's inputs (answers are plain dicts built by the services, camelCased by the renderer)."""

from rest_framework import serializers

from marketplace.sources import SOURCES


class SearchParams(serializers.Serializer):
    query = serializers.CharField(required=False, allow_blank=True, max_length=200)
    source = serializers.ChoiceField(choices=list(SOURCES), required=False, allow_blank=True)
    type = serializers.CharField(required=False, allow_blank=True, max_length=16)
    loader = serializers.CharField(required=False, allow_blank=True, max_length=16)
    game_version = serializers.CharField(required=False, allow_blank=True, max_length=32)
    sort = serializers.CharField(required=False, allow_blank=True, max_length=16)
    page = serializers.IntegerField(required=False, min_value=1, max_value=100, default=1)
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=50, default=20)


class InstallSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=list(SOURCES))
    project_id = serializers.CharField(max_length=64)
    version_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    dependencies = serializers.BooleanField(default=True)


class PathSerializer(serializers.Serializer):
    path = serializers.CharField(max_length=4096)


class UpdateSerializer(serializers.Serializer):
    paths = serializers.ListField(
        child=serializers.CharField(max_length=4096), required=False, max_length=200
    )
