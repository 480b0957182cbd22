from django.contrib import admin, messages
from rest_framework.exceptions import APIException

from config.admin import StaffInline, StaffModelAdmin
from servers import services
from servers.models import Job, Server, ServerMember


class MemberInline(StaffInline, admin.TabularInline):
    model = ServerMember
    fields = ("user", "permissions", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0


class JobInline(StaffInline, admin.TabularInline):
    model = Job
    fields = ("kind", "status", "progress", "error", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)


def _each(action: str, call):
    """An admin action that calls a service per server and reports refusals instead of failing."""

    def run(modeladmin, request, queryset):
        done = 0
        for server in queryset.select_related("node", "template"):
            try:
                call(server=server, actor=request.user, request=request)
                done += 1
            except APIException as exc:
                modeladmin.message_user(request, f"{server.name}: {exc.detail}", messages.WARNING)
        modeladmin.message_user(request, f"{action}: {done} server(s).")

    run.short_description = f"{action} selected servers"
    run.__name__ = action.lower().replace(" ", "_")
    return run


@admin.register(Server)
class ServerAdmin(StaffModelAdmin):
    list_display = (
        "name",
        "status",
        "node",
        "owner",
        "template",
        "allocated_memory_mb",
        "allocated_cpu_cores",
        "allocated_disk_mb",
        "disk_usage_mb",
        "primary_port",
        "crash_count",
    )
    list_filter = ("status", "node", "template", "restart_policy")
    list_select_related = ("node", "owner", "template")
    search_fields = ("name", "id", "owner__email", "owner__username")
    readonly_fields = (
        "id",
        "status",
        "status_reason",
        "container_id",
        "crash_count",
        "last_crash_at",
        "suspended_at",
        "suspended_by",
        "suspension_reason",
        "disk_usage_mb",
        "disk_checked_at",
        "cpu_usage",
        "memory_usage_mb",
        "installed_at",
        "created_at",
        "updated_at",
        "node",
    )
    inlines = [MemberInline, JobInline]
    actions = [
        _each("Start", services.server_start),
        _each("Stop", services.server_stop),
        _each("Restart", services.server_restart),
        _each("Kill", services.server_kill),
        _each("Suspend", services.server_suspend),
        _each("Unsuspend", services.server_unsuspend),
        _each("Reinstall", lambda **kw: services.server_install(reinstall=True, **kw)),
    ]

    def has_add_permission(self, request):
        return False  # servers are created through the API (placement, ports and variables are checked there)

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        try:
            services.server_update(
                server=Server.objects.get(pk=obj.pk), actor=request.user, request=request, **changes
            )
        except APIException as exc:
            self.message_user(request, f"Not saved: {exc.detail}", messages.ERROR)

    def delete_model(self, request, obj):
        services.server_delete(server=obj, actor=request.user, request=request)


@admin.register(Job)
class JobAdmin(StaffModelAdmin):
    list_display = ("created_at", "kind", "server_name", "status", "progress", "error")
    list_filter = ("kind", "status")
    search_fields = ("server_name", "error")
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False
