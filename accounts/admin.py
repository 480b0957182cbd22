from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from accounts import staff
from accounts.admin_site import ReadOnlyAdmin, StaffInline, StaffModelAdmin
from accounts.apikeys import apikey_revoke
from accounts.audit import audit
from accounts.forms import HearthUserChangeForm, HearthUserCreationForm, RoleForm
from accounts.models import ApiKey, AuditLog, LoginSession, Role, SSHKey, TwoFactorDevice, User
from accounts.sshkeys import ssh_key_delete
from config.errors import DomainError, refusal_text


class ApiKeyInline(StaffInline, admin.TabularInline):
    model = ApiKey
    fields = ("name", "prefix", "permissions", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(StaffModelAdmin, DjangoUserAdmin):
    form = HearthUserChangeForm
    add_form = HearthUserCreationForm
    list_display = ("email", "username", "role_names", "two_factor", "is_active", "date_joined", "last_login")
    list_filter = ("is_active", "is_superuser", "roles")
    search_fields = ("email", "username")
    ordering = ("email",)
    filter_horizontal = ("roles",)
    inlines = [ApiKeyInline]
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Access", {"fields": ("is_active", "roles", "is_superuser", "is_staff")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2", "roles")}),
    )
    actions = ["deactivate", "activate", "end_sessions"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles").select_related("two_factor")

    # A user holding what the staff member does not is read-only to them (password page included).
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or staff.may_manage(request.user, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or staff.may_manage(request.user, obj)
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if request.user.is_superuser else (*readonly, "is_superuser", "is_staff")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user  # the form refuses roles the staff member could not grant
        return form

    def _manageable(self, request, queryset) -> list:
        users = [u for u in queryset if staff.may_manage(request.user, u)]
        if skipped := len(queryset) - len(users):
            self.message_user(
                request,
                f"Skipped {skipped} user(s) holding permissions you do not hold.",
                level=messages.ERROR,
            )
        return users

    @admin.display(description="Roles")
    def role_names(self, user):
        return ", ".join(role.name for role in user.roles.all()) or "—"

    @admin.display(description="2FA", boolean=True)
    def two_factor(self, user):
        device = getattr(user, "two_factor", None)
        return bool(device and device.is_enabled)

    def save_model(self, request, obj, form, change):
        pass  # saved by save_related, through the staff service, once the chosen roles are known

    def save_related(self, request, form, formsets, change):
        """staff.user_create / user_update, as the API's admin endpoints: the same grant checks."""
        data = form.cleaned_data
        if change:
            changes = {f: data[f] for f in form.changed_data if f not in ("roles", "password")}
            roles = list(data["roles"]) if "roles" in form.changed_data else None
            user = User.objects.get(pk=form.instance.pk)
            staff.user_update(actor=request.user, user=user, request=request, roles=roles, **changes)
        else:
            user = staff.user_create(
                actor=request.user,
                request=request,
                email=data["email"],
                username=data["username"],
                password=data["password1"],
                roles=list(data.get("roles") or []),
            )
            form.instance.pk = user.pk  # what the admin's log and redirect use
        for formset in formsets:  # the API keys inline is read-only: this saves nothing
            self.save_formset(request, form, formset, change)

    def user_change_password(self, request, id, form_url=""):
        """The password page sets the password through staff.user_update (its checks, its audit)."""
        user = self.get_object(request, unquote(id)) if request.method == "POST" else None
        if user is None or not self.has_change_permission(request, user):
            return super().user_change_password(request, id, form_url)  # the form, a 404 or a 403
        form = self.change_password_form(user, request.POST)
        if not form.is_valid():
            return super().user_change_password(request, id, form_url)  # shows the errors
        if not form.cleaned_data.get("password1"):
            self.message_user(
                request, "Password sign-in cannot be turned off here: deactivate the user.", messages.ERROR
            )
            return redirect(request.get_full_path())
        try:
            staff.user_update(
                actor=request.user, user=user, request=request, password=form.cleaned_data["password1"]
            )
        except DomainError as exc:
            self.message_user(request, f"Not changed: {refusal_text(exc)}", messages.ERROR)
            return redirect(request.get_full_path())
        self.log_change(request, user, [{"changed": {"fields": ["password"]}}])
        self.message_user(request, "Password changed; the user's sessions were ended.")
        return redirect(reverse("admin:accounts_user_change", args=[user.pk]))

    def delete_model(self, request, obj):
        staff.user_delete(actor=request.user, user=obj, request=request)

    @admin.action(description="Deactivate selected users (logs them out everywhere)")
    def deactivate(self, request, queryset):
        count = self._update_each(request, queryset.exclude(pk=request.user.pk).filter(is_active=True), False)
        self.message_user(request, f"Deactivated {count} user(s).")

    @admin.action(description="Reactivate selected users")
    def activate(self, request, queryset):
        count = self._update_each(request, queryset.filter(is_active=False), True)
        self.message_user(request, f"Reactivated {count} user(s).")

    def _update_each(self, request, users, is_active: bool) -> int:
        """staff.user_update per user; those above the staff member, or refused, are reported."""
        count = 0
        for user in self._manageable(request, users):
            try:
                staff.user_update(actor=request.user, user=user, request=request, is_active=is_active)
            except DomainError as exc:
                self.message_user(request, f"{user}: {refusal_text(exc)}", messages.ERROR)
            else:
                count += 1
        return count

    @admin.action(description="Log selected users out of every session")
    def end_sessions(self, request, queryset):
        users = self._manageable(request, queryset)
        ended = staff.user_sessions_end(actor=request.user, users=users, request=request)
        self.message_user(request, f"Ended {ended} session(s).")


@admin.register(Role)
class RoleAdmin(StaffModelAdmin):
    form = RoleForm
    list_display = ("name", "description", "permission_list", "requires_two_factor", "user_count")

    # A role granting what the staff member does not hold is read-only to them (as in the API).
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or not staff.grant_refusal(request.user, obj.permissions)
        )

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user
        return form

    @admin.display(description="Permissions")
    def permission_list(self, role):
        return ", ".join(role.permissions) or "—"

    @admin.display(description="Users")
    def user_count(self, role):
        return role.users.count()

    def save_model(self, request, obj, form, change):
        """staff.role_create / role_update: nobody hands out a permission they do not hold."""
        fields = {f: form.cleaned_data[f] for f in (form.changed_data if change else form.cleaned_data)}
        if change:
            staff.role_update(actor=request.user, role=Role.objects.get(pk=obj.pk), request=request, **fields)
        else:
            obj.pk = staff.role_create(actor=request.user, request=request, **fields).pk

    def delete_model(self, request, obj):
        staff.role_delete(actor=request.user, role=obj, request=request)


@admin.register(ApiKey)
class ApiKeyAdmin(StaffModelAdmin):
    list_display = ("name", "user", "prefix", "scope", "expires_at", "last_used_at", "last_used_ip", "status")
    list_filter = ("revoked_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__email")
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "permissions",
        "allowed_ips",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "created_at",
    )
    exclude = ("secret_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are created by their owner, who alone sees the secret

    @admin.display(description="Scope")
    def scope(self, key):
        return "everything the owner holds" if key.permissions is None else ", ".join(key.permissions)

    @admin.display(description="Status")
    def status(self, key):
        if key.revoked_at:
            return "revoked"
        if key.expires_at and key.expires_at <= timezone.now():
            return "expired"
        return "active"

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = sum(apikey_revoke(key=key, actor=request.user, request=request) for key in queryset)
        self.message_user(request, f"Revoked {count} key(s).")


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "username", "action", "resource_type", "resource_id", "ip_address")
    list_filter = ("action", "resource_type", ("created_at", admin.DateFieldListFilter), "user")
    search_fields = ("username", "action", "resource_id")
    date_hierarchy = "created_at"


