"""DRF glue for the authorization rule in accounts.permissions."""

from rest_framework import exceptions, permissions

from accounts.permissions import can

FORBIDDEN = "You do not have permission to perform this action"


def require(user, permission: str, obj=None) -> None:
    """Raise 403 unless `user` holds `permission` (on `obj` when given)."""
    if not can(user, permission, obj):
        raise exceptions.PermissionDenied(f"{FORBIDDEN} (requires {permission})")


def Requires(permission: str) -> type[permissions.BasePermission]:
    """A permission class: authenticated and holding `permission` globally."""

    class _Requires(permissions.IsAuthenticated):
        message = f"{FORBIDDEN} (requires {permission})"

        def has_permission(self, request, view):
            return super().has_permission(request, view) and can(request.user, permission)

    _Requires.__name__ = f"Requires[{permission}]"
    return _Requires
