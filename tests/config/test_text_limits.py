"""Free text has a length limit, in the API (400 naming the field) and in the admin's forms alike."""

import pytest

from accounts.models import ApiKey, Role
from config import limits
from nodes.models import Location, Node
from templates_app.models import Template

pytestmark = pytest.mark.django_db
LONG = "x" * (limits.DESCRIPTION_CHARS + 1)


@pytest.fixture
def staff(client_for, admin):
    return client_for(admin)


@pytest.fixture
def location():
    return Location.objects.create(name="eu")


@pytest.fixture
def node(location):
    return Node.objects.create(
        name="n1",
        location=location,
        hostname="h",
        public_address="203.0.113.1",
        max_memory_mb=1024,
        max_cpu_cores=1,
    )


@pytest.fixture
def template():
    return Template.objects.create(
        name="game", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )


def assert_refused(response, field: str):
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["fields"], response.json()


@pytest.mark.parametrize(
    "make_path, body, field",
    [
        (lambda o: "/api/roles", {"name": "r", "permissions": [], "description": LONG}, "description"),
        (lambda o: "/api/roles", {"name": "r", "permissions": ["server.read"] * 201}, "permissions"),
        (lambda o: "/api/roles", {"name": "r", "permissions": ["x" * 65]}, "permissions.0"),
        (lambda o: "/api/roles", {"name": "r" * 101, "permissions": []}, "name"),
        (lambda o: "/api/api-keys", {"name": "k" * 101}, "name"),
        (lambda o: "/api/api-keys", {"name": "k", "permissions": ["server.read"] * 201}, "permissions"),
        (lambda o: "/api/api-keys", {"name": "k", "allowedIps": ["10.0.0.1"] * 201}, "allowedIps"),
        (lambda o: "/api/api-keys", {"name": "k", "allowedIps": ["1" * 65]}, "allowedIps.0"),
        (lambda o: "/api/locations", {"name": "l", "description": LONG}, "description"),
        (
            lambda o: "/api/admin/users",
            {"email": "a@example.com", "username": "abc", "password": "p" * 1025},
            "password",
        ),
    ],
)
def test_creates_refuse_long_text(staff, make_path, body, field):
    counts = (Role.objects.count(), ApiKey.objects.count(), Location.objects.count())
    assert_refused(staff.post(make_path(None), body, format="json"), field)
    assert (Role.objects.count(), ApiKey.objects.count(), Location.objects.count()) == counts


@pytest.mark.parametrize(
    "fixture, path, body, field",
    [
        ("location", "/api/locations/{pk}", {"description": LONG}, "description"),
        ("node", "/api/nodes/{pk}", {"description": LONG}, "description"),
        ("node", "/api/nodes/{pk}", {"sshHostKey": "k" * (limits.SECRET_CHARS + 1)}, "sshHostKey"),
        ("template", "/api/templates/{pk}", {"description": LONG}, "description"),
        (
            "template",
            "/api/templates/{pk}",
            {"startCommand": "x" * (limits.COMMAND_CHARS + 1)},
            "startCommand",
        ),
        (
            "template",
            "/api/templates/{pk}",
            {"installScript": "x" * (limits.SCRIPT_CHARS + 1)},
            "installScript",
        ),
        (
            "template",
            "/api/templates/{pk}",
            {"variables": [{"envVariable": "A", "name": "a", "description": LONG}]},
            "variables.0.description",
        ),
        (
            "template",
            "/api/templates/{pk}",
            {
                "variables": [
                    {"envVariable": "A", "name": "a", "defaultValue": "v" * (limits.VALUE_CHARS + 1)}
                ]
            },
            "variables.0.defaultValue",
        ),
    ],
)
def test_updates_refuse_long_text(staff, request, fixture, path, body, field):
    obj = request.getfixturevalue(fixture)
    before = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    response = staff.patch(path.format(pk=obj.pk), body, format="json")
    assert_refused(response, field)
    obj.refresh_from_db()
    assert {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields} == before


@pytest.mark.parametrize(
    "path, body, field",
    [
        (
            "/api/auth/register",
            {"email": "a@example.com", "username": "abc", "password": "p" * 1025},
            "password",
        ),
        (
            "/api/auth/register",
            {"email": "a@example.com", "username": "a" * 33, "password": "p" * 10},
            "username",
        ),
        ("/api/auth/login", {"email": "e" * 255, "password": "p"}, "email"),
        ("/api/auth/login", {"email": "a@example.com", "password": "p" * 1025}, "password"),
        ("/api/auth/refresh", {"refreshToken": "t" * (limits.TOKEN_CHARS + 1)}, "refreshToken"),
    ],
)
def test_public_endpoints_refuse_long_text(api, path, body, field):
    assert_refused(api.post(path, body, format="json"), field)


def test_text_at_the_limit_is_accepted(staff, location):
    body = {"description": "x" * limits.DESCRIPTION_CHARS}
    assert staff.patch(f"/api/locations/{location.pk}", body, format="json").status_code == 200


def test_the_admin_forms_refuse_long_text_too(signed_in, admin):
    from tests.conftest import PASSWORD  # noqa: F401 - signed_in uses it

    client = signed_in(admin)
    response = client.post(
        "/admin/accounts/role/add/", {"name": "Long", "description": LONG, "permissions": []}
    )
    assert response.status_code == 200
    assert b"Ensure this value has at most 2000 characters" in response.content
    assert not Role.objects.filter(name="Long").exists()
