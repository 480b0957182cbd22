"""Templates: anyone signed in reads them; admin.write changes and imports; admin.read exports."""

import json

from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action

from accounts.api.permissions import Requires
from accounts.permissions import can
from config.api.responses import created, ok
from templates_app import services
from templates_app.api.serializers import TemplateSerializer
from templates_app.filters import TemplateFilter
from templates_app.models import Template

TRUE = {True, "true", "True", "1", "on", "yes"}


def _write_fields(validated: dict) -> tuple[dict, list[dict] | None]:
    fields = dict(validated)
    return fields, fields.pop("variables", None)


@extend_schema(tags=["templates"])
class TemplateViewSet(viewsets.ModelViewSet):
    serializer_class = TemplateSerializer
    filterset_class = TemplateFilter
    queryset = Template.objects.prefetch_related("variables").order_by("name")
    http_method_names = ["get", "post", "put", "patch", "delete"]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [permissions.IsAuthenticated()]
        return [Requires("admin.read" if self.action == "export" else "admin.write")()]

    def get_serializer_context(self):
        user = self.request.user
        return {
            **super().get_serializer_context(),
            "full": can(user, "admin.read") or can(user, "admin.write"),
        }

    def _out(self, template: Template) -> dict:
        fresh = self.get_queryset().get(pk=template.pk)
        return self.get_serializer(fresh).data

    def create(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields, variables = _write_fields(data.validated_data)
        template = services.template_create(
            actor=request.user, request=request, variables=variables, **fields
        )
        return created(self._out(template))

    def update(self, request, pk=None, partial=False):
        template = self.get_object()
        data = self.get_serializer(template, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        fields, variables = _write_fields(data.validated_data)
        services.template_update(
            actor=request.user, template=template, request=request, variables=variables, **fields
        )
        return ok(self._out(template))

    def destroy(self, request, pk=None):
        services.template_delete(actor=request.user, template=self.get_object(), request=request)
        return ok(message="Template deleted")

    @extend_schema(
        summary="Import a Pterodactyl/Pelican egg",
        description=(
            "Multipart with the egg file as `file` (and `replace`), or JSON "
            '`{"egg": {…} or "<YAML text>", "replace": false}`. Answers the template and a `warnings` list '
            "naming everything the egg holds that Hearth could not map. A template of the same name is "
            "refused unless `replace` is true, which updates it in place."
        ),
        request={
            "multipart/form-data": inline_serializer(
                "EggUpload",
                {"file": serializers.FileField(), "replace": serializers.BooleanField(required=False)},
            ),
            "application/json": inline_serializer(
                "EggBody",
                {"egg": serializers.JSONField(), "replace": serializers.BooleanField(required=False)},
            ),
        },
        responses={201: TemplateSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_egg(self, request):
        upload = request.FILES.get("file")
        if upload is not None:
            data, filename = upload.read(), upload.name
        elif "egg" in request.data:
            data, filename = request.data["egg"], None
            if not isinstance(data, dict | str):
                raise serializers.ValidationError(
                    {"egg": ["Send the egg as an object or as JSON/YAML text."]}
                )
        else:
            raise serializers.ValidationError(
                {"file": ['Upload the egg as `file`, or send {"egg": …} as JSON.']}
            )
        replace = request.data.get("replace", request.query_params.get("replace", False)) in TRUE
        template, warnings = services.template_import(
            actor=request.user, data=data, filename=filename, replace=replace, request=request
        )
        return created(self._out(template), warnings=warnings)

    @extend_schema(
        summary="Export as an egg",
        description="The raw egg JSON as a file download (not wrapped in the success envelope): "
        "Pterodactyl's PTDL_v2, or Pelican's PLCN_v3 with `?egg_format=PLCN_v3`.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="A PTDL_v2 or PLCN_v3 egg")},
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        from templates_app.eggs_export import FORMATS, PTERODACTYL, egg_export

        form = request.query_params.get("egg_format", PTERODACTYL)
        if form not in FORMATS:
            raise serializers.ValidationError({"egg_format": [f"Use one of: {', '.join(FORMATS)}."]})
        template = self.get_object()
        response = HttpResponse(
            json.dumps(egg_export(template, form), indent=4, ensure_ascii=False) + "\n",
            content_type="application/json",
        )
        name = slugify(template.name) or "template"
        response["Content-Disposition"] = f'attachment; filename="egg-{name}.json"'
        return response
