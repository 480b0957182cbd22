"""The Django admin, authorized by the same rule as the API: admin.read to look, admin.write to change.

The site lives here, with the permissions and the login it stands on; the apps fill its dashboard
(`add_dashboard_panel`, from their admin modules), so it imports none of them.
"""

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy

from accounts.browser import browser_logout
from accounts.permissions import can
from config.errors import DomainError, refusal_text

# Django's own permissions on actions; an action declaring only Hearth ones (server_start…) is
# filtered by the admin's has_<permission>_permission methods instead.
DJANGO_CHANGES = {"add", "change", "delete"}
# Apps staff rarely open, listed last under one heading.
INTERNAL_APPS = ("django_celery_beat",)


@admin.action(permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s"))
def delete_selected(modeladmin, request, queryset):
    """Django's action and its confirmation page, but each object goes through delete_model (the
    service): one refusal is reported and the rest still go, and the message counts what went."""
    _, _, perms_needed, protected = modeladmin.get_deleted_objects(queryset, request)
    if not request.POST.get("post") or perms_needed or protected:
        return django_delete_selected(modeladmin, request, queryset)
    done = 0
    for obj in queryset:
        try:
            with transaction.atomic():
                modeladmin.log_deletions(request, queryset.filter(pk=obj.pk))
                modeladmin.delete_model(request, obj)
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {refusal_text(exc)}", messages.ERROR)
        else:
            done += 1
    if done:
        modeladmin.message_user(
            request, f"Deleted {done} {model_ngettext(modeladmin.opts, done)}.", messages.SUCCESS
        )
    return None


class HearthAdminSite(admin.AdminSite):
    site_header = "Hearth administration"
    site_title = "Hearth"
    index_title = "Panel"
    index_template = "admin/hearth_index.html"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_action(delete_selected)  # replaces Django's, which deletes the queryset at once
        self.dashboard_panels: list[Callable[[], dict]] = []

    def add_dashboard_panel(self, panel: Callable[[], dict]) -> None:
        """An app's part of the index: `panel()` returns the template context it fills."""
        if panel not in self.dashboard_panels:
            self.dashboard_panels.append(panel)

    def has_permission(self, request):
        return request.user.is_active and can(request.user, "admin.read")

    def index(self, request, extra_context=None):
        """The dashboard: each app's panel (servers by status, nodes and their health, failed jobs)."""
        context = {}
        for panel in self.dashboard_panels:
            context.update(panel())
        return super().index(request, {**context, **(extra_context or {})})

    def hide_internals(self) -> None:
        hide_internals(self)

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        internal = [app for app in apps if app["app_label"] in INTERNAL_APPS]
        if not internal or app_label:
            return apps
        merged = {
            **internal[0],
            "name": "Internals",
            "models": [model for app in internal for model in app["models"]],
        }
        return [app for app in apps if app["app_label"] not in INTERNAL_APPS] + [merged]

    def login(self, request, extra_context=None):
        """One login for the whole panel (limits, two-factor, revocable sessions): the web UI's."""
        if request.user.is_authenticated:  # signed in, but without admin.read
            return HttpResponseForbidden(
                "This account may not use the admin (it needs the admin.read permission). "
                "Sign out of the panel and sign in with a staff account."
            )
        return redirect_to_login(
            request.GET.get(REDIRECT_FIELD_NAME, reverse("admin:index")), reverse("webui:login")
        )

    def logout(self, request, extra_context=None):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        browser_logout(request)
        return redirect("webui:login")


class StaffModelAdmin(admin.ModelAdmin):
    """Base for every admin page: views need admin.read, changes and actions admin.write."""

    def has_view_permission(self, request, obj=None):
        return can(request.user, "admin.read")

    def has_module_permission(self, request):
        return can(request.user, "admin.read")

    def has_add_permission(self, request):
        return can(request.user, "admin.write")

    def has_change_permission(self, request, obj=None):
        return can(request.user, "admin.write")

    def has_delete_permission(self, request, obj=None):
        return can(request.user, "admin.write")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """save_model/save_related call services; a refusal rolls the form back and is a message."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # raised inside the view's transaction, which was rolled back
            self.message_user(request, f"Not saved: {refusal_text(exc)}", messages.ERROR)
            return redirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        """delete_model calls a service; a refusal (say, a node that still has servers) is a message."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:  # raised inside the view's transaction, which was rolled back
            self.message_user(request, f"Not deleted: {refusal_text(exc)}", messages.ERROR)
            opts = self.opts
            return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def get_actions(self, request):
        """Actions change things: without admin.write, staff keep only those that declare the view
        permission or a Hearth permission of their own (which Django then checks)."""
        actions = super().get_actions(request)
        if can(request.user, "admin.write"):
            return actions
        return {
            name: spec
            for name, spec in actions.items()
            if not set(getattr(spec[0], "allowed_permissions", ("change",))) & DJANGO_CHANGES
        }


class StaffInline:
    """Mixin for inlines: the same rule as StaffModelAdmin instead of Django's model permissions."""

    def has_view_permission(self, request, obj=None):
        return can(request.user, "admin.read")

    def has_add_permission(self, request, obj=None):
        return can(request.user, "admin.write")

    def has_change_permission(self, request, obj=None):
        return can(request.user, "admin.write")

    def has_delete_permission(self, request, obj=None):
        return can(request.user, "admin.write") and self.can_delete


class ReadOnlyAdmin(StaffModelAdmin):
    """Records nobody edits by hand (audit log, sessions)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def hide_internals(site: admin.AdminSite) -> None:
    """Take out what staff never edit by hand: Django's groups (Hearth has roles), the JWT
    blacklist (login sessions are ended from LoginSession), and celery-beat's schedules (the
    schedules app writes them); its periodic tasks stay readable under "Internals"."""
    from django.contrib.auth.models import Group
    from django_celery_beat import models as beat
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    hidden = (
        Group,
        OutstandingToken,
        BlacklistedToken,
        beat.PeriodicTask,
        beat.IntervalSchedule,
        beat.CrontabSchedule,
        beat.SolarSchedule,
        beat.ClockedSchedule,
    )
    for model in hidden:
        if site.is_registered(model):
            site.unregister(model)
    site.register(beat.PeriodicTask, PeriodicTaskAdmin)


class PeriodicTaskAdmin(ReadOnlyAdmin):
    list_display = ("name", "task", "enabled", "crontab", "interval", "last_run_at", "total_run_count")
    list_filter = ("enabled",)
    search_fields = ("name", "task")
