from django.urls import include, path
from rest_framework.routers import SimpleRouter

from accounts.api import admin_views, keys, ssh_keys, views

router = SimpleRouter(trailing_slash=False)
router.register("roles", admin_views.RoleViewSet, basename="role")
router.register("admin/users", admin_views.AdminUserViewSet, basename="admin-user")
router.register("api-keys", keys.ApiKeyViewSet, basename="api-key")
router.register("account/ssh-keys", ssh_keys.SSHKeyViewSet, basename="ssh-key")

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("auth/", include("accounts.api.security_urls")),
    path("admin/audit-logs", admin_views.AuditLogListView.as_view(), name="admin-audit-logs"),
    *router.urls,
]
