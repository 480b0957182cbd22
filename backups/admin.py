"""Backups in the admin: their server, status, storage, size and lock, and the job making or restoring
one. Actions call the same services as the API with the same permissions (checked per backup), and
show a refusal as a message; the services write the audit log."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_site import StaffModelAdmin
from accounts.permissions import can
from backups import services
from backups.models import Backup
from config.errors import DomainError, refusal_text


def _backup_action(label: str, permission: str, call):
    """An action that calls a service per backup, as the API's endpoint would, and reports refusals."""

    def run(modeladmin, request, queryset):
        done = 0
        for backup in queryset.select_related("server__node", "server__template"):
            if not can(request.user, permission, backup.server):
                modeladmin.message_user(
                    request, f"{backup.name}: you do not hold {permission}.", messages.ERROR
                )
                continue
            try:
                call(backup=backup, actor=request.user, request=request)
            except DomainError as exc:
                modeladmin.message_user(request, f"{backup.name}: {refusal_text(exc)}", messages.ERROR)
            else:
                done += 1
        if done:
            modeladmin.message_user(request, f"{label}: {done} backup(s).", messages.SUCCESS)

    run.__name__ = f"backups_{label.lower()}"
    return admin.action(description=f"{label} selected backups", permissions=[permission.replace(".", "_")])(
        run
    )


def _holds(permission: str):
    return lambda self, request: can(request.user, permission)


@admin.register(Backup)
class BackupAdmin(StaffModelAdmin):
    list_display = (
        "name",
        "server",
        "status",
        "storage",
        "size",
        "locked",
        "scheduled",
        "created_at",
        "job_link",
    )
    list_filter = ("status", "storage", "locked", "scheduled", "compression")
    search_fields = ("name", "server__name", "server__id", "checksum", "error")
    list_select_related = ("server", "job", "created_by")
    readonly_fields = [f.name for f in Backup._meta.fields] + ["job_progress"]
    ordering = ("-created_at",)
    actions = [
        _backup_action("Lock", "backup.delete", services.backup_lock),
        _backup_action("Unlock", "backup.delete", services.backup_unlock),
        _backup_action("Delete", "backup.delete", services.backup_delete),
        _backup_action("Restore", "backup.restore", services.backup_restore),
    ]
    has_backup_delete_permission = _holds("backup.delete")
    has_backup_restore_permission = _holds("backup.restore")

    def has_add_permission(self, request):
        return False  # a backup is made from its server (the API, the web UI), never typed in

    def has_change_permission(self, request, obj=None):
        return False  # every field is the job's; lock and unlock are actions

    def has_delete_permission(self, request, obj=None):
        return False  # Django's delete would leave the archive: the Delete action removes both

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, backup: Backup) -> str:
        return f"{backup.size_bytes / (1024 * 1024):.1f} MB" if backup.size_bytes else "—"

    @admin.display(description="Job")
    def job_link(self, backup: Backup):
        if backup.job is None:
            return "—"
        url = reverse("admin:servers_job_change", args=[backup.job_id])
        return format_html('<a href="{}">{} {}%</a>', url, backup.job.status, backup.job.progress)

    @admin.display(description="Job progress")
    def job_progress(self, backup: Backup):
        if backup.job is None:
            return "—"
        step = backup.job.detail.get("step", "")
        return f"{backup.job.status}, {backup.job.progress}%{f' ({step})' if step else ''}"
