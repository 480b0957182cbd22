import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.permissions import CATALOGUE, can, effective_permissions, grants, is_known

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("granted", "asked", "expected"),
    [
        (["*"], "server.start", True),
        (["server.*"], "server.start", True),
        (["server.*"], "server.logs.read", True),
        (["server.*"], "file.read", False),
        (["admin.*"], "admin.write", True),
        (["server.start"], "server.start", True),
        (["server.start"], "server.stop", False),
        ([], "server.read", False),
    ],
)
def test_wildcards(granted, asked, expected):
    assert grants(granted, asked) is expected


@pytest.mark.parametrize(
    "name", ["server.start", "server.logs.read", "rate-limit.bypass", "*", "file.*", "admin.*"]
)
def test_known_permissions(name):
    assert is_known(name)


@pytest.mark.parametrize("name", ["server.explode", "nothing.*", "", "server", "*.*", "server.start "])
def test_unknown_permissions_are_refused(name):
    assert not is_known(name)


@given(st.sampled_from(CATALOGUE))
def test_star_grants_every_catalogue_entry(permission):
    assert grants(["*"], permission)


def test_roles_add_up(make_user, roles):
    user = make_user(role="Support", permissions=["server.create"])
    assert can(user, "admin.read")
    assert can(user, "server.create")
    assert not can(user, "admin.write")


def test_superusers_hold_everything(make_user):
    user = make_user(role=None, is_superuser=True)
    assert effective_permissions(user) == ["*"]


def test_inactive_users_hold_nothing(make_user):
    user = make_user(role="Administrator", is_active=False)
    assert not can(user, "admin.read")


class Owned:
    """Stands for a server: its owner holds every server-scoped permission, a member what they were given."""

    def __init__(self, owner, members=None):
        self.owner, self.members = owner, members or {}

    def object_permissions(self, user):
        if user == self.owner:
            return {"*"}
        return set(self.members.get(user, []))


def test_object_grants_apply_only_to_that_object(make_user):
    owner, member, stranger = make_user(), make_user(), make_user()
    thing = Owned(owner, {member: ["server.start"]})
    assert can(owner, "server.stop", thing)
    assert can(member, "server.start", thing)
    assert not can(member, "server.stop", thing)
    assert not can(stranger, "server.start", thing)
    assert not can(member, "server.start")  # nothing globally


def test_a_token_scope_narrows_global_and_object_grants(make_user):
    owner = make_user(role="Administrator")
    owner.token_scope = ["server.start"]
    thing = Owned(owner)
    assert can(owner, "server.start", thing)
    assert not can(owner, "server.stop", thing)
    assert not can(owner, "admin.read")
