"""The permission catalogue and the one rule that answers "may this user do this?".

Global grants come from the user's roles (superusers hold `*`). On an object, the object adds
its own grants through `object_permissions(user)`: a server gives its owner every server-scoped
permission and each member what they were granted.
"""

from collections.abc import Iterable

SERVER_SCOPED = (
    "server.read",
    "server.update",
    "server.delete",
    "server.install",
    "server.start",
    "server.stop",
    "server.restart",
    "server.kill",
    "server.console",
    "server.logs.read",
    "file.read",
    "file.write",
    "file.delete",
    "backup.create",
    "backup.read",
    "backup.restore",
    "backup.delete",
    "backup.download",
    "task.create",
    "task.read",
    "task.update",
    "task.delete",
    "task.execute",
    "database.create",
    "database.read",
    "database.rotate",
    "database.delete",
    "alert.read",
    "alert.resolve",
    "alert.subscribe",  # the server's own notification subscriptions (webhooks, email)
)

GLOBAL_ONLY = (
    "server.create",
    "server.transfer",
    "server.suspend",
    # Limits, node and image of a server: the hosting company's billing boundary. Global only, so an
    # owner never holds it through their server; no default role but Administrator (`*`) has it.
    "server.resources",
    "admin.read",
    "admin.write",
    "rate-limit.bypass",
)

CATALOGUE: tuple[str, ...] = SERVER_SCOPED + GLOBAL_ONLY
RESOURCES = frozenset(p.split(".", 1)[0] for p in CATALOGUE)


def is_known(permission: str) -> bool:
    """True for a catalogue entry, `*`, or `<resource>.*` of a known resource."""
    if permission == "*" or permission in CATALOGUE:
        return True
    resource, _, rest = permission.partition(".")
    return rest == "*" and resource in RESOURCES


def unknown(permissions: Iterable[str]) -> list[str]:
    return [p for p in permissions if not is_known(p)]


def grants(granted: Iterable[str], permission: str) -> bool:
    """Whether a set of grants (with `*` and `resource.*` wildcards) covers `permission`."""
    granted = set(granted)
    if "*" in granted or permission in granted:
        return True
    return f"{permission.split('.', 1)[0]}.*" in granted


def global_permissions(user) -> frozenset[str]:
    """The user's grants from roles, computed once per user object (i.e. once per request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_hearth_permissions", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset({"*"})
        else:
            cached = frozenset(p for role in user.roles.all() for p in role.permissions)
        scope = getattr(user, "token_scope", None)  # an API key narrows what its owner holds
        if scope is not None:  # the intersection, whichever side holds the wildcard
            cached = frozenset(
                {p for p in cached if grants(scope, p)} | {p for p in scope if grants(cached, p)}
            )
        user._hearth_permissions = cached
    return cached


def has_permission(user, permission: str) -> bool:
    return grants(global_permissions(user), permission)


def can(user, permission: str, obj=None) -> bool:
    """The single authorization rule used by the API, WebSocket, SFTP and admin."""
    if has_permission(user, permission):
        return True
    if obj is None or not hasattr(obj, "object_permissions"):
        return False
    scope = getattr(user, "token_scope", None)
    if scope is not None and not grants(scope, permission):
        return False
    return getattr(user, "is_authenticated", False) and grants(obj.object_permissions(user), permission)


def effective_permissions(user) -> list[str]:
    """What the token's `permissions` claim and /api/auth/me report."""
    return sorted(global_permissions(user))


DEFAULT_ROLES = {
    "Administrator": ("Everything, everywhere.", ["*"]),
    "Support": (
        "Reads every server and the admin data, and may use consoles; changes nothing.",
        [
            "admin.read",
            "server.read",
            "server.logs.read",
            "server.console",
            "file.read",
            "backup.read",
            "backup.download",
            "task.read",
            "database.read",
            "alert.read",
        ],
    ),
    "Customer": (
        "Creates servers and runs their own (owners hold every server permission on their servers).",
        ["server.create"],
    ),
}
