"""Servers in the admin: everything the API does, through the same services and the same permissions.

Each page and action asks `can()` for the permission its API endpoint asks for (server.create,
server.update, server.transfer, server.suspend, server.start…), so a Support member who may only
read sees no way to change anything, and a refused URL answers 403. Services raise the domain
errors; they are shown as error messages (never a 500), and the services write the audit log.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse

from accounts.admin_site import StaffInline, StaffModelAdmin
from accounts.permissions import can
from config.errors import DomainError, InvalidInput, refusal_text
from servers import members
from servers.admin_files import ServerFilesPage, remove_files_helpers
from servers.admin_pages import ServerPages
from servers.dashboard import dashboard_panel
from servers.forms import (
    LIMITS,
    SERVICE_TO_FORM,
    ServerChangeForm,
    ServerCreateForm,
)
from servers.lifecycle.create import server_create
from servers.lifecycle.delete import server_delete
from servers.lifecycle.install import server_install
from servers.lifecycle.plan import server_extend
from servers.lifecycle.power import server_kill, server_restart, server_start, server_stop
from servers.lifecycle.suspension import server_suspend, server_unsuspend
from servers.lifecycle.update import server_set_restart_policy, server_update
from servers.models import Job, Server, ServerMember

# The servers' panel on the admin's index (the site imports no app).
admin.site.add_dashboard_panel(dashboard_panel)

RESTART_FIELDS = ("restart_policy", "max_crash_count")


class Refused(Exception):
    """A service refused a change made on an admin form; changeform_view shows why instead of a 500."""


class MemberInline(StaffInline, admin.TabularInline):
    """People the owner shares the server with; saved through member_add/update/remove (audited)."""

    model = ServerMember
    fields = ("user", "permissions", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0

    def has_add_permission(self, request, obj=None):
        return can(request.user, "server.update", obj)

    def has_change_permission(self, request, obj=None):
        return can(request.user, "server.update", obj)

    def has_delete_permission(self, request, obj=None):
        return can(request.user, "server.update", obj)


class JobInline(StaffInline, admin.TabularInline):
    model = Job
    fields = ("kind", "status", "progress", "error", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)


def _server_action(label: str, permission: str, call):
    """An action that calls a service per server, as the API's endpoint would, and reports refusals."""

    def run(modeladmin, request, queryset):
        done = 0
        for server in queryset.select_related("node", "template"):
            if not can(request.user, permission, server):
                modeladmin.message_user(
                    request, f"{server.name}: you do not hold {permission}.", messages.ERROR
                )
                continue
            try:
                call(server=server, actor=request.user, request=request)
            except DomainError as exc:
                modeladmin.message_user(request, f"{server.name}: {refusal_text(exc)}", messages.ERROR)
            else:
                done += 1
        if done:
            modeladmin.message_user(request, f"{label}: {done} server(s).", messages.SUCCESS)

    run.__name__ = label.lower().replace(" ", "_")
    return admin.action(description=f"{label} selected servers", permissions=[permission.replace(".", "_")])(
        run
    )


def _holds(permission: str):
    """has_<permission>_permission for Django's action filter: the global grant, as the API checks it."""
    return lambda self, request: can(request.user, permission)


