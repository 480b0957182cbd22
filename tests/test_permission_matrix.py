"""Runs every declared endpoint against anonymous, stranger, holder, member, owner and administrator."""

import importlib
import itertools
import json
import pkgutil
from pathlib import Path

import pytest

import tests
from tests.conftest import tokens_for
from tests.matrix import Endpoint

pytestmark = pytest.mark.django_db

_counter = itertools.count()


def collect() -> list[Endpoint]:
    endpoints = []
    for module in pkgutil.iter_modules([str(Path(tests.__file__).parent)]):
        if module.ispkg:
            try:
                matrix = importlib.import_module(f"tests.{module.name}.matrix")
            except ModuleNotFoundError:
                continue
            endpoints.extend(matrix.ENDPOINTS)
    return endpoints


ENDPOINTS = collect()
GLOBAL_CASES = [
    (e, who) for e in ENDPOINTS if e.scope == "global" for who in ("anonymous", "stranger", "holder", "admin")
]


def call(api, endpoint: Endpoint, user, users: dict):
    users = {**users, "caller": user or users["stranger"]}
    ctx = {"n": next(_counter)}
    if endpoint.setup:
        ctx.update(endpoint.setup(users))
    body = endpoint.body(ctx) if callable(endpoint.body) else endpoint.body  # may use what setup returned
    if user is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['token']}")
    return api.generic(
        endpoint.method,
        endpoint.path.format(**ctx),
        data=json.dumps(body or {}),
        content_type="application/json",
    )


OBJECT_ROLES = ("anonymous", "stranger", "member_without", "member_with", "owner", "admin")
OBJECT_CASES = [(e, who) for e in ENDPOINTS if e.scope == "object" for who in OBJECT_ROLES]


def test_every_endpoint_is_declared_once():
    seen = [str(e) for e in ENDPOINTS]
    assert len(seen) == len(set(seen)), "duplicate matrix entries"
    assert len(ENDPOINTS) >= 10


@pytest.mark.parametrize(("endpoint", "who"), GLOBAL_CASES, ids=[f"{e} as {w}" for e, w in GLOBAL_CASES])
def test_global_permission_rule(api, make_user, endpoint: Endpoint, who: str):
    users = {
        "stranger": make_user(),
        "holder": make_user(permissions=[endpoint.permission] if endpoint.permission else []),
        "admin": make_user(role="Administrator"),
    }
    caller = None if who == "anonymous" else users[who]
    response = call(api, endpoint, caller, users)
    if who == "anonymous":
        expected = 401
    elif who == "stranger" and endpoint.permission is not None:
        expected = 403
    else:
        expected = endpoint.ok
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(("endpoint", "who"), OBJECT_CASES, ids=[f"{e} as {w}" for e, w in OBJECT_CASES])
def test_object_permission_rule(api, make_user, endpoint: Endpoint, who: str):
    """On an object: strangers get 404, members without the permission 403, owners and grantees success."""
    from accounts.permissions import SERVER_SCOPED

    users = {name: make_user() for name in ("owner", "stranger", "member_with", "member_without")}
    users["admin"] = make_user(role="Administrator")
    caller = None if who == "anonymous" else users[who]
    response = call(api, endpoint, caller, users)
    scoped = endpoint.permission is None or endpoint.permission in SERVER_SCOPED
    expected = {
        "anonymous": 401,
        "stranger": 404,
        "member_without": endpoint.ok if endpoint.permission is None else 403,
        "member_with": endpoint.ok if scoped else 403,
        "owner": endpoint.ok if scoped else 403,
        "admin": endpoint.ok,
    }[who]
    assert response.status_code == expected, response.content