@admin.register(LoginSession)
class LoginSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "last_refreshed_at", "revoked_at", "ip_address")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        return StaffModelAdmin.has_change_permission(self, request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="End selected sessions")
    def revoke(self, request, queryset):
        """The logout service, for sessions of users the staff member may manage: tokens stop working
        and the session's open sockets are told at once."""
        from accounts.services import session_logout

        queryset = queryset.filter(revoked_at__isnull=True).select_related("user")
        ended = [str(s.pk) for s in queryset if staff.may_manage(request.user, s.user)]
        if skipped := len(queryset) - len(ended):
            self.message_user(
                request,
                f"Skipped {skipped} session(s) of users holding permissions you do not hold.",
                level=messages.WARNING,
            )
        for session_id in ended:
            session_logout(session_id=session_id)
        audit("session.revoke", request=request, sessions=len(ended), ids=ended)
        self.message_user(request, f"Ended {len(ended)} session(s).")


@admin.register(TwoFactorDevice)
class TwoFactorDeviceAdmin(StaffModelAdmin):
    list_display = ("user", "is_enabled", "confirmed_at", "recovery_codes_left")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user", "confirmed_at", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="Enabled")
    def is_enabled(self, device):
        return device.is_enabled

    @admin.display(description="Recovery codes left")
    def recovery_codes_left(self, device):
        return len(device.recovery_codes)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or staff.may_manage(request.user, obj.user)
        )

    def delete_queryset(self, request, queryset):
        for device in queryset.select_related("user"):
            if staff.may_manage(request.user, device.user):
                self.delete_model(request, device)

    def delete_model(self, request, obj):
        audit("auth.2fa_reset", request=request, resource=obj.user, via="admin")
        super().delete_model(request, obj)


@admin.register(SSHKey)
class SSHKeyAdmin(StaffModelAdmin):
    """Users' SFTP public keys: staff may look and remove (a removed key's sessions end), never add."""

    list_display = ("name", "user", "fingerprint", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "fingerprint", "user__email", "user__username")
    readonly_fields = ("user", "name", "public_key", "fingerprint", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False  # a key is its owner's to add

    def delete_model(self, request, obj):
        ssh_key_delete(key=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for key in queryset:
            ssh_key_delete(key=key, actor=request.user, request=request)
