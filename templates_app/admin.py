import io
import json
import zipfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from accounts.admin_site import StaffInline, StaffModelAdmin
from config.errors import InvalidInput
from templates_app import services
from templates_app.eggs import egg_export
from templates_app.models import Template, TemplateVariable
from templates_app.services import VARIABLE_FIELDS


class TemplateVariableFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """The start command and the variables together: no customer value may land where it runs as code."""
        super().clean()
        rows = [
            TemplateVariable(**{k: v for k, v in form.cleaned_data.items() if k in services.VARIABLE_FIELDS})
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        problems = services.code_problems(self.instance, rows)
        if problems:
            raise forms.ValidationError([m for messages in problems.values() for m in messages])


class TemplateVariableInline(StaffInline, admin.TabularInline):
    """Authorized like StaffModelAdmin (Django's model permissions are not used in Hearth)."""

    model = TemplateVariable
    formset = TemplateVariableFormSet
    fields = (
        "sort_order",
        "env_variable",
        "name",
        "default_value",
        "user_viewable",
        "user_editable",
        "rules",
    )
    extra = 0


class LinesField(forms.CharField):
    """A list of strings edited one per line (blank lines dropped); the model validates the entries."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]

    def has_changed(self, initial, data):
        return (initial or []) != self.to_python(data)


class TemplateForm(forms.ModelForm):
    features = LinesField(
        required=False,
        help_text="One a line, as the egg's features. Hearth acts on eula (a one-click accept when the "
        "console asks for the EULA), java_version (offers the template's other images when the console "
        "shows a Java version error) and pid_limit (explains a process-limit error); others are kept.",
    )
    tags = LinesField(required=False, help_text="One a line; kept and exported with the egg.")
    file_denylist = LinesField(
        required=False,
        label="File denylist",
        help_text="Files customers may not open, one gitignore-style pattern a line (*.jar, "
        "/config/secret.yml, !keep.jar), as Wings reads them.",
    )

    class Meta:
        model = Template
        fields = ("features", "tags", "file_denylist")  # the admin adds its fieldsets' fields


class EggUploadForm(forms.Form):
    file = forms.FileField(
        label="Egg file", help_text="Pterodactyl PTDL_v1/PTDL_v2 JSON or Pelican JSON/YAML."
    )
    replace = forms.BooleanField(
        required=False, help_text="Update the template of the same name in place instead of refusing."
    )


def _messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _messages(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _messages(value)]
    return [str(detail)]


def _variables(formset) -> list[dict]:
    """The inline's rows, in their sort order, as the service's `variables` list."""
    kept = [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
    kept.sort(key=lambda f: f.cleaned_data.get("sort_order") or 0)
    return [{k: f.cleaned_data[k] for k in VARIABLE_FIELDS if k in f.cleaned_data} for f in kept]


@admin.register(Template)
class TemplateAdmin(StaffModelAdmin):
    form = TemplateForm
    list_display = ("name", "docker_image", "variable_count", "source", "updated_at")
    list_filter = ("source",)
    search_fields = ("name", "description", "docker_image")
    readonly_fields = ("source", "created_at", "updated_at")
    inlines = [TemplateVariableInline]
    actions = ["export_eggs", "duplicate"]
    change_list_template = "admin/templates_app/template/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "description", "source")}),
        ("Images", {"fields": ("docker_image", "docker_images", "pull_policy", "read_only_root")}),
        (
            "Running",
            {
                "fields": (
                    "start_command",
                    "stop_command",
                    "stop_signal",
                    "ready_pattern",
                    "ready_pattern_is_regex",
                    "data_path",
                )
            },
        ),
        ("Configuration", {"fields": ("ports", "environment", "required_variables", "config_files")}),
        ("Installation", {"fields": ("install_image", "install_entrypoint", "install_script")}),
        (
            "Egg compatibility",
            {
                "fields": ("use_image_entrypoint", "features", "tags", "file_denylist"),
                "description": "As a Pterodactyl egg has them; an imported egg fills them in.",
            },
        ),
        (
            "Backups of a running server",
            {
                "fields": (
                    "backup_before_commands",
                    "backup_done_pattern",
                    "backup_done_pattern_is_regex",
                    "backup_after_commands",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(variable_total=Count("variables"))

    @admin.display(description="Variables", ordering="variable_total")
    def variable_count(self, template):
        return template.variable_total

    def save_model(self, request, obj, form, change):
        pass  # saved with its variables by save_related, through the service

    def save_related(self, request, form, formsets, change):
        """template_create / template_update, as the API: validated, variables replaced, audited."""
        variables = None
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is TemplateVariable and (not change or formset.has_changed()):
                variables = _variables(formset)
        fields = {f: form.cleaned_data[f] for f in (form.changed_data if change else form.cleaned_data)}
        if change:
            template = Template.objects.get(pk=form.instance.pk)
            services.template_update(
                actor=request.user,
                template=template,
                request=request,
                variables=variables,
                via="admin",
                **fields,
            )
        else:
            template = services.template_create(
                actor=request.user, request=request, variables=variables, via="admin", **fields
            )
            form.instance.pk = template.pk  # what the admin's log and redirect use

    def delete_model(self, request, obj):
        services.template_delete(actor=request.user, template=obj, request=request, via="admin")

    def get_urls(self):
        urls = [
            path(
                "import/", self.admin_site.admin_view(self.import_view), name="templates_app_template_import"
            ),
        ]
        return urls + super().get_urls()

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = EggUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                template, warnings = services.template_import(
                    actor=request.user,
                    data=upload.read(),
                    filename=upload.name,
                    replace=form.cleaned_data["replace"],
                    request=request,
                    via="admin",
                )
            except InvalidInput as exc:
                for message in _messages(exc.detail):
                    form.add_error(None, message)
            else:
                for warning in warnings:
                    self.message_user(request, warning, messages.WARNING)
                self.message_user(request, f"Imported “{template.name}” with {len(warnings)} warning(s).")
                return redirect(reverse("admin:templates_app_template_change", args=[template.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import an egg",
        }
        return TemplateResponse(request, "admin/templates_app/template/import_egg.html", context)

    @admin.action(description="Export selected as eggs (JSON, or a zip for several)", permissions=["view"])
    def export_eggs(self, request, queryset):
        templates = list(queryset.prefetch_related("variables"))
        if len(templates) == 1:
            template = templates[0]
            response = HttpResponse(
                json.dumps(egg_export(template), indent=4) + "\n", content_type="application/json"
            )
            response["Content-Disposition"] = (
                f'attachment; filename="egg-{slugify(template.name) or "template"}.json"'
            )
            return response
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            used: set[str] = set()
            for template in templates:
                name = f"egg-{slugify(template.name) or 'template'}"
                while f"{name}.json" in used:
                    name += "-1"
                used.add(f"{name}.json")
                archive.writestr(f"{name}.json", json.dumps(egg_export(template), indent=4) + "\n")
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="eggs.zip"'
        return response

    @admin.action(description="Duplicate selected templates", permissions=["change"])
    def duplicate(self, request, queryset):
        copies = [
            services.template_duplicate(actor=request.user, template=t, request=request) for t in queryset
        ]
        self.message_user(
            request,
            f"Made {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}: "
            + ", ".join(c.name for c in copies),
        )
