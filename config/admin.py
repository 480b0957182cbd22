"""The Django admin, authorized by the same rule as the API: admin.read to look, admin.write to change."""

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse

from accounts.browser import browser_logout
from accounts.permissions import can


class HearthAdminSite(admin.AdminSite):
    site_header = "Hearth administration"
    site_title = "Hearth"
    index_title = "Panel"

    def has_permission(self, request):
        return request.user.is_active and can(request.user, "admin.read")

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

    def get_actions(self, request):
        """Actions change things: read-only staff keep only those that declare just the view permission."""
        actions = super().get_actions(request)
        if can(request.user, "admin.write"):
            return actions
        return {
            name: spec
            for name, spec in actions.items()
            if set(getattr(spec[0], "allowed_permissions", ("change",))) <= {"view"}
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