@admin.register(Server)
class ServerAdmin(ServerFilesPage, ServerPages, StaffModelAdmin):
    form = ServerChangeForm
    change_form_template = "admin/servers/server/change_form.html"
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
        "plan",
        "expire_at",
    )
    list_filter = ("status", "node", "template", "plan", "restart_policy")
    list_select_related = ("node", "owner", "template", "plan")
    search_fields = ("name", "id", "owner__email", "owner__username")
    autocomplete_fields = ("owner",)
    add_fieldsets = (
        (None, {"fields": ("name", "description", "owner", "template")}),
        ("Plan", {"fields": ("plan", "expire_in_days")}),
        ("Placement", {"fields": ("node", "location", "primary_port", "port_bindings")}),
        ("Image and variables", {"fields": ("docker_image", "environment")}),
        ("Limits", {"fields": LIMITS}),
        ("After creation", {"fields": ("restart_policy", "install")}),
    )
    fieldsets = (
        (None, {"fields": ("id", "name", "description", "owner", "status", "status_reason")}),
        ("Placement", {"fields": ("node", "template", "ports", "container_id")}),
        ("Image and variables", {"fields": ("docker_image", "environment")}),
        ("Limits", {"fields": LIMITS}),
        (
            "Crashes",
            {"fields": ("restart_policy", "max_crash_count", "crash_count", "last_crash_at")},
        ),
        ("Plan and expiry", {"fields": ("plan", "expire_at", "expiry_reminders_sent")}),
        ("Suspension", {"fields": ("suspended_at", "suspended_by", "suspension_reason")}),
        (
            "Usage",
            {"fields": ("disk_usage_mb", "disk_checked_at", "cpu_usage", "memory_usage_mb")},
        ),
        ("Dates", {"fields": ("installed_at", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "id",
        "owner",
        "status",
        "status_reason",
        "node",
        "template",
        "ports",
        "container_id",
        "crash_count",
        "last_crash_at",
        "suspended_at",
        "suspended_by",
        "suspension_reason",
        "plan",
        "expire_at",
        "expiry_reminders_sent",
        "disk_usage_mb",
        "disk_checked_at",
        "cpu_usage",
        "memory_usage_mb",
        "installed_at",
        "created_at",
        "updated_at",
    )
    actions = [
        _server_action("Start", "server.start", server_start),
        _server_action("Stop", "server.stop", server_stop),
        _server_action("Restart", "server.restart", server_restart),
        _server_action("Kill", "server.kill", server_kill),
        _server_action("Suspend", "server.suspend", server_suspend),
        _server_action("Unsuspend", "server.suspend", server_unsuspend),
        _server_action("Reinstall", "server.install", lambda **kw: server_install(reinstall=True, **kw)),
        _server_action("Extend by 30 days", "server.resources", lambda **kw: server_extend(days=30, **kw)),
        _server_action("Never expire", "server.resources", lambda **kw: server_extend(never=True, **kw)),
        remove_files_helpers,
    ]
    has_server_start_permission = _holds("server.start")
    has_server_stop_permission = _holds("server.stop")
    has_server_restart_permission = _holds("server.restart")
    has_server_kill_permission = _holds("server.kill")
    has_server_suspend_permission = _holds("server.suspend")
    has_server_install_permission = _holds("server.install")
    has_server_update_permission = _holds("server.update")
    has_server_resources_permission = _holds("server.resources")

    @admin.display(description="Ports")
    def ports(self, server):
        rows = [
            f"{a.ip}:{a.port} → {a.container_port or a.port}{' (primary)' if a.is_primary else ''}"
            for a in server.allocations.order_by("-is_primary", "port")
        ]
        return ", ".join(rows) or "—"

    # --- Who may do what: the API's permission for each operation ---------------------------------

    def has_add_permission(self, request):
        # The form names the owner, which the API lets only admin.write choose.
        return can(request.user, "server.create") and can(request.user, "admin.write")

    def has_change_permission(self, request, obj=None):
        return can(request.user, "server.update", obj)

    def has_delete_permission(self, request, obj=None):
        return can(request.user, "server.delete", obj)

    def get_inlines(self, request, obj):
        return [MemberInline, JobInline] if obj else []

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj else self.add_fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ServerCreateForm
        return super().get_form(request, obj, **kwargs)

    # --- Create: servers.lifecycle.create.server_create, as POST /api/servers -----------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        fieldsets = self.get_fieldsets(request)
        form_class = self.get_form(request, None, change=False, fields=flatten_fieldsets(fieldsets))
        form = form_class(request.POST or None, initial={"owner": request.user.pk})
        if request.method == "POST" and form.is_valid():
            try:
                server = server_create(actor=request.user, request=request, **form.service_arguments())
            except DomainError as exc:
                self._show_refusal(request, form, exc)
            else:
                self.log_addition(request, server, [{"added": {}}])
                self.message_user(request, f"Created “{server.name}” on node {server.node.name}.")
                return redirect(reverse("admin:servers_server_change", args=[server.pk]))
        admin_form = helpers.AdminForm(form, list(fieldsets), {}, (), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": "Add server",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

    def _show_refusal(self, request, form, exc: Exception) -> None:
        """Put a service's refusal on the fields it names (and in the messages), keep the input."""
        detail = getattr(exc, "detail", None) if isinstance(exc, InvalidInput) else None
        detail = detail if isinstance(detail, dict) else {None: refusal_text(exc)}
        for key, value in detail.items():
            field = SERVICE_TO_FORM.get(key, key)
            text = refusal_text(value)
            form.add_error(field if field in form.fields else None, text)
        self.message_user(request, f"Not created: {refusal_text(exc)}", messages.ERROR)

    # --- Change: server_update (and the restart policy's own service), as PATCH /api/servers/:id ---

    def save_model(self, request, obj, form, change):
        server = Server.objects.get(pk=obj.pk)  # the form already wrote its values onto obj
        changed = form.changed_data
        updates = {f: form.cleaned_data[f] for f in changed if f not in RESTART_FIELDS}
        try:
            if updates:
                server = server_update(server=server, actor=request.user, request=request, **updates)
            if any(f in changed for f in RESTART_FIELDS):
                server_set_restart_policy(
                    server=server,
                    actor=request.user,
                    request=request,
                    restart_policy=form.cleaned_data["restart_policy"],
                    max_crash_count=form.cleaned_data["max_crash_count"],
                )
        except DomainError as exc:
            raise Refused(f"Not saved: {refusal_text(exc)}") from exc

    def save_formset(self, request, form, formset, change):
        # What Django's change message reads; filled with what the services did.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is not ServerMember:
            return  # jobs are read-only
        server = form.instance
        try:
            for member_form in formset.forms:
                data = member_form.cleaned_data
                if not data:
                    continue
                member = member_form.instance
                if data.get("DELETE") and member.pk:
                    members.member_remove(member=member, actor=request.user, request=request)
                    formset.deleted_objects.append(member)
                elif not member.pk:
                    added = members.member_add(
                        server=server,
                        actor=request.user,
                        request=request,
                        email=data["user"].email,
                        permissions=data["permissions"],
                    )
                    formset.new_objects.append(added)
                elif "permissions" in member_form.changed_data:
                    updated = members.member_update(
                        member=ServerMember.objects.get(pk=member.pk),
                        actor=request.user,
                        request=request,
                        permissions=data["permissions"],
                    )
                    formset.changed_objects.append((updated, ["permissions"]))
        except DomainError as exc:
            raise Refused(f"Members not saved: {refusal_text(exc)}") from exc

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as exc:  # the transaction of the whole form was rolled back
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # --- Delete: server_delete (a job removes the container and files); refusals: StaffModelAdmin -

    def delete_model(self, request, obj):
        server_delete(server=obj, actor=request.user, request=request)

    # --- Transfer and suspend: pages of their own, linked from the change page ---------------------

    def get_urls(self):
        return [
            path(
                "<uuid:server_id>/transfer/",
                self.admin_site.admin_view(self.transfer_view),
                name="servers_server_transfer",
            ),
            path(
                "<uuid:server_id>/allocations/",
                self.admin_site.admin_view(self.allocations_view),
                name="servers_server_allocations",
            ),
            path(
                "<uuid:server_id>/files/",
                self.admin_site.admin_view(self.files_view),
                name="servers_server_files",
            ),
            path(
                "<uuid:server_id>/suspend/",
                self.admin_site.admin_view(self.suspend_view),
                name="servers_server_suspend",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["may_transfer"] = can(request.user, "server.transfer", obj)
            context["may_suspend"] = can(request.user, "server.suspend", obj)
            context["may_update"] = can(request.user, "server.update", obj)
            context["may_read_files"] = can(request.user, "file.read", obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(Job)
class JobAdmin(StaffModelAdmin):
    list_display = ("created_at", "kind", "server_name", "status", "progress", "error")
    list_filter = ("kind", "status")
    search_fields = ("server_name", "error")
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False
