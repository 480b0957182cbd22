from accounts.models import Role, User
from tests.matrix import Endpoint


def a_role(users) -> dict:
    return {"role": Role.objects.create(name=f"temp-{User.objects.count()}-{Role.objects.count()}").pk}


def a_user(users) -> dict:
    n = User.objects.count()
    return {"user": User.objects.create_user(email=f"target{n}@example.com", username=f"target{n}").pk}


def own_key(users) -> dict:
    from accounts.apikeys import apikey_create

    key, _ = apikey_create(user=users["caller"], name="k")
    return {"key": key.pk}


ENDPOINTS = [
    Endpoint("GET", "/api/auth/me", None),
    Endpoint("GET", "/api/admin/health", "admin.read"),
    Endpoint("GET", "/api/admin/users", "admin.read"),
    Endpoint("GET", "/api/admin/users/{user}", "admin.read", setup=a_user),
    Endpoint(
        "POST",
        "/api/admin/users",
        "admin.write",
        ok=201,
        body=lambda ctx: {
            "email": f"made{ctx['n']}@example.com",
            "username": f"made{ctx['n']}",
            "password": "long-enough-1",
        },
    ),
    Endpoint("PATCH", "/api/admin/users/{user}", "admin.write", setup=a_user, body={"isActive": False}),
    Endpoint("DELETE", "/api/admin/users/{user}", "admin.write", setup=a_user),
    Endpoint("GET", "/api/admin/audit-logs", "admin.read"),
    Endpoint("GET", "/api/roles", "admin.read"),
    Endpoint("GET", "/api/roles/{role}", "admin.read", setup=a_role),
    Endpoint(
        "POST",
        "/api/roles",
        "admin.write",
        ok=201,
        body=lambda ctx: {"name": f"made-{ctx['n']}", "permissions": []},
    ),
    Endpoint("PATCH", "/api/roles/{role}", "admin.write", setup=a_role, body={"description": "edited"}),
    Endpoint("DELETE", "/api/roles/{role}", "admin.write", setup=a_role),
    Endpoint("GET", "/api/api-keys", None),
    Endpoint("POST", "/api/api-keys", None, ok=201, body={"name": "ci"}),
    Endpoint("DELETE", "/api/api-keys/{key}", None, setup=own_key),
]
