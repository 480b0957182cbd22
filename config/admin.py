"""The Django admin, authorized by the same rule as the API: admin.read to look, admin.write to change."""

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm

from accounts.permissions import can


class StaffLoginForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        if not user.is_active or not can(user, "admin.read"):
            raise forms.ValidationError(
                "This account may not use the admin (it needs the admin.read permission).",
                code="invalid_login",
            )


class HearthAdminSite(admin.AdminSite):
    site_header = "Hearth administration"
    site_title = "Hearth"
    index_title = "Panel"
    login_form = StaffLoginForm

    def has_permission(self, request):
        return request.user.is_active and can(request.user, "admin.read")


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


class ReadOnlyAdmin(StaffModelAdmin):
    """Records nobody edits by hand (audit log, sessions)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
