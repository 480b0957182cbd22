from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from accounts.models import LoginSession, Role, User


class HearthUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username")


class HearthUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = HearthUserChangeForm
    add_form = HearthUserCreationForm
    list_display = ("email", "username", "role_names", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "roles")
    search_fields = ("email", "username")
    ordering = ("email",)
    filter_horizontal = ("roles",)
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "roles")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="Roles")
    def role_names(self, user):
        return ", ".join(role.name for role in user.roles.all()) or "—"

    @admin.action(description="Deactivate selected users (they are logged out)")
    def deactivate(self, request, queryset):
        from django.utils import timezone

        count = queryset.exclude(pk=request.user.pk).update(is_active=False)
        LoginSession.objects.filter(user__in=queryset, revoked_at__isnull=True).exclude(
            user=request.user
        ).update(revoked_at=timezone.now())
        self.message_user(request, f"Deactivated {count} user(s).")


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "permission_list")
    search_fields = ("name",)

    @admin.display(description="Permissions")
    def permission_list(self, role):
        return ", ".join(role.permissions)


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "last_refreshed_at", "revoked_at", "ip_address")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    readonly_fields = ("user", "created_at", "last_refreshed_at", "ip_address", "user_agent")
